"""What the steps read: the store, the registry, the reference data, and the frames the drift steps compare."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

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


def _frozen(run_dir: Path | None, name: str, make: Callable[[], tuple[pd.DataFrame, dict]],
            valid: Callable[[dict], bool] = lambda described: True) -> tuple[pd.DataFrame, dict]:
    """``make()``, kept in ``run_dir`` as ``<name>.parquet`` and ``<name>.json`` on first use and read
    back afterwards, so the steps of one run (each in its own kernel) compare with the same rows
    and compute them once. Without a run folder, ``make()``."""
    if run_dir is None:
        return make()
    data, about = Path(run_dir) / f"{name}.parquet", Path(run_dir) / f"{name}.json"
    if data.is_file() and about.is_file():
        described = json.loads(about.read_text(encoding="utf-8"))
        if valid(described):
            return pd.read_parquet(data), described
    frame, described = make()
    from mindpulse.io import atomic_path, atomic_write_json

    Path(run_dir).mkdir(parents=True, exist_ok=True)
    with atomic_path(data) as tmp:
        frame.to_parquet(tmp, index=False)
    atomic_write_json(about, described)  # written last: the pair is complete once it exists
    return frame, described


def champion_reference(settings: Settings, run_dir: Path | None = None) -> tuple[pd.DataFrame, dict]:
    """The drift and quality reference: the champion's training data, and a description for the report summary.

    With ``run_dir``, the reference is frozen in that run folder on first use (``reference_data``),
    so every report of the run compares with the same rows, read once.

    The data the champion learned most recently: the trained rows of the newest production
    snapshots in its lineage, once they hold ``drift_min_rows`` rows; otherwise its whole
    training data (the reference plus any snapshots). After a lasting shift was retrained on,
    the shifted traffic is what the champion knows, and it no longer counts as drift. With no
    champion, or one without a lineage record (registered before lineage existed), the
    reference data. Monitoring samples it to ``monitoring_sample_cap`` rows when larger.
    """
    return _frozen(run_dir, "reference_data", lambda: _champion_reference(settings))


def _champion_reference(settings: Settings) -> tuple[pd.DataFrame, dict]:
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


def _drift_frames(settings: Settings, current: pd.DataFrame, run_dir: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current rows, both with one model's outputs, for the drift comparison (see :func:`_drift_inputs`)."""
    reference, current, _ = _drift_inputs(settings, current, run_dir)
    return reference, current


def reference_model(registry, current: pd.DataFrame) -> tuple[str | None, str]:  # noqa: ANN001 - ModelRegistry
    """The model that scores the reference for the drift comparison, and why.

    Like with like: the registered version that produced most of the current rows'
    predictions; the champion when no current row names a version still registered.
    """
    from mindpulse.monitoring.performance import NO_VERSION, version_counts

    counts = {v: n for v, n in version_counts(current).items() if v != NO_VERSION}
    registered = {v.version for v in registry.versions()}
    total = sum(counts.values())
    for version, rows in counts.items():
        if version in registered:
            return version, f"produced {rows} of the {total} current rows' predictions"
    champion = registry.champion()
    if champion is None:
        return None, "no model registered"
    why = "no current row names a model still registered" if counts else "no current row has a prediction"
    return champion.version, f"the champion ({why})"


#: What :func:`_drift_inputs` adds to the reference's description: whose outputs were compared.
SCORING_KEYS = ("reference_model", "reference_model_reason", "current_rows_rescored")


def _drift_inputs(settings: Settings, current: pd.DataFrame, run_dir: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Reference (:func:`champion_reference`) and current rows, both with the same model's outputs, and a description.

    As in Evidently's own preset, prediction drift counts beside feature and target drift. The
    reference is scored by :func:`reference_model` (the model behind most current rows), and
    current rows that another model scored, or that arrived labelled without a prediction, are
    scored by it too, so prediction drift compares one model on two sets of data rather than
    two models. The description names that model (``SCORING_KEYS``). With no model yet,
    features and target alone. With ``run_dir``, the reference and its scores are frozen there
    on first use (see :func:`champion_reference`).
    """
    from mindpulse.contract import CANONICAL_COLUMNS

    reference, described = champion_reference(settings, run_dir)
    reference = reference.reindex(columns=list(CANONICAL_COLUMNS)).reset_index(drop=True)
    registry = _registry(settings)
    version, reason = reference_model(registry, current)
    described = {**described, "reference_model": version, "reference_model_reason": reason, "current_rows_rescored": 0}
    if version is None or current.empty:
        return reference, current, described
    from mindpulse.predict import Predictor

    predictor = Predictor.load(registry, version)

    def scored() -> tuple[pd.DataFrame, dict]:
        return predictor.predict_frame(reference)[[*reference.columns, "prediction", "probability"]], {"model_version": version}

    reference, _ = _frozen(run_dir, "reference_scored", scored, valid=lambda about: about.get("model_version") == version)
    current = current.copy()
    if {"prediction", "probability"} <= set(current.columns):
        other = current["probability"].isna()
        if "model_version" in current.columns:
            other |= current["model_version"].astype(object) != version
        if other.any():
            scored = predictor.predict_frame(current.loc[other])
            current.loc[other, "probability"] = scored["probability"].to_numpy()
            current.loc[other, "prediction"] = scored["prediction"].to_numpy()
        described["current_rows_rescored"] = int(other.sum())
    else:
        current = predictor.predict_frame(current)[[*current.columns, "prediction", "probability"]]
        described["current_rows_rescored"] = len(current)
    return reference, current, described
