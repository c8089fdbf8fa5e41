"""Error and coverage of the label-free performance estimate (CBPE) per scenario, on synthetic students.

    .venv/bin/python benchmarks/bench_estimation.py [--rows 2000] [--repetitions 100] [--train-rows 20000]

A calibrated champion (logistic regression; add ``--candidates xgboost`` for another family)
is trained on synthetic reference students. For each scenario, ``repetitions`` seeded samples
of ``rows`` new students are scored; the estimate (from the probabilities alone) is compared
with the figure realized from the labels the generator drew. Printed per scenario and metric:
the mean error (estimate minus realized), the largest absolute error, the share of samples
whose realized value lies in the 95 % band, the share flagged as an estimation gap, and the
time an estimate takes. The claim checked in tests/test_estimation.py: with no shift and in
exam season, |error| <= 0.02 and coverage >= 90 % for ROC-AUC and accuracy; under label shift,
the estimate misses and the gap is flagged.

Then the unlabelled cohorts a reporting run estimates: cohorts served and logged without any
outcome, whose outcomes arrive later. Besides the scenarios above, the school cohort of
``mindpulse.synthetic.school_shift`` (Academic Pressure +2, half of Sleep Duration moved to "Less
than 5 hours", Financial Stress +1; outcomes drawn from the changed answers) and a 50/50 mix of
that cohort with unshifted students (what a monitoring window holds the weeks a change starts).
Printed per cohort: the estimate's error against the realized figure once the outcomes arrive.
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000)
    parser.add_argument("--repetitions", type=int, default=100)
    parser.add_argument("--train-rows", type=int, default=20_000)
    parser.add_argument("--candidates", nargs="+", default=["logistic_regression"])
    args = parser.parse_args()

    from mindpulse import synthetic, train
    from mindpulse.monitoring import estimation as est

    started = time.perf_counter()
    students = synthetic.generate(args.train_rows, seed=1).canonical()
    result = train.train_candidates(students, seed=1, candidates=args.candidates)
    model = result.model
    print(f"Champion: {model.name}, calibration {model.calibration}, threshold {model.threshold:.2f}, "
          f"trained on {args.train_rows:,} synthetic rows in {time.perf_counter() - started:.1f} s "
          f"(load average {os.getloadavg()[0]:.1f})")
    print(f"{args.repetitions} samples of {args.rows:,} rows per scenario; band level 95 %, "
          f"{est.DEFAULT_DRAWS} label draws per estimate\n")
    print(f"{'scenario':<12} {'metric':<9} {'mean error':>10} {'max |error|':>11} {'coverage':>9} {'flagged':>8}")
    for scenario in est.SCENARIOS:
        check = est.check_on_synthetic(model, scenario, rows=args.rows, repetitions=args.repetitions)
        for name, figures in check["metrics"].items():
            print(f"{scenario:<12} {name:<9} {figures['mean_error']:>+10.4f} {figures['max_abs_error']:>11.4f} "
                  f"{figures['coverage']:>9.0%} {check['flagged_share']:>8.0%}")

    print(f"\nUnlabelled cohorts: {args.repetitions} cohorts of {args.rows:,} predictions each, estimated before "
          "their outcomes, compared with the outcomes once they arrive")
    print(f"{'cohort':<24} {'metric':<9} {'mean error':>10} {'max |error|':>11} {'coverage':>9} {'flagged':>8}")
    for name, make in _cohorts(args.rows * args.repetitions).items():
        check = _check_cohort(model, make(), rows=args.rows, repetitions=args.repetitions)
        for metric, figures in check["metrics"].items():
            print(f"{name:<24} {metric:<9} {figures['mean_error']:>+10.4f} {figures['max_abs_error']:>11.4f} "
                  f"{figures['coverage']:>9.0%} {check['flagged_share']:>8.0%}")

    probability = model.predict_proba(synthetic.generate(args.rows, seed=5).canonical())
    start = time.perf_counter()
    for k in range(10):
        est.estimate_performance(probability, threshold=model.threshold, seed=k)
    print(f"\nOne estimate of {args.rows:,} rows (with its band): {(time.perf_counter() - start) / 10 * 1000:.0f} ms")


def _cohorts(rows: int) -> dict:
    """Unlabelled cohorts by name: a function making ``rows`` canonical rows with their (later) outcomes."""
    import pandas as pd

    from mindpulse import synthetic

    def school() -> pd.DataFrame:
        return synthetic.school_shift(synthetic.generate(rows, seed=300).canonical(), seed=300)

    def mixed() -> pd.DataFrame:
        shifted = synthetic.school_shift(synthetic.generate(rows // 2, seed=301).canonical(), seed=301)
        steady = synthetic.generate(rows - rows // 2, seed=302).canonical()
        return pd.concat([steady, shifted], ignore_index=True).sample(frac=1.0, random_state=0).reset_index(drop=True)

    return {"no shift": lambda: synthetic.generate(rows, seed=303).canonical(),
            "exam season": lambda: synthetic.generate(rows, seed=304, scenario="exam_season").canonical(),
            "school shift": school, "half school shift": mixed}


def _check_cohort(model, students, *, rows: int, repetitions: int) -> dict:  # noqa: ANN001
    """As ``estimation.check_on_synthetic``, on the given rows (cut into ``repetitions`` cohorts of ``rows``)."""
    import numpy as np

    from mindpulse.monitoring import estimation as est

    probability = model.predict_proba(students)
    outcome = students["depression"].astype(int).to_numpy()
    errors = {name: [] for name in est.METRICS}
    covered = dict.fromkeys(est.METRICS, 0)
    flagged = 0
    for k in range(repetitions):
        part = slice(k * rows, (k + 1) * rows)
        estimate = est.estimate_performance(probability[part], threshold=model.threshold, seed=k)
        realized = est.realized_performance(outcome[part], probability[part], threshold=model.threshold)
        flagged += bool(est.compare_with_realized(estimate, realized)["flagged"])
        for name in est.METRICS:
            band = estimate["metrics"][name]
            errors[name].append(band["estimate"] - realized[name])
            covered[name] += band["lower"] <= realized[name] <= band["upper"]
    return {"metrics": {name: {"mean_error": float(np.mean(errors[name])),
                               "max_abs_error": float(np.max(np.abs(errors[name]))),
                               "coverage": covered[name] / repetitions} for name in est.METRICS},
            "flagged_share": flagged / repetitions}


if __name__ == "__main__":
    main()
