"""Performance estimated without labels: confidence-based performance estimation (CBPE).

The method is NannyML's CBPE (NannyML documentation, "How it works: Confidence-based
Performance Estimation", https://nannyml.readthedocs.io/en/stable/how_it_works/performance_estimation.html;
NannyML 0.x, ``nannyml.performance_estimation.confidence_based``). If a model's probabilities
are calibrated, a row with probability ``p`` is a positive with probability ``p``; so each row
adds ``p`` to the expected true positives (when its issued label is 1) or to the expected false
negatives (when it is 0), and ``1 - p`` to the expected false positives or true negatives. The
expected confusion matrix gives accuracy and F1, and the expected true- and false-positive rates
over all thresholds give the ROC curve and its area. NannyML itself cannot be installed beside
this project's pins (its dependencies need older boto3/botocore than papermill's, and
``xgboost<3``), hence this module.

The confidence band is the spread of the *realized* value the same rows would have if their
labels were drawn from the calibrated probabilities (Monte Carlo, seeded): it says how far the
figure measured once the labels arrive may fall from the estimate by chance alone, for exactly
these rows. (NannyML's own band scales the metric's spread on reference chunks by the chunk
size; drawing labels for the rows at hand needs no reference chunks.)

Known limits, each checked in ``tests/test_estimation.py`` and ``benchmarks/bench_estimation.py``:

* covariate shift (the students change, the link from answers to risk does not) keeps a
  calibrated model calibrated, and the estimate holds;
* label shift or concept shift (more depression for the same answers) makes the probabilities
  wrong, and the estimate misses without any sign of it; only labels reveal it, which is why
  :func:`compare_with_realized` flags a gap as soon as they arrive;
* uncalibrated probabilities bias the estimate by as much as they are off (overconfident
  probabilities overstate accuracy): the training step calibrates the champion, and its
  notebook shows the reliability curve.
"""

from __future__ import annotations

from typing import Any

import numpy as np

METHOD = "CBPE (confidence-based performance estimation, NannyML)"
METRICS: tuple[str, ...] = ("roc_auc", "accuracy", "f1")
DEFAULT_LEVEL = 0.95
DEFAULT_DRAWS = 400
#: A realized value outside the band and at least this far from the estimate is flagged as an estimation gap.
DEFAULT_MIN_GAP = 0.02


def _checked(probability: Any, prediction: Any | None, threshold: float | None) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probability, dtype=float).ravel()
    if p.size == 0:
        raise ValueError("probability: no rows; an estimate needs at least one prediction")
    bad = np.flatnonzero(~np.isfinite(p) | (p < 0) | (p > 1))
    if bad.size:
        raise ValueError(f"probability: got {float(p[bad[0]])!r} at position {bad[0]}, expected a number from 0 to 1")
    if prediction is None:
        if threshold is None or not 0 <= float(threshold) <= 1:
            raise ValueError(f"threshold: got {threshold!r}, expected a number from 0 to 1 when no prediction is given")
        return p, (p >= float(threshold)).astype(int)
    labels = np.asarray(prediction, dtype=float).ravel()
    if labels.shape != p.shape:
        raise ValueError(f"prediction: got {labels.size} values for {p.size} probabilities, expected one per row")
    bad = np.flatnonzero(~np.isin(labels, (0, 1)))
    if bad.size:
        raise ValueError(f"prediction: got {float(labels[bad[0]])!r} at position {bad[0]}, expected 0 or 1")
    return p, labels.astype(int)


def expected_confusion(probability: Any, prediction: Any | None = None, *, threshold: float | None = None) -> dict[str, float]:
    """The expected counts of the confusion matrix under calibrated probabilities."""
    p, labels = _checked(probability, prediction, threshold)
    issued = labels == 1
    return {"tp": float(p[issued].sum()), "fp": float((1 - p[issued]).sum()),
            "fn": float(p[~issued].sum()), "tn": float((1 - p[~issued]).sum())}


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(denominator, dtype=float), where=denominator > 0)


def _expected_roc_auc(p: np.ndarray) -> float | None:
    """Area under the expected ROC curve: thresholds at each distinct probability, highest first."""
    positives, negatives = p.sum(), (1 - p).sum()
    if positives <= 0 or negatives <= 0:
        return None
    values, inverse = np.unique(-p, return_inverse=True)  # distinct probabilities, descending
    tp = np.concatenate([[0.0], np.cumsum(np.bincount(inverse, weights=p, minlength=values.size))]) / positives
    fp = np.concatenate([[0.0], np.cumsum(np.bincount(inverse, weights=1 - p, minlength=values.size))]) / negatives
    return float(np.trapezoid(tp, fp))


