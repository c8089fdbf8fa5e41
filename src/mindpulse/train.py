"""Training: three candidates compared by stratified k-fold ROC-AUC, the best one calibrated
when that lowers its Brier score, a decision threshold chosen on out-of-fold probabilities,
and the result put through the registry's promotion gate.

Candidates: logistic regression, a random forest and XGBoost (``hist``), each seeded and sized
so that training on the 27,901 reference rows takes about 30 s on 2 cores. Every candidate
sees the same folds and the same feature pipeline (:func:`mindpulse.features.build_preprocessor`).

Calibration: the best candidate's out-of-fold probabilities are cross-fitted with no
calibration, Platt scaling (sigmoid) and isotonic regression; the method with the lowest Brier
score is kept (no calibration unless another lowers the Brier score by at least
``CALIBRATION_MIN_GAIN`` without lowering ROC-AUC by more than ``CALIBRATION_MAX_AUC_LOSS``). The decision threshold maximises F1 on the calibrated out-of-fold
probabilities.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (accuracy_score, brier_score_loss, f1_score, precision_score, recall_score,
                             roc_auc_score)
from sklearn.model_selection import StratifiedKFold

from mindpulse import contract as c
from mindpulse.features import DEFAULT_MIN_FREQUENCY, CompiledFeatures, build_preprocessor, feature_frame

if TYPE_CHECKING:
    from mindpulse.registry import ModelRegistry

Progress = Callable[[str], None]

CANDIDATES: tuple[str, ...] = ("logistic_regression", "random_forest", "xgboost")
CALIBRATION_METHODS: tuple[str, ...] = ("none", "sigmoid", "isotonic")
CALIBRATION_MIN_GAIN = 5e-4
CALIBRATION_MAX_AUC_LOSS = 5e-4
THRESHOLD_METHOD = "max_f1_out_of_fold"
#: Share of a category's training rows below which it is left out of the factor background.
BACKGROUND_MIN_SHARE = 0.005
BACKGROUND_QUANTILES = tuple(np.round(np.arange(0.05, 1.0, 0.1), 2))


def make_estimator(name: str, seed: int, n_jobs: int = 2) -> Any:
    """An unfitted candidate, sized for ~30 s of training on 28k rows and 2 cores.

    ``n_jobs`` is the forest's thread count. XGBoost always uses one thread: its OpenMP
    threads spin while waiting, and on a busy 2-core machine two threads were 17 times
    slower than one (26 s against 1.5 s for the same fit).
    """
    if name == "logistic_regression":
        return LogisticRegression(C=0.1, solver="newton-cholesky", max_iter=500)
    if name == "random_forest":
        return RandomForestClassifier(n_estimators=120, max_depth=12, min_samples_leaf=10, max_features="sqrt",
                                      n_jobs=n_jobs, random_state=seed)
    if name == "xgboost":
        from xgboost import XGBClassifier

        return XGBClassifier(n_estimators=250, max_depth=3, learning_rate=0.08, subsample=0.8,
                             colsample_bytree=0.8, min_child_weight=5, reg_lambda=1.0, tree_method="hist",
                             n_jobs=1, random_state=seed, eval_metric="logloss", verbosity=0)
    raise ValueError(f"candidate: got {name!r}, expected one of {', '.join(CANDIDATES)}")


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


# --- Metrics ----------------------------------------------------------------------------------

def classification_metrics(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """ROC-AUC, Brier score, and accuracy/F1/precision/recall at ``threshold``."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    labels = (p >= threshold).astype(int)
    return {
        "roc_auc": float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan"),
        "accuracy": float(accuracy_score(y, labels)),
        "f1": float(f1_score(y, labels, zero_division=0)),
        "precision": float(precision_score(y, labels, zero_division=0)),
        "recall": float(recall_score(y, labels, zero_division=0)),
        "brier": float(brier_score_loss(y, p)),
        "rows": int(len(y)),
        "positive_rate": float(y.mean()) if len(y) else float("nan"),
    }


def evaluate(model: ScreeningModel, frame: pd.DataFrame) -> dict[str, float]:
    """The model's metrics on labelled canonical rows, at its own threshold."""
    y = labels_of(frame)
    return classification_metrics(y, model.predict_proba(frame), model.threshold)


