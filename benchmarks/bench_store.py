"""Append throughput of the production data store, 1 and 8 writer processes, SQLite and PostgreSQL.

    .venv/bin/python benchmarks/bench_store.py [--rows 4000] [--repeats 3] [--frame-rows 0]

"append" is the serving path: one ``log_prediction`` per row, each its own transaction
(committed before the call returns). "batch" is ``log_predictions`` with 500 rows a call.
Writers are real processes started before the clock, each with its own Store; the clock runs
from the common start signal until the last writer's last commit. Medians of ``--repeats``
runs. ``--frame-rows N`` also times pending_count() and production_frame() with N pending rows.
The machine is shared (2 cores, other jobs): figures are noisy, compare ratios.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pandas as pd
import sqlalchemy

from mindpulse import contract as c
from mindpulse import synthetic
from mindpulse.store import Store

PG_ADMIN = os.environ.get("MINDPULSE_TEST_POSTGRES", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
CTX = mp.get_context("fork")
BATCH = 500


def machine() -> str:
    cpu = "unknown CPU"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{platform.node()}: {cpu}, {os.cpu_count()} cores, load {load}; Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}, SQLAlchemy {sqlalchemy.__version__}")


@contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="bench_store_") as folder:
        yield f"sqlite:///{Path(folder) / 'mindpulse.db'}"


@contextmanager
def postgres_url() -> Iterator[str]:
    import psycopg

    name = f"mindpulse_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    parts = dict(part.split("=", 1) for part in PG_ADMIN.split())
    try:
        yield f"postgresql+psycopg://{parts.get('user', 'postgres')}@{parts.get('host', '127.0.0.1')}:{parts.get('port', '5432')}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _writer(url: str, records: list[dict], mode: str, ready, start, done) -> None:  # type: ignore[no-untyped-def]
    with Store(url) as store:
        store.pending_count()  # connect before the clock starts
        frame = pd.DataFrame(records).assign(probability=0.5, prediction=1, model_version="v1") if mode == "batch" else None
        ready.put(os.getpid())
        start.wait()
        if frame is None:
            for record in records:
                store.log_prediction(record, probability=0.5, label=1, model_version="v1")
        else:
            for begin in range(0, len(frame), BATCH):
                store.log_predictions(frame.iloc[begin:begin + BATCH])
        done.put(time.monotonic())


def run_once(url: str, writers: int, rows: int, mode: str, records: list[dict]) -> float:
    """Rows per second for ``rows`` rows split over ``writers`` processes."""
    per_writer = rows // writers
    ready, done, start = CTX.Queue(), CTX.Queue(), CTX.Event()
    processes = [CTX.Process(target=_writer, args=(url, records[w * per_writer:(w + 1) * per_writer], mode, ready, start, done))
                 for w in range(writers)]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=120)
    began = time.monotonic()
    start.set()
    finished = max(done.get(timeout=600) for _ in processes)
    for process in processes:
        process.join(timeout=60)
        if process.exitcode != 0:
            raise SystemExit(f"a writer failed (exit code {process.exitcode})")
    return per_writer * writers / (finished - began)


def bench_backend(name: str, make_url, args: argparse.Namespace, records: list[dict]) -> None:  # type: ignore[no-untyped-def]
    for mode in ("append", "batch"):
        for writers in (1, 8):
            figures = []
            for _ in range(args.repeats):
                with make_url() as url:
                    with Store(url) as store:
                        store.migrate()
                    figures.append(run_once(url, writers, args.rows, mode, records))
            runs = ", ".join(f"{f:,.0f}" for f in figures)
            print(f"{name:<11} {mode:<7} {writers} writer{'s' if writers > 1 else ' '}  {args.rows:>6} rows  "
                  f"median {statistics.median(figures):>8,.0f} rows/s   (runs: {runs})", flush=True)


def bench_frame(name: str, make_url, n_rows: int) -> None:  # type: ignore[no-untyped-def]
    base = synthetic.generate(min(n_rows, 50_000), seed=7).canonical()
    with make_url() as url, Store(url) as store:
        store.migrate()
        began = time.perf_counter()
        stored = 0
        while stored < n_rows:
            chunk = base.iloc[: min(len(base), n_rows - stored)].assign(id=pd.NA)
            stored += store.add_labelled(chunk)
        load_s = time.perf_counter() - began
        timings = {}
        if name == "postgresql":
            # Right after a bulk load the visibility map is empty and count(*) reads the heap;
            # autovacuum soon fixes that. Time both.
            began = time.perf_counter()
            store.pending_count()
            timings["pending_count() before vacuum"] = time.perf_counter() - began
            with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM ANALYZE production_rows")
        for label, call in (("pending_count()", store.pending_count), ("production_frame()", store.production_frame),
                            ("stats()", store.stats)):
            began = time.perf_counter()
            result = call()
            timings[label] = time.perf_counter() - began
            if label == "production_frame()":
                assert len(result) == n_rows
        shown = ", ".join(f"{label} {seconds * 1000:,.0f} ms" for label, seconds in timings.items())
        print(f"{name:<11} {n_rows:,} pending rows (loaded in {load_s:,.0f} s): {shown}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=4000, help="Rows per run (split over the writers).")
    parser.add_argument("--repeats", type=int, default=3, help="Runs per figure; the median is shown.")
    parser.add_argument("--backends", default="sqlite,postgresql", help="Comma-separated: sqlite, postgresql.")
    parser.add_argument("--frame-rows", type=int, default=0, help="Also time pending_count/production_frame at this many rows.")
    args = parser.parse_args()
    print(machine())
    print("Noisy: a shared 2-core machine; other jobs may run. One transaction per row for 'append'.\n")
    records = synthetic.generate(args.rows, seed=3).canonical().drop(columns=[c.TARGET]).to_dict("records")
    backends = {"sqlite": sqlite_url, "postgresql": postgres_url}
    for name in args.backends.split(","):
        make_url = backends[name.strip()]
        try:
            with make_url():
                pass
        except Exception as exc:  # the benchmark still reports the other backend
            print(f"{name:<11} not measured: {exc}", file=sys.stderr)
            continue
        if name == "postgresql":
            with make_url() as url, Store(url) as store, store.engine.connect() as connection:
                print(f"PostgreSQL {connection.exec_driver_sql('SHOW server_version').scalar()} on {store.url.host}")
        bench_backend(name, make_url, args, records)
        if args.frame_rows:
            bench_frame(name, make_url, args.frame_rows)


if __name__ == "__main__":
    main()
