"""Time each monitoring report for 28k reference rows against 5k and 1M current rows; print HTML sizes.

    .venv/bin/python benchmarks/bench_monitoring.py [--repeats 3] [--big 1000000] [--cap 50000]

Inputs above the cap (settings.monitoring_sample_cap, 50,000) are sampled before Evidently runs,
so the 1M-row case measures sampling plus a 50k-row report. Generation of the synthetic rows is
not timed. The machine is shared: timings are noisy, the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def scored(frame):
    """Add the generator's own model outputs, as the store's production rows carry them."""
    from mindpulse import synthetic as s

    proba = s.true_probability(frame)
    frame = frame.copy()
    frame["probability"] = np.clip(proba + np.random.default_rng(0).normal(0, 0.1, len(proba)), 0, 1)
    frame["prediction"] = (frame["probability"] >= 0.5).astype(int)
    return frame


def timed(function, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=int, default=27_901, help="reference rows (the real file has 27,901)")
    parser.add_argument("--small", type=int, default=5_000, help="current rows of the small case")
    parser.add_argument("--big", type=int, default=1_000_000, help="current rows of the large case")
    parser.add_argument("--repeats", type=int, default=3, help="runs per report for the small case (median shown)")
    parser.add_argument("--cap", type=int, default=None, help="sample cap (default: settings.monitoring_sample_cap)")
    args = parser.parse_args()

    from mindpulse import synthetic as s
    from mindpulse.settings import Settings

    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}, "
          f"Python {platform.python_version()}")
    start = time.perf_counter()
    import evidently

    print(f"evidently {evidently.__version__}: import {time.perf_counter() - start:.1f} s")
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=home) if args.cap is None else Settings(home=home, monitoring_sample_cap=args.cap)
        print(f"sample cap: {settings.monitoring_sample_cap:,} rows (seed {settings.seed})")
        start = time.perf_counter()
        reference = scored(s.generate(args.reference, seed=1).canonical())
        cases = [(args.small, scored(s.generate(args.small, seed=2, scenario="exam_season").canonical()), args.repeats)]
        cases.append((args.big, scored(s.generate(args.big, seed=3, scenario="exam_season").canonical()), 1))
        print(f"(generated the rows in {time.perf_counter() - start:.0f} s, not timed below)")
        print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
        from mindpulse import monitoring as m

        m.detect_drift(reference.head(2_000), reference.tail(2_000), settings=settings)  # warm-up
        print(f"{'current rows':>12} {'report':<18} {'median s':>9} {'runs':>5} {'HTML MB':>8}  result")
        totals = []
        for rows, current, repeats in cases:
            out = Path(home) / f"reports_{rows}"
            jobs = {
                "detect_drift": lambda: m.detect_drift(reference, current, settings=settings),
                "data_quality": lambda: m.data_quality_report(reference, current, out, settings=settings),
                "data_drift": lambda: m.data_drift_report(reference, current, out, settings=settings),
                "model_performance": lambda: m.model_performance_report(current, out, settings=settings),
            }
            total = 0.0
            for name, job in jobs.items():
                seconds, result = timed(job, repeats)
                total += seconds if name != "detect_drift" else 0.0
                if name == "detect_drift":
                    size, what = "-", f"{result.status}, share {result.share:.2f}"
                else:
                    size = f"{result.html_path.stat().st_size / 1e6:.2f}"
                    what = {"data_quality": lambda r: f"{r['dataset']['missing_cells']} missing cells",
                            "data_drift": lambda r: f"{r['status']}, share {r['share']:.2f}",
                            "model_performance": lambda r: f"accuracy {r['accuracy']:.3f}, ROC-AUC {r['roc_auc']:.3f}",
                            }[name](result.summary)
                    if result.summary["sampled"]:
                        what += f" (sampled {result.summary['sampling']['current']['used']:,} of {rows:,})"
                print(f"{rows:>12,} {name:<18} {seconds:>9.2f} {repeats:>5} {size:>8}  {what}")
            print(f"{rows:>12,} {'three reports':<18} {total:>9.2f}")
            totals.append(total)
        print(f"\nthree reports, {args.big:,} vs {args.small:,} current rows: {totals[1] / totals[0]:.1f} times the time")
        print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
