"""Performance estimated without labels (CBPE): the method's arithmetic, and its claims on synthetic students.

The claims (issue #14): with no shift and with exam season (covariate shift), at 2,000 rows the
estimated ROC-AUC and accuracy are within 0.02 of the realized values and the band covers them
in at least 90 % of seeded repetitions; under label shift the estimate misses and the comparison
flags it. ``benchmarks/bench_estimation.py`` prints the same figures.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from mindpulse.monitoring import estimation as est

REPETITIONS = 40  # 40 samples of 2,000 rows per scenario: ~6 s each


@pytest.fixture(scope="module")
def champion():
    """A calibrated logistic regression trained on 20,000 synthetic students (close to the real champion's 27,901)."""
    from mindpulse import synthetic, train

    students = synthetic.generate(20_000, seed=1).canonical()
    return train.train_candidates(students, seed=1, candidates=["logistic_regression"]).model


def test_certain_probabilities_estimate_exactly_what_is_realized():
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.4).astype(int)
    p = y.astype(float)  # calibrated and certain: the labels are known in advance
    issued = np.where(rng.random(300) < 0.8, y, 1 - y)  # labels issued by some other rule
    estimate = est.estimate_performance(p, issued)
    assert estimate["metrics"]["accuracy"]["estimate"] == pytest.approx(accuracy_score(y, issued))
    assert estimate["metrics"]["f1"]["estimate"] == pytest.approx(f1_score(y, issued))
    assert estimate["metrics"]["roc_auc"]["estimate"] == pytest.approx(roc_auc_score(y, p))
    assert estimate["metrics"]["accuracy"]["lower"] == estimate["metrics"]["accuracy"]["upper"]


def test_expected_confusion_and_band_of_known_probabilities():
    p = np.array([0.9, 0.8, 0.3, 0.1])
    confusion = est.expected_confusion(p, threshold=0.5)
    assert confusion == pytest.approx({"tp": 1.7, "fp": 0.3, "fn": 0.4, "tn": 1.6})
    estimate = est.estimate_performance(p, [1, 1, 0, 0], level=0.9, seed=3)
    assert estimate["metrics"]["accuracy"]["estimate"] == pytest.approx(3.3 / 4)
    for band in estimate["metrics"].values():
        assert band["lower"] <= band["estimate"] <= band["upper"]


def test_realized_draws_rank_auc_matches_scikit_learn_with_ties():
    rng = np.random.default_rng(5)
    p = np.round(rng.random(500), 1)  # many ties
    draws = est.realized_draws(p, threshold=0.5, draws=25, seed=9)
    labels = np.random.default_rng(9).random((25, 500)) < p
    expected = [roc_auc_score(y, p) for y in labels]
    assert draws["roc_auc"] == pytest.approx(expected)


@pytest.mark.parametrize("kwargs, message", [
    ({"probability": [0.2, 1.5], "threshold": 0.5}, "probability: got 1.5 at position 1"),
    ({"probability": [0.2, 0.5]}, "threshold: got None"),
    ({"probability": [0.2, 0.5], "prediction": [0, 2]}, "prediction: got 2.0 at position 1"),
    ({"probability": [], "threshold": 0.5}, "probability: no rows"),
])
def test_bad_input_names_the_field_and_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        est.estimate_performance(**kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["no shift", "exam season"])
def test_estimate_holds_without_label_shift(champion, scenario):
    check = est.check_on_synthetic(champion, scenario, rows=2_000, repetitions=REPETITIONS)
    for name in ("roc_auc", "accuracy"):
        figures = check["metrics"][name]
        assert figures["max_abs_error"] <= 0.02, (name, figures)
        assert figures["coverage"] >= 0.9, (name, figures)
    assert check["flagged_share"] <= 0.05


@pytest.mark.slow
def test_label_shift_misses_and_the_comparison_flags_it(champion):
    check = est.check_on_synthetic(champion, "label shift", rows=2_000, repetitions=REPETITIONS)
    assert check["metrics"]["accuracy"]["mean_error"] > 0.02  # fewer positives than the probabilities say
    assert check["metrics"]["accuracy"]["coverage"] < 0.5
    assert check["flagged_share"] >= 0.9


def test_uncalibrated_probabilities_bias_the_estimate_and_are_flagged():
    from mindpulse import synthetic

    students = synthetic.generate(2_000, seed=4)
    y = students.raw["Depression"].astype(int).to_numpy()
    overconfident = np.where(students.proba >= 0.5, 1 - (1 - students.proba) ** 3, students.proba ** 3)
    estimate = est.estimate_performance(overconfident, threshold=0.5)
    realized = est.realized_performance(y, overconfident, threshold=0.5)
    assert estimate["metrics"]["accuracy"]["estimate"] - realized["accuracy"] > 0.05
    comparison = est.compare_with_realized(estimate, realized)
    assert "accuracy" in comparison["flagged"]
    assert comparison["message"].startswith("Estimate missed: ")
    calibrated = est.estimate_performance(students.proba, threshold=0.5)
    assert not est.compare_with_realized(calibrated, est.realized_performance(y, students.proba, threshold=0.5))["flagged"]


def test_reporting_step_flags_the_gap_once_labels_arrive_under_label_shift(tmp_path):
    """The performance step's check: rows scored before a label shift, whose labels then arrive."""
    import pandas as pd

    from mindpulse import pipeline, synthetic
    from mindpulse.pipeline import estimation as step
    from mindpulse.settings import Settings

    run = pipeline.open_run(pipeline.REPORTING_DAG_ID, "manual__2026-11-29T20:00:00+00:00",
                            settings=Settings(home=tmp_path))
    shifted = synthetic.generate(2_000, seed=8, label_shift=-1.0)
    believed = synthetic.true_probability(shifted.canonical())  # calibrated before the shift
    labelled = pd.DataFrame({"depression": shifted.raw["Depression"].astype(int), "probability": believed,
                             "prediction": (believed >= 0.5).astype(int)})
    estimated = step.estimate_for_run(run, labelled)
    assert estimated["unlabelled_rows"] == 0 and estimated["unlabelled"] is None
    assert "accuracy" in estimated["check"]["flagged"]
    headline = step.headline(estimated)
    assert headline["flagged"] and step.sentence({**headline, "rows": 1}).count("Estimate missed") == 1

    steady = synthetic.generate(2_000, seed=8)
    believed = steady.proba
    labelled = pd.DataFrame({"depression": steady.raw["Depression"].astype(int), "probability": believed,
                             "prediction": (believed >= 0.5).astype(int)})
    assert step.estimate_for_run(run, labelled)["check"]["flagged"] == []
