"""Logging a screened cohort: ``Store.log_predictions`` in chunks, and ``mindpulse predict --log`` end to end.

    .venv/bin/python benchmarks/bench_predict_log.py [--rows 100000] [--chunk-rows 5000] [--repeats 3] [--cli]

Target: 100,000 predictions logged at >= 5,000 rows/s on SQLite (the embedded default).
"store" times ``log_predictions(frame, chunk_rows=...)`` alone on an already scored frame
(validation, one transaction per chunk, ids back); "cli" times the whole command on a CSV of
the same rows (read and validate the file, score with a logistic-regression champion, log,
write the output with the ids). Medians of ``--repeats`` runs, each on a fresh database.
The machine is shared (2 cores, other jobs): figures are noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from mindpulse import contract as c
from mindpulse import synthetic
from mindpulse.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_store import machine, postgres_url, sqlite_url  # noqa: E402 - the sibling benchmark's helpers

TARGET_ROWS_PER_S = 5_000


def bench_store(name: str, make_url, frame: pd.DataFrame, chunk_rows: int, repeats: int) -> float:  # type: ignore[no-untyped-def]
    figures = []
    for _ in range(repeats):
        with make_url() as url, Store(url) as store:
            store.migrate()
            began = time.perf_counter()
            ids = store.log_predictions(frame, chunk_rows=chunk_rows)
            seconds = time.perf_counter() - began
            assert len(ids) == len(frame) == store.stats()["predictions_logged"]
            figures.append(len(frame) / seconds)
    median = statistics.median(figures)
    runs = ", ".join(f"{f:,.0f}" for f in figures)
    verdict = "meets" if median >= TARGET_ROWS_PER_S else "MISSES"
    print(f"{name:<11} store  {len(frame):>7,} rows, chunks of {chunk_rows:,}: median {median:>7,.0f} rows/s "
          f"({verdict} {TARGET_ROWS_PER_S:,}/s; runs: {runs})", flush=True)
    return median


def bench_cli(rows: int, chunk_rows: int, repeats: int) -> None:
    """The whole command on SQLite, in a home with a logistic-regression champion."""
    from mindpulse import pipeline
    from mindpulse.data import generate_reference
    from mindpulse.settings import Settings

    mindpulse = str(Path(sys.executable).parent / "mindpulse")
    with tempfile.TemporaryDirectory(prefix="bench_predict_log_") as folder:
        base = Path(folder)
        template = Settings(home=base / "template")
        generate_reference(template, rows=3_000, seed=5)
        pipeline.train_first_champion(template, candidates=["logistic_regression"])
        cohort = base / "cohort.csv"
        synthetic.generate(rows, seed=6).raw.drop(columns=["Depression"]).to_csv(cohort, index=False)
        figures = []
        for attempt in range(repeats):
            home = base / f"home{attempt}"
            subprocess.run(["cp", "-r", str(template.home), str(home)], check=True)
            env = {k: v for k, v in os.environ.items() if not k.startswith("MINDPULSE_")}
            env["MINDPULSE_HOME"] = str(home)
            began = time.perf_counter()
            subprocess.run([mindpulse, "predict", "--input", str(cohort), "--output", str(base / "scored.csv"), "--log",
                            "--log-chunk-rows", str(chunk_rows)], env=env, check=True, capture_output=True)
            figures.append(rows / (time.perf_counter() - began))
        runs = ", ".join(f"{f:,.0f}" for f in figures)
        print(f"{'sqlite':<11} cli    {rows:>7,} rows, chunks of {chunk_rows:,}: median {statistics.median(figures):>7,.0f} "
              f"rows/s for read + validate + score + log + write (runs: {runs})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="Predictions logged per run.")
    parser.add_argument("--chunk-rows", type=int, default=5_000, help="Rows per transaction.")
    parser.add_argument("--repeats", type=int, default=3, help="Runs per figure; the median is shown.")
    parser.add_argument("--backends", default="sqlite", help="Comma-separated: sqlite, postgresql.")
    parser.add_argument("--cli", action="store_true", help="Also time 'mindpulse predict --log' end to end (SQLite).")
    args = parser.parse_args()
    print(machine())
    print("Noisy: a shared 2-core machine; other jobs may run.\n")
    frame = synthetic.generate(args.rows, seed=3).canonical()
    frame = frame.assign(**{c.TARGET: pd.array([pd.NA] * len(frame), dtype="Int64")},
                         probability=0.5, prediction=1, model_version="v0001-bench")
    backends = {"sqlite": sqlite_url, "postgresql": postgres_url}
    for name in args.backends.split(","):
        try:
            bench_store(name.strip(), backends[name.strip()], frame, args.chunk_rows, args.repeats)
        except Exception as exc:  # the benchmark still reports the other backend
            print(f"{name:<11} not measured: {type(exc).__name__}: {exc}", file=sys.stderr)
    if args.cli:
        bench_cli(args.rows, args.chunk_rows, args.repeats)


if __name__ == "__main__":
    main()