def choose_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The threshold that maximises F1 on out-of-fold probabilities (grid of 0.01)."""
    grid = np.round(np.arange(0.05, 0.951, 0.01), 2)
    positive = np.asarray(y, dtype=int) == 1
    predicted = np.asarray(p, dtype=float)[None, :] >= grid[:, None]
    tp = (predicted & positive).sum(axis=1)
    f1 = 2 * tp / np.maximum(predicted.sum(axis=1) + positive.sum(), 1)
    return float(grid[int(np.argmax(f1))])


def labels_of(frame: pd.DataFrame) -> np.ndarray:
    """The 0/1 target of a canonical frame; a clear error when labels are missing."""
    if c.TARGET not in frame.columns:
        raise ValueError(f"training data: no {c.TARGET!r} column (the 'Depression' label is needed to train)")
    target = frame[c.TARGET]
    missing = int(target.isna().sum())
    if missing:
        raise ValueError(f"training data: {missing} row(s) without a {c.TARGET!r} label; expected 0 or 1 in every row")
    return target.astype(int).to_numpy()


# --- Training ---------------------------------------------------------------------------------

@dataclass
class CandidateResult:
    """Cross-validation of one candidate."""

    name: str
    parameters: dict[str, Any]
    metrics: dict[str, float]  # mean over folds
    metrics_std: dict[str, float]
    seconds: float
    oof_probability: np.ndarray = field(repr=False)


@dataclass
class TrainingResult:
    """The selected, calibrated model fitted on all rows, and how it was chosen."""

    model: ScreeningModel
    best: str
    candidates: dict[str, CandidateResult]
    calibration: dict[str, Any]
    threshold: float
    threshold_method: str
    cv_metrics: dict[str, float]  # the calibrated best candidate, out of fold, at the threshold
    oof_probability: np.ndarray = field(repr=False)
    rows: int = 0
    seed: int = 0
    folds: int = 5
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (for metadata.json and notebooks)."""
        return {
            "best": self.best,
            "candidates": {n: {"mean": r.metrics, "std": r.metrics_std, "seconds": round(r.seconds, 2),
                               "parameters": r.parameters} for n, r in self.candidates.items()},
            "calibration": self.calibration,
            "threshold": self.threshold,
            "threshold_method": self.threshold_method,
            "selected": self.cv_metrics,
            "rows": self.rows,
            "seed": self.seed,
            "folds": self.folds,
            "seconds": round(self.seconds, 2),
        }


