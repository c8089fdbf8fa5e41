"""The trained model: pipeline, estimator, calibration and threshold, with the factor explanations.

Pickles written before this module existed name ``mindpulse.train.ScreeningModel`` and
``mindpulse.train.PlattCalibrator``; :mod:`mindpulse.train` re-exports both, so they still load.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from mindpulse import contract as c
from mindpulse.features import CompiledFeatures, feature_frame

CALIBRATION_METHODS: tuple[str, ...] = ("none", "sigmoid", "isotonic")
#: Share of a category's training rows below which it is left out of the factor background.
BACKGROUND_MIN_SHARE = 0.005
BACKGROUND_QUANTILES = tuple(np.round(np.arange(0.05, 1.0, 0.1), 2))


# --- Calibration ------------------------------------------------------------------------------

class PlattCalibrator:
    """Sigmoid calibration: a logistic regression on the logit of the model's probability."""

    def fit(self, p: np.ndarray, y: np.ndarray) -> "PlattCalibrator":
        self._lr = LogisticRegression(C=1e6, solver="lbfgs").fit(_logit(p)[:, None], y)
        return self

    def predict(self, p: np.ndarray) -> np.ndarray:
        return self._lr.predict_proba(_logit(p)[:, None])[:, 1]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def make_calibrator(method: str) -> PlattCalibrator | IsotonicRegression | None:
    if method == "none":
        return None
    if method == "sigmoid":
        return PlattCalibrator()
    if method == "isotonic":
        return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    raise ValueError(f"calibration: got {method!r}, expected one of {', '.join(CALIBRATION_METHODS)}")


# --- The trained model ------------------------------------------------------------------------

@dataclass
class ScreeningModel:
    """Everything needed to score canonical rows: pipeline, estimator, calibration, threshold.

    ``preprocessor`` is the fitted ColumnTransformer of training; ``features`` is the same
    transform compiled for serving (identical output, checked in :func:`build_model`).
    ``background`` holds, per feature, typical training values and their weights: a factor's
    contribution is the change of probability between the row's own value and those values.
    """

    name: str
    preprocessor: Any
    estimator: Any
    calibrator: Any
    calibration: str
    threshold: float
    features: CompiledFeatures
    background: dict[str, tuple[list[Any], np.ndarray]]
    parameters: dict[str, Any] = field(default_factory=dict)
    _background_rows: np.ndarray | None = field(default=None, repr=False)
    _background_mask: np.ndarray | None = field(default=None, repr=False)
    _background_slices: dict[str, slice] = field(default_factory=dict, repr=False)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """P(depression) of each canonical row."""
        return self.proba_from_matrix(self.features.transform(frame))

    def predict_proba_training_path(self, frame: pd.DataFrame) -> np.ndarray:
        """The same probabilities through sklearn's own preprocessor and estimator (for skew checks)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unseen categories are expected and handled
            matrix = self.preprocessor.transform(feature_frame(frame))
        return self._calibrated(self.estimator.predict_proba(np.asarray(matrix, dtype=np.float64))[:, 1])

    def proba_from_matrix(self, matrix: np.ndarray) -> np.ndarray:
        if isinstance(self.estimator, RandomForestClassifier):
            return self._calibrated(_forest_positive_proba(self.estimator, matrix))
        return self._calibrated(self.estimator.predict_proba(matrix)[:, 1])

    def _calibrated(self, p: np.ndarray) -> np.ndarray:
        if self.calibrator is not None:
            p = self.calibrator.predict(p)
        return np.asarray(p, dtype=np.float64)

    def contributions(self, matrix: np.ndarray, chunk: int = 500) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and, per feature, the change of log-odds against typical values.

        Returns ``(p, contrib)`` with ``contrib[i, j] = logit(p[i]) - sum_k w_jk *
        logit(p(row i with feature j set to background value k))``: positive values raise the
        estimated risk. Log-odds rather than probability, because near 0 or 1 a probability
        hardly moves and every factor would look negligible; for a logistic model this is
        exactly coefficient x (value - typical value).
        """
        self._prepare_background()
        rows, mask = self._background_rows, self._background_mask
        n = len(matrix)
        p = self.proba_from_matrix(matrix)
        own = _logit(p)
        contrib = np.zeros((n, len(c.FEATURES)))
        for start in range(0, n, chunk):
            part = matrix[start:start + chunk]
            varied = np.where(mask[None, :, :], rows[None, :, :], part[:, None, :])
            q = _logit(self.proba_from_matrix(varied.reshape(-1, matrix.shape[1]))).reshape(len(part), len(rows))
            for j, name in enumerate(c.FEATURES):
                sl = self._background_slices[name]
                contrib[start:start + len(part), j] = own[start:start + len(part)] - q[:, sl] @ self.background[name][1]
        return p, contrib

    def _prepare_background(self) -> None:
        """Transform the background values once (at build and load time, see ``__setstate__``)."""
        if self._background_rows is not None:
            return
        blocks = self.features.blocks
        baseline = {name: values[int(np.argmax(weights))] for name, (values, weights) in self.background.items()}
        row_list, mask_list, slices, start = [], [], {}, 0
        for name in c.FEATURES:
            values, _ = self.background[name]
            columns = {f: np.array([baseline[f]] * len(values), dtype=object) for f in c.FEATURES}
            columns[name] = np.array(values, dtype=object)
            matrix = self.features.transform(columns)
            mask = np.zeros_like(matrix, dtype=bool)
            mask[:, blocks[name]] = True
            row_list.append(matrix)
            mask_list.append(mask)
            slices[name] = slice(start, start + len(values))
            start += len(values)
        # _background_rows is the "ready" flag, so it is set last (threads of a web server may
        # read the model while another one prepares it).
        self._background_slices = slices
        self._background_mask = np.vstack(mask_list)
        self._background_rows = np.vstack(row_list)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_background_rows"] = state["_background_mask"] = None  # derived: rebuilt on load
        state["_background_slices"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._prepare_background()


def _forest_positive_proba(forest: RandomForestClassifier, matrix: np.ndarray) -> np.ndarray:
    """The forest's P(class 1), as sklearn computes it (same sum, same order), without its
    per-tree validation and thread dispatch: 4 ms instead of 22 ms for a 135-row explanation."""
    rows = np.ascontiguousarray(matrix, dtype=np.float32)
    total = np.zeros((len(rows), forest.n_classes_))
    for tree in forest.estimators_:
        total += tree.tree_.predict(rows)[:, : forest.n_classes_]
    total /= len(forest.estimators_)
    return total[:, 1]


def background_values(frame: pd.DataFrame) -> dict[str, tuple[list[Any], np.ndarray]]:
    """Typical values per feature: frequent categories with their shares, numeric deciles."""
    out: dict[str, tuple[list[Any], np.ndarray]] = {}
    for name in c.FEATURES:
        column = frame[name]
        if name in c.NUMERIC_FEATURES:
            values = column.dropna().astype(float)
            points = np.quantile(values, BACKGROUND_QUANTILES, method="nearest") if len(values) else np.zeros(1)
            out[name] = ([float(v) for v in points], np.full(len(points), 1.0 / len(points)))
        else:
            shares = column.dropna().astype(str).value_counts(normalize=True)
            shares = shares[shares >= BACKGROUND_MIN_SHARE] if (shares >= BACKGROUND_MIN_SHARE).any() else shares
            out[name] = (list(shares.index), (shares / shares.sum()).to_numpy(dtype=float))
    return out
