"""The candidates: three models compared by stratified k-fold ROC-AUC, the best one calibrated
when that lowers its Brier score, a decision threshold chosen on out-of-fold probabilities, and
the best refitted on every row.

Candidates: logistic regression, a random forest and XGBoost (``hist``), each seeded and sized
so that training on the 27,901 reference rows takes about 30 s on 2 cores. Every candidate
sees the same folds and the same feature pipeline (:func:`mindpulse.features.build_preprocessor`).
The forest and the boosted trees fit on at most ``MAX_TRAINING_ROWS`` rows (a stratified,
seeded sample of each fold, and of the refit), so accumulated training data does not make a
retrain grow without bound; the cap and the rows used are recorded in the model's metadata.

Calibration: the best candidate's out-of-fold probabilities are cross-fitted with no
calibration, Platt scaling (sigmoid) and isotonic regression; the method with the lowest Brier
score is kept (no calibration unless another lowers the Brier score by at least
``CALIBRATION_MIN_GAIN`` without lowering ROC-AUC by more than ``CALIBRATION_MAX_AUC_LOSS``).
The decision threshold maximises F1 on the calibrated out-of-fold probabilities.

Thread counts are :class:`Threads` (settings ``TRAIN_N_JOBS``, ``TRAIN_XGBOOST_N_JOBS``,
``TRAIN_BLAS_THREADS``). Nothing here touches the registry: :mod:`mindpulse.train` does.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from mindpulse import contract as c
from mindpulse.evaluation import THRESHOLD_METHOD, choose_threshold, classification_metrics, labels_of
from mindpulse.features import CompiledFeatures, build_preprocessor, feature_frame
from mindpulse.figures import format_auc
from mindpulse.model import CALIBRATION_METHODS, ScreeningModel, background_values, make_calibrator

Progress = Callable[[str], None]

CANDIDATES: tuple[str, ...] = ("logistic_regression", "random_forest", "xgboost")
#: The most rows a candidate is fitted on (per CV fold and in the refit); the others are still
#: scored out of fold. The forest and the boosted trees cost time in proportion to their rows,
#: and past ~100k rows gain nothing measurable here (see README, "Performance at scale").
#: The logistic regression is cheap and fits on every row.
MAX_TRAINING_ROWS: dict[str, int | None] = {"logistic_regression": None, "random_forest": 100_000, "xgboost": 100_000}
CALIBRATION_MIN_GAIN = 5e-4
CALIBRATION_MAX_AUC_LOSS = 5e-4


@dataclass(frozen=True)
class Threads:
    """Thread counts of training; the defaults are the settings' defaults.

    ``forest``: the random forest's fits. ``xgboost``: XGBoost's fits (its OpenMP threads spin
    while waiting; on a busy 2-core machine two threads were 17 times slower than one, 26 s
    against 1.5 s for the same fit). ``blas``: BLAS during cross-validation (OpenBLAS threads
    spin too: the logistic regression's cross-validation took 17 s with two, 2.7 s with one).
    """

    forest: int = 2
    xgboost: int = 1
    blas: int = 1

    def __post_init__(self) -> None:
        for name in ("forest", "xgboost", "blas"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"threads.{name}: got {value!r}, expected a whole number of threads >= 1")

    @classmethod
    def from_settings(cls, settings: Any = None) -> "Threads":
        """The thread counts of ``settings`` (default: the environment's settings)."""
        if settings is None:
            from mindpulse.settings import get_settings

            settings = get_settings()
        return cls(forest=settings.train_n_jobs, xgboost=settings.train_xgboost_n_jobs,
                   blas=settings.train_blas_threads)


def make_estimator(name: str, seed: int, threads: Threads | None = None) -> Any:
    """An unfitted candidate, sized for ~30 s of training on 28k rows and 2 cores, with ``threads``
    (default :class:`Threads`' defaults)."""
    threads = threads or Threads()
    if name == "logistic_regression":
        return LogisticRegression(C=0.1, solver="newton-cholesky", max_iter=500)
    if name == "random_forest":
        return RandomForestClassifier(n_estimators=120, max_depth=12, min_samples_leaf=10, max_features="sqrt",
                                      n_jobs=threads.forest, random_state=seed)
    if name == "xgboost":
        from xgboost import XGBClassifier

        return XGBClassifier(n_estimators=250, max_depth=3, learning_rate=0.08, subsample=0.8,
                             colsample_bytree=0.8, min_child_weight=5, reg_lambda=1.0, tree_method="hist",
                             n_jobs=threads.xgboost, random_state=seed, eval_metric="logloss", verbosity=0)
    raise ValueError(f"candidate: got {name!r}, expected one of {', '.join(CANDIDATES)}")


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
    #: the row cap of this candidate's fits, whether it sampled, and the most rows a fold fit on
    training: dict[str, Any] = field(default_factory=dict)


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
    #: rows the selected model's estimator was refitted on (fewer than ``rows`` when capped)
    refit_rows: int = 0

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (for metadata.json and notebooks)."""
        return {
            "best": self.best,
            "candidates": {n: {"mean": r.metrics, "std": r.metrics_std, "seconds": round(r.seconds, 2),
                               "parameters": r.parameters, "training": r.training} for n, r in self.candidates.items()},
            "calibration": self.calibration,
            "threshold": self.threshold,
            "threshold_method": self.threshold_method,
            "selected": self.cv_metrics,
            "rows": self.rows,
            "seed": self.seed,
            "folds": self.folds,
            "refit_rows": self.refit_rows,
            "seconds": round(self.seconds, 2),
        }


def train_candidates(
    frame: pd.DataFrame,
    *,
    seed: int,
    folds: int = 5,
    progress: Progress | None = None,
    candidates: Sequence[str] = CANDIDATES,
    threads: Threads | None = None,
    max_rows: Mapping[str, int | None] | None = None,
) -> TrainingResult:
    """Cross-validate the candidates, calibrate the best, choose its threshold, refit on all rows.

    ``max_rows``: the most rows each candidate fits on (default ``MAX_TRAINING_ROWS``; a
    candidate left out, or None, fits on every row); out-of-fold scores cover every row.
    ``threads``: default the settings' (:meth:`Threads.from_settings`).
    """
    from threadpoolctl import threadpool_limits

    caps = dict(MAX_TRAINING_ROWS if max_rows is None else max_rows)
    for name, cap in caps.items():
        if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 100):
            raise ValueError(f"max_rows[{name!r}]: got {cap!r}, expected a whole number of rows >= 100, or None for no cap")
    threads = threads or Threads.from_settings()
    with threadpool_limits(limits=threads.blas, user_api="blas"):
        return _train_candidates(frame, seed=seed, folds=folds, progress=progress, candidates=candidates,
                                 threads=threads, max_rows=caps)


def capped_rows(y: np.ndarray, cap: int | None, *, seed: int) -> np.ndarray | None:
    """Positions of a stratified, seeded sample of ``cap`` rows of ``y``; None when no cap applies."""
    if cap is None or len(y) <= cap:
        return None
    from sklearn.model_selection import train_test_split

    positions = np.arange(len(y))
    stratify = y if min(int((y == 0).sum()), int((y == 1).sum())) >= 2 else None
    kept, _ = train_test_split(positions, train_size=cap, stratify=stratify, random_state=seed)
    return np.sort(kept)


def _train_candidates(frame: pd.DataFrame, *, seed: int, folds: int, progress: Progress | None,
                      candidates: Sequence[str], threads: Threads, max_rows: Mapping[str, int | None]) -> TrainingResult:
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
    caps = {name: max_rows.get(name) for name in candidates}
    oof = {name: np.zeros(len(y)) for name in candidates}
    per_fold: dict[str, list[dict[str, float]]] = {name: [] for name in candidates}
    seconds = {name: 0.0 for name in candidates}
    sampled = {name: 0 for name in candidates}
    was_sampled = {name: False for name in candidates}
    # Fold by fold: one fold's feature matrices live at a time (at 1M rows, all five folds'
    # dense matrices would take ~3.5 GB), and every candidate is fitted on it before the next.
    for k, (train_idx, test_idx) in enumerate(splits, start=1):
        pre = build_preprocessor()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # categories unseen in a fold are handled as infrequent
            z_train, z_test = pre.fit_transform(X.iloc[train_idx]), pre.transform(X.iloc[test_idx])
        for name in candidates:
            t0 = time.perf_counter()
            rows = capped_rows(y[train_idx], caps[name], seed=seed + k)
            fit_x, fit_y = (z_train, y[train_idx]) if rows is None else (z_train[rows], y[train_idx][rows])
            estimator = make_estimator(name, seed, threads).fit(fit_x, fit_y)
            oof[name][test_idx] = estimator.predict_proba(z_test)[:, 1]
            per_fold[name].append(classification_metrics(y[test_idx], oof[name][test_idx]))
            seconds[name] += time.perf_counter() - t0
            sampled[name] = max(sampled[name], len(fit_y))
            was_sampled[name] |= rows is not None
        del z_train, z_test

    results: dict[str, CandidateResult] = {}
    for name in candidates:
        mean = {m: float(np.mean([f[m] for f in per_fold[name]])) for m in per_fold[name][0]}
        std = {m: float(np.std([f[m] for f in per_fold[name]])) for m in per_fold[name][0]}
        training = {"max_rows": caps[name], "sampled": was_sampled[name], "fold_rows": sampled[name]}
        results[name] = CandidateResult(name, _parameters(make_estimator(name, seed, threads)), mean, std, seconds[name],
                                        oof[name], training)
        note = f", fitted on {sampled[name]:,} sampled rows a fold" if training["sampled"] else ""
        say(f"  {name:<20} fold-mean ROC-AUC {format_auc(mean['roc_auc'])} ± {std['roc_auc']:.4f}  accuracy {mean['accuracy']:.3f}  "
            f"F1 {mean['f1']:.3f}  Brier {mean['brier']:.4f}  ({seconds[name]:.1f} s{note})")

    best = max(results, key=lambda n: (results[n].metrics["roc_auc"], -CANDIDATES.index(n)))
    oof = results[best].oof_probability
    calibration, calibrated_oof = choose_calibration(oof, y, splits)
    threshold = choose_threshold(y, calibrated_oof)
    cv_metrics = classification_metrics(y, calibrated_oof, threshold)
    say(f"Best: {best}; calibration {calibration['method']} (Brier {calibration['brier'][calibration['method']]:.4f}); "
        f"threshold {threshold:.2f} ({THRESHOLD_METHOD}); CV ROC-AUC {format_auc(cv_metrics['roc_auc'])} "
        "(the selected model, calibrated, out of fold: the CV AUC that 'mindpulse models' lists)")

    t0 = time.perf_counter()
    model = build_model(best, frame, y, seed=seed, calibration=calibration["method"], oof=oof,
                        threshold=threshold, threads=threads, max_rows=max_rows.get(best))
    cap = max_rows.get(best)
    refit_rows = len(X) if cap is None or len(X) <= cap else cap
    say(f"Refitted {best} on {'all ' if refit_rows == len(X) else ''}{refit_rows:,} of {len(X):,} rows "
        f"({time.perf_counter() - t0:.1f} s)")
    return TrainingResult(
        model=model, best=best, candidates=results, calibration=calibration, threshold=threshold,
        threshold_method=THRESHOLD_METHOD, cv_metrics=cv_metrics, oof_probability=calibrated_oof,
        rows=len(X), seed=seed, folds=folds, seconds=time.perf_counter() - started, refit_rows=refit_rows,
    )


def build_model(name: str, frame: pd.DataFrame, y: np.ndarray, *, seed: int, calibration: str,
                oof: np.ndarray, threshold: float, threads: Threads | None = None,
                max_rows: int | None = None) -> ScreeningModel:
    """Fit the preprocessor on all rows, candidate ``name`` on all rows or a stratified sample of
    ``max_rows``; the calibrator on ``oof``."""
    X = feature_frame(frame)
    preprocessor = build_preprocessor()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        matrix = np.asarray(preprocessor.fit_transform(X), dtype=np.float64)
    rows = capped_rows(y, max_rows, seed=seed)
    estimator = make_estimator(name, seed, threads)
    estimator.fit(*((matrix, y) if rows is None else (matrix[rows], y[rows])))
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


def choose_calibration(oof: np.ndarray, y: np.ndarray, splits) -> tuple[dict[str, Any], np.ndarray]:
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