def train_candidates(
    frame: pd.DataFrame,
    *,
    seed: int,
    folds: int = 5,
    progress: Progress | None = None,
    candidates: Sequence[str] = CANDIDATES,
    n_jobs: int = 2,
) -> TrainingResult:
    """Cross-validate the candidates, calibrate the best, choose its threshold, refit on all rows.

    BLAS runs on one thread here: OpenBLAS threads spin while they wait, and on a busy 2-core
    machine the logistic regression's cross-validation took 17 s with two threads, 2.7 s with one.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _train_candidates(frame, seed=seed, folds=folds, progress=progress, candidates=candidates, n_jobs=n_jobs)


def _train_candidates(frame: pd.DataFrame, *, seed: int, folds: int, progress: Progress | None,
                      candidates: Sequence[str], n_jobs: int) -> TrainingResult:
    say = progress or (lambda message: None)
    started = time.perf_counter()
    for name in candidates:
        make_estimator(name, seed)  # an unknown name fails before any work
    y = labels_of(frame)
    _check_trainable(y, folds)
    X = feature_frame(frame).reset_index(drop=True)
    say(f"Training on {len(X):,} rows ({y.mean():.1%} positive): {len(candidates)} candidate(s), "
        f"{folds}-fold stratified CV, seed {seed}")

    splits = list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(X, y))
    matrices = []
    for train_idx, test_idx in splits:
        pre = build_preprocessor()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # categories unseen in a fold are handled as infrequent
            matrices.append((pre.fit_transform(X.iloc[train_idx]), pre.transform(X.iloc[test_idx])))

    results: dict[str, CandidateResult] = {}
    for name in candidates:
        t0 = time.perf_counter()
        oof = np.zeros(len(y))
        per_fold = []
        for k, ((train_idx, test_idx), (z_train, z_test)) in enumerate(zip(splits, matrices), start=1):
            estimator = make_estimator(name, seed, n_jobs).fit(z_train, y[train_idx])
            oof[test_idx] = estimator.predict_proba(z_test)[:, 1]
            per_fold.append(classification_metrics(y[test_idx], oof[test_idx]))
        mean = {m: float(np.mean([f[m] for f in per_fold])) for m in per_fold[0]}
        std = {m: float(np.std([f[m] for f in per_fold])) for m in per_fold[0]}
        seconds = time.perf_counter() - t0
        results[name] = CandidateResult(name, _parameters(make_estimator(name, seed, n_jobs)), mean, std, seconds, oof)
        say(f"  {name:<20} ROC-AUC {mean['roc_auc']:.4f} ± {std['roc_auc']:.4f}  accuracy {mean['accuracy']:.3f}  "
            f"F1 {mean['f1']:.3f}  Brier {mean['brier']:.4f}  ({seconds:.1f} s)")

    best = max(results, key=lambda n: (results[n].metrics["roc_auc"], -CANDIDATES.index(n)))
    oof = results[best].oof_probability
    calibration, calibrated_oof = _choose_calibration(oof, y, splits)
    threshold = choose_threshold(y, calibrated_oof)
    cv_metrics = classification_metrics(y, calibrated_oof, threshold)
    say(f"Best: {best}; calibration {calibration['method']} (Brier {calibration['brier'][calibration['method']]:.4f}); "
        f"threshold {threshold:.2f} ({THRESHOLD_METHOD})")

    t0 = time.perf_counter()
    model = build_model(best, frame, y, seed=seed, calibration=calibration["method"], oof=oof,
                        threshold=threshold, n_jobs=n_jobs)
    say(f"Refitted {best} on all {len(X):,} rows ({time.perf_counter() - t0:.1f} s)")
    return TrainingResult(
        model=model, best=best, candidates=results, calibration=calibration, threshold=threshold,
        threshold_method=THRESHOLD_METHOD, cv_metrics=cv_metrics, oof_probability=calibrated_oof,
        rows=len(X), seed=seed, folds=folds, seconds=time.perf_counter() - started,
    )


def build_model(name: str, frame: pd.DataFrame, y: np.ndarray, *, seed: int, calibration: str,
                oof: np.ndarray, threshold: float, n_jobs: int = 2) -> ScreeningModel:
    """Fit the preprocessor and candidate ``name`` on all rows; the calibrator on ``oof``."""
    X = feature_frame(frame)
    preprocessor = build_preprocessor()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        matrix = np.asarray(preprocessor.fit_transform(X), dtype=np.float64)
    estimator = make_estimator(name, seed, n_jobs).fit(matrix, y)
    if name == "random_forest":
        estimator.set_params(n_jobs=1)  # thread start-up costs more than small predictions
    calibrator = make_calibrator(calibration)
    if calibrator is not None:
        calibrator.fit(oof, y)
    compiled = CompiledFeatures.from_fitted(preprocessor)
    served = compiled.transform(X)
    if served.shape != matrix.shape or not np.array_equal(served, matrix):
        raise RuntimeError("compiled features differ from the fitted preprocessor; refusing to build a skewed model")
    model = ScreeningModel(
        name=name, preprocessor=preprocessor, estimator=estimator, calibrator=calibrator,
        calibration=calibration, threshold=float(threshold), features=compiled,
        background=background_values(X), parameters=_parameters(estimator),
    )
    model._prepare_background()
    return model


def _choose_calibration(oof: np.ndarray, y: np.ndarray, splits) -> tuple[dict[str, Any], np.ndarray]:
    """Cross-fit each calibration method on the out-of-fold probabilities; keep the lowest Brier.

    A method is kept only if it lowers the Brier score by ``CALIBRATION_MIN_GAIN`` without
    costing more than ``CALIBRATION_MAX_AUC_LOSS`` of ROC-AUC (isotonic steps create ties,
    which on small data can cost ranking quality for a negligible Brier gain).
    """
    fitted: dict[str, np.ndarray] = {"none": oof}
    for method in CALIBRATION_METHODS[1:]:
        calibrated = np.zeros_like(oof)
        for train_idx, test_idx in splits:
            calibrated[test_idx] = make_calibrator(method).fit(oof[train_idx], y[train_idx]).predict(oof[test_idx])
        fitted[method] = calibrated
    brier = {m: float(brier_score_loss(y, p)) for m, p in fitted.items()}
    auc = {m: float(roc_auc_score(y, p)) for m, p in fitted.items()}
    eligible = [m for m in CALIBRATION_METHODS[1:]
                if brier["none"] - brier[m] >= CALIBRATION_MIN_GAIN and auc["none"] - auc[m] <= CALIBRATION_MAX_AUC_LOSS]
    best = min(eligible, key=brier.get) if eligible else "none"
    return {"method": best, "brier": brier, "roc_auc": auc, "min_gain": CALIBRATION_MIN_GAIN,
            "max_auc_loss": CALIBRATION_MAX_AUC_LOSS}, fitted[best]


def _check_trainable(y: np.ndarray, folds: int) -> None:
    if folds < 2:
        raise ValueError(f"folds: got {folds}, expected 2 or more")
    counts = {label: int((y == label).sum()) for label in (0, 1)}
    for label, count in counts.items():
        if count < max(folds, 2):
            raise ValueError(f"training data: {count} row(s) with {c.TARGET}={label}; "
                             f"expected at least {max(folds, 2)} of each class for {folds}-fold CV")


def _parameters(estimator: Any) -> dict[str, Any]:
    """The estimator's parameters that JSON can hold."""
    out = {}
    for key, value in sorted(estimator.get_params(deep=False).items()):
        if value is None or isinstance(value, (bool, int, str)) or (isinstance(value, float) and math.isfinite(value)):
            out[key] = value
    return out


