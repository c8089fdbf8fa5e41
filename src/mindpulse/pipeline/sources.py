"""What the steps read: the store, the registry, the reference data, and the frames the drift steps compare."""

from __future__ import annotations

import pandas as pd

from mindpulse.settings import Settings


def _store(settings: Settings):  # noqa: ANN202 - the store class is imported lazily
    from mindpulse.store import Store

    return Store.from_settings(settings)  # migrated to the newest schema


def _registry(settings: Settings):  # noqa: ANN202
    from mindpulse.registry import ModelRegistry

    return ModelRegistry.from_settings(settings)


def _reference(settings: Settings) -> pd.DataFrame:
    from mindpulse.data import load_reference

    return load_reference(settings)


def champion_reference(settings: Settings) -> tuple[pd.DataFrame, dict]:
    """The drift and quality reference: the champion's training data, and a description for the report summary.

    The data the champion learned most recently: the trained rows of the newest production
    snapshots in its lineage, once they hold ``drift_min_rows`` rows; otherwise its whole
    training data (the reference plus any snapshots). After a lasting shift was retrained on,
    the shifted traffic is what the champion knows, and it no longer counts as drift. With no
    champion, or one without a lineage record (registered before lineage existed), the
    reference data. Monitoring samples it to ``monitoring_sample_cap`` rows when larger.
    """
    from mindpulse import lineage

    reference = _reference(settings)
    champion = _registry(settings).champion()
    record = champion.metadata.get("lineage") if champion is not None else None
    described = {"model_version": champion.version if champion is not None else None,
                 "sample_cap": settings.monitoring_sample_cap}
    if not record or not any(s.get("rows") for s in record.get("snapshots") or []):
        why = ("no champion yet" if champion is None else
               "the champion's training data" if record else "the champion has no lineage record")
        return reference, {**described, "source": f"reference data ({why})", "rows": len(reference), "snapshots": []}
    store = _store(settings)
    newest, ids = lineage.recent_training_rows(store, record, min_rows=settings.drift_min_rows)
    if len(newest):
        return newest, {**described, "source": "the champion's newest training rows (production snapshots)",
                        "rows": len(newest), "snapshots": ids}
    parts = [reference]
    for item in record.get("snapshots") or []:
        if item.get("rows"):
            parts.append(lineage.snapshot_part(store, store.get_snapshot(item["id"]), seed=int(record.get("seed") or 0)).trained)
    frame = pd.concat(parts, ignore_index=True)
    return frame, {**described, "source": "the champion's training data (reference + snapshots)", "rows": len(frame),
                   "snapshots": [i["id"] for i in record.get("snapshots") or [] if i.get("rows")]}


def _drift_frames(settings: Settings, current: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current rows, both with the champion's outputs, for the drift comparison."""
    reference, current, _ = _drift_inputs(settings, current)
    return reference, current


def _drift_inputs(settings: Settings, current: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Reference (:func:`champion_reference`) and current rows, both with the champion's outputs, and the reference's description.

    As in Evidently's own preset, prediction drift counts beside feature and target drift: the
    reference is scored by the current champion, and production rows that arrived labelled
    without a prediction are scored too. With no champion yet, features and target alone.
    """
    from mindpulse.contract import CANONICAL_COLUMNS

    reference, described = champion_reference(settings)
    reference = reference.reindex(columns=list(CANONICAL_COLUMNS)).reset_index(drop=True)
    registry = _registry(settings)
    if registry.champion() is None or current.empty:
        return reference, current, described
    from mindpulse.predict import Predictor

    predictor = Predictor.load(registry)
    reference = predictor.predict_frame(reference)[[*reference.columns, "prediction", "probability"]]
    current = current.copy()
    if {"prediction", "probability"} <= set(current.columns):
        missing = current["probability"].isna()
        if missing.any():
            scored = predictor.predict_frame(current.loc[missing])
            current.loc[missing, "probability"] = scored["probability"]
            current.loc[missing, "prediction"] = scored["prediction"]
    else:
        current = predictor.predict_frame(current)[[*current.columns, "prediction", "probability"]]
    return reference, current, described
