"""The loop at scale: retrain on accumulated data, reporting on a large store, the store at 10M rows.

    .venv/bin/python benchmarks/bench_scale.py [--sections retrain,reporting,store]
        [--sizes 100000,300000,1000000] [--report-sizes 1000000,10000000] [--store-rows 10000000]
        [--backends sqlite,postgresql] [--repeats 3]

a. retrain: a home with a synthetic reference (27,901 rows), a first champion trained on it
   (logistic regression, to keep the setup short), and
   archived production snapshots made the way the pipeline makes them (labelled rows added to
   the store, claimed by a run, archived to CSV) until the reference, the snapshots and 1,000
   pending production rows (served by the champion, then labelled) hold ``--sizes`` rows. Then
   the retrain DAG's steps run in a fresh process, through the functions its notebooks call
   (check, drift, backup, merge, train-and-gate, archive): seconds per step, per candidate's
   cross-validation, the refit, the gate, and the peak RSS of the process tree (sampled). The
   gate's decision and the notification read the notebooks' glued values and do nothing that
   grows with the data: they are not run here (benchmarks/bench_pipeline.py times the DAG).
b. reporting: a home whose store holds ``--report-sizes`` logged predictions (SQLite), filled
   in bulk; the reporting DAG's steps (availability, the three reports) in a fresh process:
   seconds and peak RSS. The reports sample (``MINDPULSE_MONITORING_SAMPLE_CAP``), so both should
   stay flat as the store grows.
c. store: ``--store-rows`` rows (most archived in 100k-row snapshots, ~60 % of the rest labelled,
   the labelled rows since the last retrain pending, the newest 5,000 unlabelled), filled in bulk
   on each backend; median of ``--repeats`` calls of pending_count, claim_snapshot (released
   between calls, untimed), production_frame and stats.

Targets on 2 cores: retrain at 1M accumulated rows <= 10 min and <= 4 GB peak; store operations
at 10M rows <= 1 s each. The machine is shared: the load average is printed with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import psutil

from bench_store import machine, postgres_url, sqlite_url

HERE = Path(__file__).resolve()
REFERENCE_ROWS = 27_901
PENDING_ROWS = 1_000
SNAPSHOT_ROWS = 100_000
BASE_BLOCK = 100_000
TARGETS = {"retrain_s": 600.0, "retrain_gb": 4.0, "store_s": 1.0}


def load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


class PeakRSS:
    """The peak resident memory of a process and all its children, sampled every ``interval`` seconds."""

    def __init__(self, pid: int | None = None, interval: float = 0.05):
        self.process = psutil.Process(pid or os.getpid())
        self.interval = interval
        self.peak = 0
        self.overall = 0  # since the start, never reset
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        total = 0
        try:
            processes = [self.process, *self.process.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0
        for process in processes:
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            now = self.rss()
            self.peak, self.overall = max(self.peak, now), max(self.overall, now)
            self._stop.wait(self.interval)

    def reset(self) -> None:
        self.peak = self.rss()

    def __enter__(self) -> "PeakRSS":
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        now = self.rss()
        self.peak, self.overall = max(self.peak, now), max(self.overall, now)


def tree_cpu(process: psutil.Process) -> float:
    """CPU seconds (user + system, all threads) of a process and its live children: unlike wall time,
    barely changed by other jobs competing for the cores."""
    total = 0.0
    for item in [process, *process.children(recursive=True)]:
        try:
            times = item.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


class Timer:
    """Seconds and peak RSS of named steps, in order."""

    def __init__(self, sampler: PeakRSS):
        self.sampler = sampler
        self.steps: list[dict[str, Any]] = []

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.sampler.reset()
        began, cpu = time.perf_counter(), tree_cpu(self.sampler.process)
        try:
            yield
        finally:
            self.steps.append({"step": name, "seconds": time.perf_counter() - began,
                               "cpu_s": tree_cpu(self.sampler.process) - cpu,
                               "peak_gb": max(self.sampler.peak, self.sampler.rss()) / 1e9, "load": os.getloadavg()[0]})


def timed(owner: Any, name: str, into: dict[str, list[float]]) -> None:
    """Wrap ``owner.name`` so each call's seconds are appended to ``into[name]`` (behaviour unchanged)."""
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            into.setdefault(name, []).append(time.perf_counter() - began)

    setattr(owner, name, wrapper)