# --- Training through the gate ----------------------------------------------------------------

@dataclass
class GateOutcome:
    """What :func:`train_and_gate` did: the new version, and whether it became champion."""

    version: str
    promoted: bool
    reason: str
    metrics: dict[str, Any]
    champion_before: str | None
    champion_after: str | None

    def describe(self) -> str:
        verdict = "promoted to champion" if self.promoted else "refused by the gate (kept as a version)"
        return f"{self.version}: {verdict}: {self.reason}"


def train_and_gate(
    frame: pd.DataFrame,
    registry: "ModelRegistry",
    *,
    seed: int,
    margin: float,
    data_source: str,
    progress: Progress | None = None,
    folds: int = 5,
    candidates: Sequence[str] = CANDIDATES,
) -> GateOutcome:
    """Train on ``frame`` minus the fixed holdout, register the model, and gate its promotion.

    The holdout is drawn from the first frame ever trained on (stratified, seeded) and scores
    every later challenger and champion. If anything raises before the model is registered,
    the registry (and its champion) is unchanged.
    """
    from mindpulse.data import frame_sha256

    say = progress or (lambda message: None)
    labels_of(frame)
    frame = frame.reset_index(drop=True)
    holdout = registry.ensure_holdout(frame, seed=seed)
    training = registry.exclude_holdout(frame)
    say(f"Fixed holdout: {len(holdout):,} rows; training on {len(training):,} of {len(frame):,} rows "
        f"({len(frame) - len(training):,} holdout row(s) excluded)")
    champion_before = registry.champion()
    result = train_candidates(training, seed=seed, folds=folds, progress=progress, candidates=candidates)
    holdout_metrics = evaluate(result.model, holdout)
    say(f"Holdout ROC-AUC {holdout_metrics['roc_auc']:.4f} ({len(holdout):,} rows)")
    metadata = {
        "data": {
            "sha256": frame_sha256(training),
            "rows": len(training),
            "rows_offered": len(frame),
            "holdout_rows_excluded": len(frame) - len(training),
            "positive_rate": float(labels_of(training).mean()),
            "source": data_source,
        },
        "model": {"name": result.best, "calibration": result.calibration["method"],
                  "threshold": result.threshold, "threshold_method": result.threshold_method},
        "parameters": {"estimator": result.model.parameters, "seed": seed, "folds": folds,
                       "min_frequency": DEFAULT_MIN_FREQUENCY},
        "cv": result.summary(),
        "holdout": holdout_metrics,
        "training_seconds": round(result.seconds, 2),
        "parent": champion_before.version if champion_before else None,
    }
    version = registry.register(result.model, metadata)
    say(f"Registered {version.version}")
    decision = registry.promote(version.version, margin=margin)
    say(("Promoted: " if decision.promoted else "Refused: ") + decision.reason)
    pruned = registry.prune()
    if pruned:
        say(f"Pruned {len(pruned)} old version(s): {', '.join(pruned)}")
    metrics = {
        "model": result.best,
        "rows": len(training),
        "threshold": result.threshold,
        "calibration": result.calibration["method"],
        **{f"cv_{k}": v for k, v in result.cv_metrics.items() if k not in ("rows", "positive_rate")},
        **{f"holdout_{k}": v for k, v in holdout_metrics.items()},
        "challenger_holdout_roc_auc": decision.challenger_auc,
        "champion_holdout_roc_auc": decision.champion_auc,
        "margin": decision.margin,
        "training_seconds": round(result.seconds, 2),
    }
    return GateOutcome(
        version=version.version, promoted=decision.promoted, reason=decision.reason, metrics=metrics,
        champion_before=decision.champion_before, champion_after=decision.champion_after,
    )
