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


def _drift_frames(settings: Settings, current: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current rows, both with one model's outputs, for the drift comparison (see :func:`drift_frames`)."""
    reference, current, _ = drift_frames(settings, current)
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


def drift_frames(settings: Settings, current: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Reference and current rows, both with the same model's outputs, and which model that is.

    As in Evidently's own preset, prediction drift counts beside feature and target drift. The
    reference is scored by :func:`reference_model` (the model behind most current rows), and
    current rows that another model scored, or that arrived labelled without a prediction, are
    scored by it too, so prediction drift compares one model on two sets of data rather than
    two models. With no model yet, features and target alone.
    """
    reference = _reference(settings)
    registry = _registry(settings)
    version, reason = reference_model(registry, current)
    info = {"reference_model": version, "reference_model_reason": reason, "current_rows_rescored": 0}
    if version is None or current.empty:
        return reference, current, info
    from mindpulse.predict import Predictor

    predictor = Predictor.load(registry, version)
    reference = predictor.predict_frame(reference)[[*reference.columns, "prediction", "probability"]]
    current = current.copy()
    if {"prediction", "probability"} <= set(current.columns):
        other = current["probability"].isna()
        if "model_version" in current.columns:
            other |= current["model_version"].astype(object) != version
        if other.any():
            scored = predictor.predict_frame(current.loc[other])
            current.loc[other, "probability"] = scored["probability"].to_numpy()
            current.loc[other, "prediction"] = scored["prediction"].to_numpy()
        info["current_rows_rescored"] = int(other.sum())
    else:
        current = predictor.predict_frame(current)[[*current.columns, "prediction", "probability"]]
        info["current_rows_rescored"] = len(current)
    return reference, current, info