def worker(args: list[str]) -> dict[str, Any]:
    """Run one part in a fresh process (its peak memory is its own); returns what it printed as JSON."""
    command = [sys.executable, str(HERE), "--worker", *args]
    sampler = PeakRSS()  # this process's tree: the worker and anything it starts
    with sampler:
        done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["tree_peak_gb"] = sampler.overall / 1e9
    return result


# --- a. retrain ------------------------------------------------------------------------------------

def setup_retrain(home: Path, rows: int, seed: int = 42) -> dict[str, Any]:
    """Reference, first champion, archived snapshots, then 1,000 pending rows: ``rows`` in all."""
    from mindpulse import synthetic
    from mindpulse.data import generate_reference
    from mindpulse.pipeline import demo
    from mindpulse.settings import Settings
    from mindpulse.store import Store, migrate_store

    settings = Settings(home=home)
    began = time.perf_counter()
    generate_reference(settings, rows=REFERENCE_ROWS, seed=seed)
    demo.train_first_champion(settings, seed=seed, candidates=["logistic_regression"])  # setup only: the quick one
    migrate_store(settings)  # the deploy step
    store = Store.from_settings(settings)
    remaining, k = rows - REFERENCE_ROWS - PENDING_ROWS, 0
    while remaining > 0:
        k += 1
        n = min(SNAPSHOT_ROWS, remaining)
        frame = synthetic.generate(n, seed=seed + k, id_start=1_000_000 + k * SNAPSHOT_ROWS).canonical()
        store.add_labelled(frame)
        snapshot = store.claim_snapshot(f"bench_retrain_{k}")
        store.archive_snapshot(snapshot.id, settings.archive_dir)
        remaining -= n
    demo.simulate_production_traffic(settings, days=2, rows_per_day=PENDING_ROWS // 2, drift_days=1, seed=seed + 1)
    store.close()
    return {"snapshots": k, "setup_s": time.perf_counter() - began}


def run_retrain(home: Path) -> dict[str, Any]:
    """The retrain DAG's steps, as its notebooks call them, timed one by one."""
    from mindpulse import pipeline, train
    from mindpulse.pipeline import evidence
    from mindpulse.registry import ModelRegistry
    from mindpulse.settings import Settings

    settings = Settings(home=home)
    inner: dict[str, list[float]] = {}
    timed(train, "build_model", inner)
    timed(ModelRegistry, "promote", inner)
    timed(ModelRegistry, "register", inner)
    timed(train, "evaluate", inner)
    with PeakRSS() as sampler:
        timer = Timer(sampler)
        began = time.perf_counter()
        run = pipeline.open_run(pipeline.RETRAIN_DAG_ID, "bench_scale__retrain", settings=settings)
        with timer.step("check_production_data"):
            result = pipeline.check_production_data(run)
            evidence.checks(run, threshold=result.outputs["min_rows"], reporting=False, sentence=result.message)
        with timer.step("detect_drift"):
            pipeline.detect_drift(run)
            evidence.drift(run)
        with timer.step("backup_model"):
            pipeline.backup_model(run)
        with timer.step("merge_training_data"):
            merged = pipeline.merge_training_data(run, commit=True)
        with timer.step("train_and_gate"):
            trained = pipeline.train_and_gate(run, commit=True)
            evidence.training(run, trained.outputs)
        with timer.step("archive_production_data"):
            pipeline.archive_production_data(run, commit=True)
        total = time.perf_counter() - began
    version = trained.outputs["version"]
    metadata = pipeline.sources.open_registry(settings).get(version).metadata
    cv = metadata["cv"]
    return {
        "steps": timer.steps, "total_s": total, "peak_gb": sampler.overall / 1e9,
        "training_rows": merged.outputs.get("training_rows"), "trained_rows": metadata["data"]["rows"],
        "candidates": {name: {"seconds": item["seconds"], "roc_auc": item["mean"]["roc_auc"],
                              "training": item.get("training")}
                       for name, item in cv["candidates"].items()},
        "best": cv["best"], "holdout_roc_auc": metadata["holdout"]["roc_auc"],
        "refit_s": sum(inner.get("build_model", [])), "gate_s": sum(inner.get("promote", [])),
        "register_s": sum(inner.get("register", [])), "promoted": trained.outputs.get("promoted"),
        "load": os.getloadavg(),
    }


@contextmanager
def scratch_home(prefix: str, keep: bool) -> Iterator[Path]:
    """A temporary home for one size, removed afterwards unless ``keep``."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield home
    finally:
        if keep:
            print(f"    kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


def print_steps(result: dict[str, Any]) -> None:
    for step in result["steps"]:
        print(f"    {step['step']:<26} {step['seconds']:7.1f} s  (CPU {step.get('cpu_s', float('nan')):6.1f} s)   "
              f"peak {step['peak_gb']:5.2f} GB   (load {step['load']:.2f})", flush=True)


def bench_retrain(sizes: list[int], keep: bool) -> list[dict[str, Any]]:
    print(f"\na. Retrain on accumulated training rows (reference {REFERENCE_ROWS:,} + archived snapshots + "
          f"{PENDING_ROWS:,} pending)", flush=True)
    results = []
    for rows in sizes:
        with scratch_home(f"bench-scale-retrain-{rows}-", keep) as home:
            setup = worker(["setup-retrain", str(home), str(rows)])
            print(f"  {rows:>9,} rows: prepared in {setup['setup_s']:.0f} s ({setup['snapshots']} archived snapshots; "
                  f"not timed); {load()}", flush=True)
            result = worker(["run-retrain", str(home)])
            result["rows"] = rows
            results.append(result)
            print_steps(result)
            for name, item in result["candidates"].items():
                note = f"  {item['training']}" if item.get("training") else ""
                print(f"      cv {name:<20} {item['seconds']:7.1f} s   ROC-AUC {item['roc_auc']:.4f}{note}")
            print(f"      refit {result['best']:<17} {result['refit_s']:7.1f} s   gate {result['gate_s']:.1f} s   "
                  f"register {result['register_s']:.1f} s   holdout ROC-AUC {result['holdout_roc_auc']:.4f}")
            print(f"    total {result['total_s']:.0f} s, peak {result['peak_gb']:.2f} GB in the process "
                  f"({result['tree_peak_gb']:.2f} GB for the benchmark's tree); trained on {result['trained_rows']:,} rows; "
                  f"{load()}", flush=True)
    return results


# --- bulk filling of a store ----------------------------------------------------------------------

def state_sql(rows: int) -> str:
    """The state of the row with id ``new_id`` in a store of ``rows`` rows (see the module's docstring)."""
    return (f"CASE WHEN new_id > {rows - 5_000} THEN 'unlabelled' WHEN new_id - (new_id / 10) * 10 >= 6 THEN 'unlabelled' "
            f"WHEN new_id > {rows - 25_000} THEN 'pending' ELSE 'archived' END")


def fill_store(url: str, rows: int, *, model_version: str = "v0001", seed: int = 11) -> dict[str, Any]:
    """``rows`` logged predictions in bulk: one generated block inserted once, copied by INSERT ... SELECT.

    Row ids are explicit, and each row's state follows from its id (``state_sql``): the archived
    rows belong to 100k-row snapshots, in order, as successive retrains would leave them.
    """
    import numpy as np
    import sqlalchemy as sa

    from mindpulse import synthetic
    from mindpulse.store import Store
    from mindpulse.store.schema import FEATURE_COLUMNS

    began = time.perf_counter()
    block = min(BASE_BLOCK, rows)
    data = synthetic.generate(block, seed=seed)
    frame = data.canonical()
    rng = np.random.default_rng(seed)
    probability = np.clip(data.proba + rng.normal(0, 0.1, block), 0, 1)
    from mindpulse.store import engine as db

    store = Store(url)
    # Filled at the first schema revision, then upgraded: the upgrade builds the newer indexes
    # and counts the rows once, as it would for a store that grew before it (and the fill does
    # not pay a row-count trigger per row).
    db.migrate(store.engine, "0001")
    features = list(FEATURE_COLUMNS)
    base = sa.Table("bench_base", sa.MetaData(), sa.Column("id", sa.BigInteger, primary_key=True),
                    *[sa.Column(n, store_type(n)) for n in features],
                    sa.Column("probability", sa.Float), sa.Column("prediction", sa.SmallInteger),
                    sa.Column("label", sa.SmallInteger), sa.Column("created_at", sa.DateTime))
    start = naive_utc_now() - timedelta(days=30)
    records = frame[features].astype(object).where(frame[features].notna(), None).to_dict("records")
    for i, record in enumerate(records):
        record.update(id=i + 1, probability=float(probability[i]), prediction=int(probability[i] >= 0.5),
                      label=int(frame["depression"].iloc[i]), created_at=start + timedelta(seconds=i))
    snapshots = -(-rows // SNAPSHOT_ROWS)
    with store.engine.begin() as connection:
        base.create(connection)
        for begin in range(0, len(records), 5_000):
            connection.execute(base.insert(), records[begin:begin + 5_000])
        now = naive_utc_now()
        connection.execute(sa.text(
            "INSERT INTO snapshots (id, run_id, state, n_rows, claimed_at, archived_at, export_path) "
            "VALUES (:id, :run_id, 'archived', 0, :now, :now, NULL)"),
            [{"id": k, "run_id": f"bench_fill_{k}", "now": now} for k in range(1, snapshots + 1)])
    columns = ", ".join(features)
    state = state_sql(rows)
    for offset in range(0, rows, block):
        n = min(block, rows - offset)
        new_id = f"(id + {offset})"
        select = (f"SELECT {new_id}, created_at, 'prediction', {state.replace('new_id', new_id)}, NULL, {columns}, "
                  f"'{model_version}', probability, prediction, "
                  f"CASE WHEN {state.replace('new_id', new_id)} = 'unlabelled' THEN NULL ELSE label END, "
                  f"CASE WHEN {state.replace('new_id', new_id)} = 'unlabelled' THEN NULL ELSE created_at END, "
                  f"CASE WHEN {state.replace('new_id', new_id)} = 'archived' THEN ({new_id} - 1) / {SNAPSHOT_ROWS} + 1 END "
                  f"FROM bench_base WHERE id <= {n}")
        with store.engine.begin() as connection:
            connection.exec_driver_sql(
                f"INSERT INTO production_rows (id, created_at, source, state, record_id, {columns}, model_version, "
                f"probability, prediction, depression, labelled_at, snapshot_id) {select}")
    with store.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE bench_base")
        connection.exec_driver_sql(
            "UPDATE snapshots SET n_rows = (SELECT count(*) FROM production_rows p WHERE p.snapshot_id = snapshots.id)")
        if store.backend == "postgresql":
            connection.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('production_rows', 'id'), (SELECT max(id) FROM production_rows))")
            connection.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('snapshots', 'id'), (SELECT max(id) FROM snapshots))")
    store.migrate()
    # What the database's own maintenance would have done by the time the store is this big.
    if store.backend == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    else:
        with store.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    stats = store.stats()
    store.close()
    return {"fill_s": time.perf_counter() - began, "rows_by_state": stats["rows_by_state"]}


def naive_utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def store_type(name: str):  # noqa: ANN201
    from mindpulse.store.schema import production_rows

    return production_rows.c[name].type


# --- b. reporting ---------------------------------------------------------------------------------

def setup_reporting(home: Path, rows: int, seed: int = 42) -> dict[str, Any]:
    from mindpulse.data import generate_reference
    from mindpulse.pipeline import demo
    from mindpulse.settings import Settings

    settings = Settings(home=home)
    generate_reference(settings, rows=REFERENCE_ROWS, seed=seed)
    version = demo.train_first_champion(settings, seed=seed, candidates=["logistic_regression"])
    return fill_store(settings.database_url, rows, model_version=version)


def run_reporting(home: Path) -> dict[str, Any]:
    from mindpulse import pipeline
    from mindpulse.settings import Settings

    settings = Settings(home=home)
    with PeakRSS() as sampler:
        timer = Timer(sampler)
        began = time.perf_counter()
        run = pipeline.open_run(pipeline.REPORTING_DAG_ID, "bench_scale__reporting", settings=settings)
        with timer.step("check_data_availability"):
            available = pipeline.check_data_availability(run)
        with timer.step("data_quality_report"):
            pipeline.data_quality_report(run)
        with timer.step("data_drift_report"):
            pipeline.data_drift_report(run)
        with timer.step("model_performance_report"):
            pipeline.model_performance_report(run)
        total = time.perf_counter() - began
    return {"steps": timer.steps, "total_s": total, "peak_gb": sampler.overall / 1e9,
            "current_rows": available.outputs["current_rows"], "sample_cap": settings.monitoring_sample_cap}


def bench_reporting(sizes: list[int], keep: bool) -> list[dict[str, Any]]:
    print("\nb. Reporting steps on a store of logged predictions (SQLite)", flush=True)
    results = []
    for rows in sizes:
        with scratch_home(f"bench-scale-reporting-{rows}-", keep) as home:
            setup = worker(["setup-reporting", str(home), str(rows)])
            print(f"  {rows:>10,} logged predictions: filled in {setup['fill_s']:.0f} s ({setup['rows_by_state']}; "
                  f"not timed); {load()}", flush=True)
            result = worker(["run-reporting", str(home)])
            result["rows"] = rows
            results.append(result)
            print_steps(result)
            print(f"    total {result['total_s']:.1f} s, peak {result['peak_gb']:.2f} GB; reported on "
                  f"{result['current_rows']:,} labelled rows of the newest {result['sample_cap']:,} predictions; {load()}",
                  flush=True)
    return results


# --- c. store -------------------------------------------------------------------------------------

def server_cpu(store: Any) -> float:
    """CPU seconds of the PostgreSQL server processes serving this database (0 on SQLite: in-process)."""
    if store.backend != "postgresql":
        return 0.0
    with store.engine.connect() as connection:
        pids = [r[0] for r in connection.exec_driver_sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")]
    return sum(tree_cpu_one(pid) for pid in pids)


def tree_cpu_one(pid: int) -> float:
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system


def time_store(url: str, repeats: int) -> dict[str, Any]:
    from mindpulse.store import Store

    timings: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    sizes: dict[str, Any] = {}

    with Store(url) as store:
        def measure(name: str, call: Callable[[], Any]) -> Any:
            cpu0, began = time.process_time() + server_cpu(store), time.perf_counter()
            result = call()
            timings.setdefault(name, []).append(time.perf_counter() - began)
            cpu.setdefault(name, []).append(time.process_time() + server_cpu(store) - cpu0)
            return result

        store.pending_count()  # connected before the clock
        for k in range(repeats):
            sizes["pending_count"] = measure("pending_count", store.pending_count)
            snapshot = measure("claim_snapshot", lambda: store.claim_snapshot(f"bench_scale_claim_{k}"))
            sizes["claim_snapshot"] = snapshot.n_rows
            store.release_snapshot(snapshot.id)  # untimed: the rows are pending again
            sizes["production_frame"] = len(measure("production_frame", store.production_frame))
            sizes["stats"] = measure("stats", store.stats)["rows_total"]
    return {"median_s": {k: statistics.median(v) for k, v in timings.items()},
            "median_cpu_s": {k: statistics.median(v) for k, v in cpu.items()},
            "runs_s": timings, "sizes": sizes, "load": os.getloadavg()}


def bench_store(rows: int, backends: list[str], repeats: int) -> list[dict[str, Any]]:
    print(f"\nc. The store at {rows:,} rows (median of {repeats} calls each)", flush=True)
    makers = {"sqlite": sqlite_url, "postgresql": postgres_url}
    results = []
    for name in backends:
        try:
            with makers[name]() as url:
                fill = fill_store(url, rows)
                print(f"  {name}: filled in {fill['fill_s']:.0f} s {fill['rows_by_state']} (not timed); {load()}",
                      flush=True)
                result = time_store(url, repeats)
        except Exception as exc:  # the other backend is still measured
            print(f"  {name}: not measured: {type(exc).__name__}: {exc}", flush=True)
            continue
        result["backend"] = name
        results.append(result)
        for op, seconds in result["median_s"].items():
            runs = ", ".join(f"{s * 1000:.0f}" for s in result["runs_s"][op])
            verdict = "ok" if seconds <= TARGETS["store_s"] else "OVER TARGET"
            print(f"    {op:<18} median {seconds * 1000:8.0f} ms  CPU {result['median_cpu_s'][op] * 1000:6.0f} ms  "
                  f"(runs {runs} ms; {result['sizes'][op]:,} rows)  {verdict}")
        print(f"    ({load()})", flush=True)
    return results


# --- the trade: ROC-AUC lost against time saved by the row cap -----------------------------------

def run_trade(rows: int, caps: list[int], seed: int = 42) -> dict[str, Any]:
    """One stratified 80/20 split of ``rows`` synthetic rows; each slow candidate fitted on all
    training rows and on each cap (the same sampling as training), scored on the same test rows."""
    import warnings

    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    from mindpulse import synthetic, train
    from mindpulse.evaluation import labels_of
    from mindpulse.features import build_preprocessor, feature_frame

    frame = synthetic.generate(rows, seed=seed).canonical()
    y = labels_of(frame)
    X = feature_frame(frame)
    train_x, test_x, train_y, test_y = train_test_split(X, y, test_size=0.2, stratify=y, random_state=seed)
    pre = build_preprocessor()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z_train, z_test = pre.fit_transform(train_x), pre.transform(test_x)
    del frame, X, train_x, test_x
    figures = []
    for name in ("logistic_regression", "random_forest", "xgboost"):
        for cap in ([None] if name == "logistic_regression" else [None, *caps]):
            positions = train.capped_rows(train_y, cap, seed=seed)
            fit_x, fit_y = (z_train, train_y) if positions is None else (z_train[positions], train_y[positions])
            began = time.perf_counter()
            estimator = train.make_estimator(name, seed).fit(fit_x, fit_y)
            fit_s = time.perf_counter() - began
            auc = float(roc_auc_score(test_y, estimator.predict_proba(z_test)[:, 1]))
            figures.append({"candidate": name, "cap": cap, "rows": len(fit_y), "fit_s": fit_s, "roc_auc": auc,
                            "load": os.getloadavg()[0]})
            print(json.dumps(figures[-1]), file=sys.stderr, flush=True)
    return {"figures": figures, "test_rows": len(test_y), "oracle": None}


def bench_trade(rows: int, caps: list[int]) -> list[dict[str, Any]]:
    print(f"\nThe row cap's trade at {rows:,} rows: one fit on 80 % (all rows, then each cap), ROC-AUC on the same 20 %",
          flush=True)
    result = worker(["trade", "-", str(rows), ",".join(map(str, caps))])
    full = {f["candidate"]: f for f in result["figures"] if f["cap"] is None}
    for f in result["figures"]:
        base = full[f["candidate"]]
        print(f"    {f['candidate']:<20} {('cap ' + format(f['cap'], ',')) if f['cap'] else 'all rows':<12} "
              f"fit on {f['rows']:>9,} rows {f['fit_s']:7.1f} s   ROC-AUC {f['roc_auc']:.4f} "
              f"({f['roc_auc'] - base['roc_auc']:+.4f} vs all rows)   (load {f['load']:.2f})", flush=True)
    print(f"    peak {result['tree_peak_gb']:.2f} GB; {load()}")
    return result["figures"]


# --- main -----------------------------------------------------------------------------------------

def run_worker(argv: list[str]) -> None:
    kind, home = argv[0], Path(argv[1])
    if argv[1] != "-":
        os.environ["MINDPULSE_HOME"] = str(home)
    if kind == "setup-retrain":
        result = setup_retrain(home, int(argv[2]))
    elif kind == "run-retrain":
        result = run_retrain(home)
    elif kind == "setup-reporting":
        result = setup_reporting(home, int(argv[2]))
    elif kind == "run-reporting":
        result = run_reporting(home)
    elif kind == "trade":
        result = run_trade(int(argv[2]), [int(x) for x in argv[3].split(",")])
    else:
        raise SystemExit(f"--worker: got {kind!r}")
    print(json.dumps(result, default=str))


def summary(retrain: list[dict], reporting: list[dict], store: list[dict]) -> None:
    print(f"\nSummary (targets on 2 cores: retrain at 1M rows <= {TARGETS['retrain_s'] / 60:.0f} min and "
          f"<= {TARGETS['retrain_gb']:.0f} GB; store operations <= {TARGETS['store_s']:.0f} s at 10M rows)")
    for r in retrain:
        cands = ", ".join(f"{n} {i['seconds']:.0f} s" for n, i in r["candidates"].items())
        print(f"  retrain   {r['rows']:>10,} rows  total {r['total_s']:6.0f} s  peak {r['peak_gb']:.2f} GB  "
              f"train_and_gate {next(s['seconds'] for s in r['steps'] if s['step'] == 'train_and_gate'):.0f} s "
              f"(cv: {cands}; refit {r['refit_s']:.0f} s; gate {r['gate_s']:.1f} s)  holdout ROC-AUC {r['holdout_roc_auc']:.4f}")
    for r in reporting:
        print(f"  reporting {r['rows']:>10,} rows  total {r['total_s']:6.1f} s  peak {r['peak_gb']:.2f} GB")
    for r in store:
        shown = "  ".join(f"{op} {s * 1000:.0f} ms (CPU {r['median_cpu_s'][op] * 1000:.0f})" for op, s in r["median_s"].items())
        print(f"  store     {r['backend']:<10}  {shown}")
    print(f"  {load()}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        run_worker(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", default="retrain,reporting,store",
                        help="Comma-separated: retrain, reporting, store, trade (the row cap's ROC-AUC against time).")
    parser.add_argument("--sizes", default="100000,300000,1000000", help="Accumulated training rows for the retrain.")
    parser.add_argument("--report-sizes", default="1000000,10000000", help="Logged predictions for the reporting steps.")
    parser.add_argument("--store-rows", type=int, default=10_000_000, help="Rows in the store for its operations.")
    parser.add_argument("--backends", default="sqlite,postgresql", help="Comma-separated: sqlite, postgresql.")
    parser.add_argument("--repeats", type=int, default=3, help="Calls per store operation; the median is shown.")
    parser.add_argument("--trade-rows", type=int, default=1_000_000, help="Rows for the row cap's trade (section trade).")
    parser.add_argument("--trade-caps", default="50000,100000,200000", help="Row caps compared with all rows.")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary homes.")
    args = parser.parse_args()
    memory = psutil.virtual_memory()
    print(f"{machine()}; RAM {memory.total / 2**30:.1f} GiB ({memory.available / 2**30:.1f} GiB available)")
    print("Noisy: a shared 2-core machine; the load average is printed with the figures.", flush=True)
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    ints = lambda text: [int(x) for x in text.split(",") if x.strip()]  # noqa: E731
    retrain = bench_retrain(ints(args.sizes), args.keep) if "retrain" in sections else []
    reporting = bench_reporting(ints(args.report_sizes), args.keep) if "reporting" in sections else []
    store = (bench_store(args.store_rows, [b.strip() for b in args.backends.split(",")], args.repeats)
             if "store" in sections else [])
    if "trade" in sections:
        bench_trade(args.trade_rows, ints(args.trade_caps))
    summary(retrain, reporting, store)


if __name__ == "__main__":
    main()