def _ranks(p: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing their average rank (as the Mann-Whitney statistic needs)."""
    order = np.argsort(p, kind="mergesort")
    sorted_p = p[order]
    starts = np.flatnonzero(np.r_[True, sorted_p[1:] != sorted_p[:-1]])
    ends = np.r_[starts[1:], sorted_p.size]
    average = (starts + ends + 1) / 2.0
    ranks = np.empty_like(p)
    ranks[order] = np.repeat(average, ends - starts)
    return ranks


def realized_draws(probability: Any, prediction: Any | None = None, *, threshold: float | None = None,
                   draws: int = DEFAULT_DRAWS, seed: int = 0) -> dict[str, np.ndarray]:
    """Each metric's realized value for ``draws`` sets of labels drawn from the probabilities."""
    p, labels = _checked(probability, prediction, threshold)
    rng = np.random.default_rng(seed)
    n = p.size
    issued = labels == 1
    ranks = _ranks(p)
    out: dict[str, list[np.ndarray]] = {name: [] for name in METRICS}
    chunk = max(1, 2_000_000 // n)  # bounded memory for large samples
    for start in range(0, draws, chunk):
        y = rng.random((min(chunk, draws - start), n)) < p  # a boolean matrix: draws x rows
        tp = (y & issued).sum(axis=1).astype(float)
        fp = (~y & issued).sum(axis=1).astype(float)
        fn = (y & ~issued).sum(axis=1).astype(float)
        out["accuracy"].append((tp + (n - issued.sum() - fn)) / n)
        out["f1"].append(_f1(tp, fp, fn))
        n1 = y.sum(axis=1).astype(float)
        n0 = n - n1
        with np.errstate(invalid="ignore", divide="ignore"):
            auc = (y.astype(float) @ ranks - n1 * (n1 + 1) / 2) / (n1 * n0)
        out["roc_auc"].append(np.where((n1 > 0) & (n0 > 0), auc, np.nan))
    return {name: np.concatenate(values) for name, values in out.items()}


def estimate_performance(probability: Any, prediction: Any | None = None, *, threshold: float | None = None,
                         level: float = DEFAULT_LEVEL, draws: int = DEFAULT_DRAWS, seed: int = 0) -> dict[str, Any]:
    """CBPE estimates of ROC-AUC, accuracy and F1 for rows without labels, each with a confidence band.

    ``probability`` are the model's calibrated P(positive); ``prediction`` the labels it issued
    (or give ``threshold`` and they are derived). Returns a JSON-ready dict: ``rows``, ``level``,
    ``expected_confusion`` and, per metric, ``estimate``, ``lower``, ``upper``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level: got {level!r}, expected a number between 0 and 1 (e.g. 0.95)")
    if int(draws) < 20:
        raise ValueError(f"draws: got {draws!r}, expected at least 20")
    p, labels = _checked(probability, prediction, threshold)
    confusion = expected_confusion(p, labels)
    tp, fp, fn, tn = (np.array([confusion[k]]) for k in ("tp", "fp", "fn", "tn"))
    point = {"roc_auc": _expected_roc_auc(p), "accuracy": float((confusion["tp"] + confusion["tn"]) / p.size),
             "f1": float(_f1(tp, fp, fn)[0])}
    spread = realized_draws(p, labels, draws=int(draws), seed=seed)
    tail = (1 - level) / 2
    metrics: dict[str, Any] = {}
    for name in METRICS:
        values = spread[name][np.isfinite(spread[name])]
        if point[name] is None or values.size == 0:
            metrics[name] = {"estimate": None, "lower": None, "upper": None}
            continue
        lower, upper = np.quantile(values, [tail, 1 - tail])
        metrics[name] = {"estimate": point[name], "lower": float(min(lower, point[name])),
                         "upper": float(max(upper, point[name]))}
    return {"method": METHOD, "rows": int(p.size), "level": float(level), "draws": int(draws), "seed": int(seed),
            "predicted_positive_rate": float(labels.mean()), "expected_positive_rate": float(p.mean()),
            "expected_confusion": confusion, "metrics": metrics}


def realized_performance(y_true: Any, probability: Any, prediction: Any | None = None, *,
                         threshold: float | None = None) -> dict[str, float | None]:
    """ROC-AUC, accuracy and F1 once the labels are known (the figures an estimate is judged against)."""
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    p, labels = _checked(probability, prediction, threshold)
    y = np.asarray(y_true, dtype=int).ravel()
    if y.shape != p.shape:
        raise ValueError(f"y_true: got {y.size} labels for {p.size} probabilities, expected one per row")
    return {"roc_auc": float(roc_auc_score(y, p)) if np.unique(y).size == 2 else None,
            "accuracy": float(accuracy_score(y, labels)), "f1": float(f1_score(y, labels, zero_division=0))}


def compare_with_realized(estimate: dict[str, Any], realized: dict[str, Any], *,
                          min_gap: float = DEFAULT_MIN_GAP) -> dict[str, Any]:
    """Estimate beside realized, per metric; flagged when realized falls outside the band and ``min_gap`` or more from the estimate.

    A flag says the probabilities no longer describe the students (label or concept shift, or a
    model that was never calibrated): estimates for newer rows cannot be trusted until the
    model is retrained.
    """
    rows: dict[str, Any] = {}
    for name in METRICS:
        band = (estimate.get("metrics") or {}).get(name) or {}
        value, guess = realized.get(name), band.get("estimate")
        if value is None or guess is None:
            rows[name] = {"estimate": guess, "realized": value, "gap": None, "outside_band": None, "flagged": False}
            continue
        outside = value < band["lower"] or value > band["upper"]
        rows[name] = {"estimate": guess, "lower": band["lower"], "upper": band["upper"], "realized": value,
                      "gap": float(value - guess), "outside_band": bool(outside),
                      "flagged": bool(outside and abs(value - guess) >= min_gap)}
    flagged = [name for name, row in rows.items() if row["flagged"]]
    message = ("Realized performance matches the estimate (within its band)." if not flagged else
               "Estimate missed: " + ", ".join(f"{n} realized {rows[n]['realized']:.3f} vs estimated "
                                               f"{rows[n]['estimate']:.3f}" for n in flagged)
               + "; the probabilities no longer describe these students (label or concept shift, or poor "
                 "calibration), so estimates for newer rows are not to be trusted.")
    return {"metrics": rows, "flagged": flagged, "min_gap": float(min_gap), "message": message}


# --- Verification on synthetic students, whose true probabilities are known ---------------------

#: The scenarios of the checks: keyword arguments of :func:`mindpulse.synthetic.generate`.
SCENARIOS: dict[str, dict[str, Any]] = {
    "no shift": {},
    "exam season": {"scenario": "exam_season"},
    # Fewer students depressed for the same answers (e.g. after a support programme): the
    # probabilities overstate the risk, and no feature shows it.
    "label shift": {"label_shift": -1.0},
}


def check_on_synthetic(model: Any, scenario: str, *, rows: int = 2_000, repetitions: int = 40, seed: int = 100,
                       level: float = DEFAULT_LEVEL, draws: int = DEFAULT_DRAWS) -> dict[str, Any]:
    """Estimate, then realize, each metric on ``repetitions`` seeded samples of ``rows`` synthetic students.

    ``model`` scores canonical rows (``predict_proba``) and has a ``threshold``. Returns, per
    metric, the mean and largest absolute error (estimate minus realized) and the band's
    coverage, and the share of repetitions flagged by :func:`compare_with_realized`.
    """
    from mindpulse import synthetic

    if scenario not in SCENARIOS:
        raise ValueError(f"scenario: got {scenario!r}, expected one of {', '.join(SCENARIOS)}")
    # One draw of all the rows, cut into samples: rows are independent, and one pass is faster.
    students = synthetic.generate(rows * repetitions, seed=seed, **SCENARIOS[scenario]).canonical()
    probability = model.predict_proba(students)
    outcome = students["depression"].astype(int).to_numpy()
    errors: dict[str, list[float]] = {name: [] for name in METRICS}
    covered = dict.fromkeys(METRICS, 0)
    flagged = 0
    for k in range(repetitions):
        part = slice(k * rows, (k + 1) * rows)
        estimate = estimate_performance(probability[part], threshold=model.threshold, level=level, draws=draws, seed=k)
        realized = realized_performance(outcome[part], probability[part], threshold=model.threshold)
        flagged += bool(compare_with_realized(estimate, realized)["flagged"])
        for name in METRICS:
            band = estimate["metrics"][name]
            errors[name].append(band["estimate"] - realized[name])
            covered[name] += band["lower"] <= realized[name] <= band["upper"]
    return {
        "scenario": scenario, "rows": rows, "repetitions": repetitions, "level": level,
        "metrics": {name: {"mean_error": float(np.mean(errors[name])),
                           "max_abs_error": float(np.max(np.abs(errors[name]))),
                           "coverage": covered[name] / repetitions} for name in METRICS},
        "flagged_share": flagged / repetitions,
    }
