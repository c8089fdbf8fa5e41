"""Wall time of each DAG end to end in a real Airflow, and the cost of one notebook step.

    .venv/bin/python benchmarks/bench_pipeline.py [--reference 27901] [--production 1000] [--repeats 5]

1. Per-step cost (median of ``--repeats``): a trivial notebook through Papermill (kernel start,
   one cell, output written); the floor of every pipeline notebook (its imports cell and one
   glued value); and, for comparison, the same glue through scrapbook itself (its import).
2. A home with ``--reference`` reference rows, a champion trained on them and ``--production``
   labelled production rows (half of the days in exam season) is prepared (not timed), then
   ``airflow standalone`` (SQLite, LocalExecutor, parallelism 4, as ``make run``) runs: the
   retrain DAG is triggered through the REST API and timed from the trigger to the end of the
   run, then the reporting DAG; each task's own duration is printed too.

The machine is shared by several engineers: timings are noisy; the load average is printed
with them.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

TARGETS = {"retrain": 45.0, "step_overhead": 2.5}


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def notebook(path: Path, cells: list[str]) -> Path:
    import nbformat as nbf

    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbf.v4.new_markdown_cell("# Benchmark"), nbf.v4.new_code_cell("x = 1  # a parameter", metadata={"tags": ["parameters"]})]
    nb.cells += [nbf.v4.new_code_cell(source) for source in cells]
    nbf.write(nb, path)
    return path


def step_costs(folder: Path, repeats: int) -> dict[str, float]:
    import papermill as pm

    cases = {
        "trivial notebook (kernel start + 1 cell)": ["y = x + 1"],
        "pipeline floor: imports + runs.glue": ["from mindpulse import pipeline, runs", "runs.glue('y', x + 1)"],
        "for comparison: import scrapbook + sb.glue": ["import scrapbook as sb", "sb.glue('y', x + 1)"],
    }
    medians = {}
    for name, cells in cases.items():
        source = notebook(folder / "bench.ipynb", cells)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            pm.execute_notebook(str(source), str(folder / "bench.out.ipynb"), parameters={"x": 2}, kernel_name="python3",
                                progress_bar=False, log_output=False)
            times.append(time.perf_counter() - start)
        medians[name] = statistics.median(times)
        print(f"  {name:<45} median {medians[name]:5.2f} s  (min {min(times):.2f}, max {max(times):.2f}; {load()})", flush=True)
    return medians


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (datetime.fromisoformat(end.replace("Z", "+00:00")) - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()


def time_dag(client, dag_id: str) -> float:
    start = time.perf_counter()
    run = client.trigger(dag_id, {}, note="benchmark")
    done = client.wait_for_run(dag_id, run["dag_run_id"], timeout=1800, poll=0.5)
    wall = time.perf_counter() - start
    print(f"\n{dag_id}: {done['state']} in {wall:.1f} s from the REST trigger to the end of the run "
          f"(run start to end {seconds_between(done.get('start_date'), done.get('end_date')) or float('nan'):.1f} s; {load()})")
    tasks = sorted(client.task_instances(dag_id, run["dag_run_id"]), key=lambda t: t.get("start_date") or "9")
    for ti in tasks:
        duration = ti.get("duration")
        shown = f"{duration:6.1f} s" if duration is not None else "     - "
        print(f"  {ti['task_id']:<28} {ti['state'] or '-':<10} {shown}")
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=int, default=27_901, help="reference rows (the real file has 27,901)")
    parser.add_argument("--production", type=int, default=1_000, help="labelled production rows")
    parser.add_argument("--repeats", type=int, default=5, help="runs per notebook case (median shown)")
    parser.add_argument("--port", type=int, default=0, help="Airflow port (default: a free one)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary home (its reports) afterwards")
    args = parser.parse_args()

    from mindpulse import pipeline
    from mindpulse.airflow_client import AirflowClient
    from mindpulse.commands.platform import PASSWORD_FILE, Service, airflow_environment
    from mindpulse.settings import Settings

    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}, "
          f"Python {platform.python_version()}; shared with other engineers: timings are noisy")
    base = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    print(f"\n1. Per-step cost of a notebook task ({args.repeats} runs each)")
    costs = step_costs(base, args.repeats)

    home = base / "home"  # data only: the DAGs and notebooks are the project's
    settings = Settings(home=home)
    print(f"\n2. Preparing {home}: {args.reference} reference rows, a champion, {args.production} labelled production rows ...",
          flush=True)
    start = time.perf_counter()
    pipeline.prepare_demo_home(settings, reference_rows=args.reference, days=4, rows_per_day=args.production // 4,
                               drift_days=2)
    print(f"   prepared in {time.perf_counter() - start:.0f} s (not part of the figures)")

    import socket

    port = args.port
    if not port:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
    airflow_home = home / ".airflow"
    env = airflow_environment(home, airflow_home, port=port, parallelism=4, dags_dir=settings.dags_dir,
                              notebooks_dir=settings.notebooks_dir)
    env["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "False"  # only the runs triggered here
    airflow = Service("airflow", [str(Path(sys.executable).parent / "airflow"), "standalone"], env=env, cwd=home,
                      log=airflow_home / "logs" / "standalone.log", stop_signal=signal.SIGINT,
                      signal_leader_only=True).start()
    walls: dict[str, float] = {}
    try:
        url = f"http://127.0.0.1:{port}"
        probe = AirflowClient(url)
        start = time.perf_counter()
        while not probe.is_healthy():
            if not airflow.running() or time.perf_counter() - start > 300:
                print(f"Airflow did not become healthy; see {airflow.log}")
                return 1
            time.sleep(1)
        print(f"   airflow standalone healthy after {time.perf_counter() - start:.0f} s")
        import json

        password = json.loads((airflow_home / PASSWORD_FILE).read_text())["admin"]
        client = AirflowClient(url, "admin", password)
        for dag_id in (pipeline.RETRAIN_DAG_ID, pipeline.REPORTING_DAG_ID):
            while True:
                try:
                    client.get_dag(dag_id)
                    break
                except Exception:
                    time.sleep(1)
            client.set_paused(dag_id, False)
        walls["retrain"] = time_dag(client, pipeline.RETRAIN_DAG_ID)
        walls["reporting"] = time_dag(client, pipeline.REPORTING_DAG_ID)
    finally:
        airflow.stop()

    overhead = costs["pipeline floor: imports + runs.glue"]
    print("\nSummary (targets: retrain <= 45 s, <= 2.5 s overhead per step, on 2 cores)")
    print(f"  retrain DAG end to end        {walls.get('retrain', float('nan')):6.1f} s   target {TARGETS['retrain']:.0f} s")
    print(f"  reporting DAG end to end      {walls.get('reporting', float('nan')):6.1f} s")
    print(f"  trivial notebook step         {costs['trivial notebook (kernel start + 1 cell)']:6.2f} s   "
          f"target {TARGETS['step_overhead']} s")
    print(f"  pipeline notebook floor       {overhead:6.2f} s   (kernel + mindpulse.pipeline imports + glue)")
    print(f"  with scrapbook imported       {costs['for comparison: import scrapbook + sb.glue']:6.2f} s   (not used: see mindpulse.runs.glue)")
    print(f"  {load()}")
    if args.keep:
        print(f"kept: {home}")
    else:
        import shutil

        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
