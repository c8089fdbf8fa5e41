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
    """Reference and current rows, both with the champion's outputs, for the drift comparison.

    As in Evidently's own preset, prediction drift counts beside feature and target drift: the
    reference is scored by the current champion, and production rows that arrived labelled
    without a prediction are scored too. With no champion yet, features and target alone.
    """
    reference = _reference(settings)
    registry = _registry(settings)
    if registry.champion() is None or current.empty:
        return reference, current
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
    return reference, current


