"""Where a DAG run's time goes, and how it compares with the same work done directly.

    .venv/bin/python benchmarks/bench_pipeline.py [--reference 27901] [--production 1000] [--repeats 3]

1. Per-step floor (median of ``--repeats``): a trivial notebook through Papermill (kernel start,
   one cell, output written) and the floor of every pipeline notebook (its imports and one glue).
2. A home with ``--reference`` reference rows, a champion trained on them and ``--production``
   labelled production rows (half of the days in exam season) is prepared (not timed) and copied.
3. **Direct**: on the copy, a new Python process runs every step of the retrain DAG, then another
   those of the reporting DAG, in the DAG's order: the notebooks' own cells (with the parameters
   the DAG passes, read from the DAG file) and the Python tasks' functions, imports paid once.
4. **Airflow**: ``airflow standalone`` on the original home, configured as ``make run``
   configures it, runs the retrain DAG (timed from the REST trigger to the end of the run), then
   the reporting DAG. Each task's time is split into: waiting to start (from its upstream's end),
   task start (process, DAG parse, operator set-up, Papermill), kernel start, imports (the
   notebook's import cells), work (its other cells), output (the record written, the kernel
   stopped, the task closed).
5. The ratio of each DAG's wall time to the direct time of its steps (targets: retrain <= 1.3,
   reporting <= 1.5).

The load average is printed with the figures: on a shared machine, compare ratios measured in
one run rather than seconds across runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
RATIO_TARGETS = {"retrain": 1.3, "reporting": 1.5}
DIRECT_RUN_ID = "direct__benchmark"


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
    """Median seconds of a trivial notebook and of the pipeline notebooks' floor, as the tasks run them."""
    import papermill as pm

    from mindpulse.kernels import IPCKernelManager

    cases = {
        "trivial notebook (kernel start + 1 cell)": ["y = x + 1"],
        "pipeline floor: imports + runs.glue": ["from mindpulse import pipeline, runs", "runs.glue('y', x + 1)"],
    }
    medians = {}
    for name, cells in cases.items():
        source = notebook(folder / "bench.ipynb", cells)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            pm.execute_notebook(str(source), str(folder / "bench.out.ipynb"), parameters={"x": 2}, kernel_name="python3",
                                progress_bar=False, log_output=False, kernel_manager_class=IPCKernelManager)
            times.append(time.perf_counter() - start)
        medians[name] = statistics.median(times)
        print(f"  {name:<45} median {medians[name]:5.2f} s  (min {min(times):.2f}, max {max(times):.2f}; {load()})", flush=True)
    return medians


# ---------------------------------------------------------------------------------------------
# The DAGs' steps, read from the DAG files, so that the direct run does what the DAG does.

PARAM = re.compile(r"^\{\{\s*params\.(\w+)\s*\}\}$")
NOTEBOOK = re.compile(r"mindpulse_notebook\('([^']+)'\)")
# The DAGs' Python tasks and the functions they call (their bodies in dags/*.py).
PYTHON_TASKS = {
    "sweep_stale_claims": "sweep",
    "decide_retrain": "decide_retrain",
    "decide_reports": "decide_reports",
}
WATCHER = "fail_if_any_step_failed"


def load_dag(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"bench_dag_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def dag_plan(dag: Any) -> list[dict[str, Any]]:
    """Every task of ``dag`` in an order its dependencies allow, with what it runs."""
    params = {name: dag.params[name] for name in dag.params}
    plan = []
    for task in dag.topological_sort():
        if task.task_id == WATCHER:
            continue
        if task.task_id in PYTHON_TASKS:
            plan.append({"task_id": task.task_id, "kind": "python", "call": PYTHON_TASKS[task.task_id], "params": params})
            continue
        match = NOTEBOOK.search(str(task.input_nb))
        if not match:
            raise ValueError(f"{dag.dag_id}.{task.task_id}: neither a notebook step nor a known Python task")
        values = {}
        for name, value in task.parameters.items():
            if name in ("dag_id", "run_id", "run_dir"):
                continue
            found = PARAM.match(str(value))
            values[name] = params[found.group(1)] if found else value
        plan.append({"task_id": task.task_id, "kind": "notebook", "notebook": match.group(1), "parameters": values})
    return plan


# ---------------------------------------------------------------------------------------------
# Direct: the same steps in one process (run as a child: ``--direct PLAN``).

def _as_json(data: dict[str, Any]) -> dict[str, Any]:
    """Binary outputs (PNG figures) base64-encoded, as a kernel sends them."""
    import base64

    return {mime: base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value
            for mime, value in data.items()}


def run_cells_in_process(shell: Any, source: Path, output: Path, parameters: dict[str, Any]) -> None:
    """Run a notebook's code cells in ``shell`` (parameters injected after the parameters cell) and
    keep its displayed outputs (the glued values among them) in ``output``, as Papermill would."""
    import nbformat
    from IPython.utils.capture import capture_output

    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        code = cell.source
        if "parameters" in cell.metadata.get("tags", []):
            code += "\n" + "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
        with capture_output(display=True) as captured:
            result = shell.run_cell(code, store_history=False)
        result.raise_error()
        cell.outputs = [nbformat.v4.new_output("display_data", data=_as_json(out.data), metadata=out.metadata or {})
                        for out in captured.outputs]
    output.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, output)


def direct(plan_file: Path) -> int:
    """Child process: run each planned DAG's steps here, print the seconds as JSON."""
    start = time.perf_counter()
    from IPython.core.interactiveshell import InteractiveShell

    from mindpulse import pipeline, runs
    from mindpulse.settings import Settings

    imports = time.perf_counter() - start
    shell = InteractiveShell.instance()
    settings = Settings()
    plans = json.loads(plan_file.read_text())
    result: dict[str, Any] = {"imports": imports, "dags": {}}
    for dag_id, plan in plans.items():
        run_dir = runs.run_dir(settings.reports_dir, dag_id, DIRECT_RUN_ID)
        run_dir.mkdir(parents=True, exist_ok=True)
        steps: dict[str, float] = {}
        proceed = True
        for step in plan:
            begin = time.perf_counter()
            if step["kind"] == "python":
                params = step["params"]
                if step["call"] == "sweep":
                    pipeline.sweep_before_run(dag_id, DIRECT_RUN_ID, str(run_dir))
                elif step["call"] == "decide_retrain":
                    proceed = pipeline.decide_retrain(
                        run_dir, min_rows=params["min_rows"], feature_drift_threshold=params["feature_drift_threshold"],
                        prediction_drift_threshold=params["prediction_drift_threshold"], force=params["force"]).proceed
                elif step["call"] == "decide_reports":
                    proceed = pipeline.decide_reports(run_dir)
            elif proceed or step["task_id"] in ("notify", "clean_up_reports", "send_summary"):
                parameters = {"dag_id": dag_id, "run_id": DIRECT_RUN_ID, "run_dir": str(run_dir), **step["parameters"]}
                run_cells_in_process(shell, settings.notebooks_dir / step["notebook"],
                                     runs.notebook_path(run_dir, step["task_id"]), parameters)
            steps[step["task_id"]] = time.perf_counter() - begin
        result["dags"][dag_id] = {"steps": steps, "proceed": proceed}
    print(json.dumps(result))
    return 0


def time_direct(home: Path, plans: dict[str, list[dict[str, Any]]], folder: Path) -> dict[str, Any]:
    plan_file = folder / "plan.json"
    plan_file.write_text(json.dumps(plans, default=str))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINDPULSE_")}
    env["MINDPULSE_HOME"] = str(home)
    done = subprocess.run([sys.executable, __file__, "--direct", str(plan_file)], env=env, cwd=home,
                          capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"the direct run failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# Airflow: the DAG run and each task's breakdown.

def when(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return (when(end) - when(start)).total_seconds()


IMPORT_LINE = re.compile(r"^(from \S+ import .+|import .+|#.*|)$")


def notebook_breakdown(path: Path) -> dict[str, Any] | None:
    """Papermill's timings in an executed notebook: its start and end, kernel start, import cells, other cells."""
    if not path.is_file():
        return None
    nb = json.loads(path.read_text(encoding="utf-8"))
    meta = nb.get("metadata", {}).get("papermill", {})
    cells = [c for c in nb["cells"] if c["cell_type"] == "code" and c.get("metadata", {}).get("papermill", {}).get("start_time")]
    if not cells or not meta.get("start_time"):
        return None
    imports = work = 0.0
    for cell in cells:
        duration = cell["metadata"]["papermill"].get("duration") or 0.0
        lines = "".join(cell["source"]).splitlines()
        setup_only = all(IMPORT_LINE.match(line.strip()) or line.startswith("plots.show_whole_tables") for line in lines)
        if setup_only:
            imports += duration
        else:
            work += duration
    first = cells[0]["metadata"]["papermill"]["start_time"]
    return {"start": meta["start_time"], "end": meta["end_time"], "kernel": seconds_between(meta["start_time"], first),
            "imports": imports, "work": work}


COLUMNS = ("wait", "task start", "kernel", "imports", "work", "output", "total")


def breakdown(client: Any, dag: Any, dag_id: str, run_id: str, run_dir: Path) -> dict[str, dict[str, float]]:
    tis = {ti["task_id"]: ti for ti in client.task_instances(dag_id, run_id)}
    rows: dict[str, dict[str, float]] = {}
    for task_id, ti in sorted(tis.items(), key=lambda item: item[1].get("start_date") or "9"):
        if not ti.get("start_date") or not ti.get("end_date"):
            continue
        upstream_ends = [tis[u]["end_date"] for u in dag.get_task(task_id).upstream_task_ids if tis.get(u, {}).get("end_date")]
        ready = max(upstream_ends) if upstream_ends else ti.get("queued_when") or ti["start_date"]
        row = {"wait": seconds_between(ready, ti["start_date"]), "total": ti.get("duration") or 0.0}
        nb = notebook_breakdown(run_dir / f"{task_id}.ipynb")
        if nb:
            row.update({"task start": seconds_between(ti["start_date"], nb["start"]), "kernel": nb["kernel"],
                        "imports": nb["imports"], "work": nb["work"], "output": seconds_between(nb["end"], ti["end_date"])})
        else:
            row.update({"work": row["total"]})
        rows[task_id] = row
    return rows


def idle_cpu(pid: int, seconds: float) -> float:
    """CPU seconds per second that the process tree of ``pid`` used while nothing ran."""
    import psutil
    from bench_scale import tree_cpu

    root = psutil.Process(pid)
    before = tree_cpu(root)
    time.sleep(seconds)
    return (tree_cpu(root) - before) / seconds


def print_breakdown(rows: dict[str, dict[str, float]]) -> None:
    print(f"  {'task':<28}" + "".join(f"{c:>11}" for c in COLUMNS))
    for task_id, row in rows.items():
        print(f"  {task_id:<28}" + "".join(f"{row[c]:10.1f}s" if row.get(c) is not None else f"{'-':>11}" for c in COLUMNS))
    sums = {c: sum(r.get(c) or 0.0 for r in rows.values()) for c in COLUMNS}
    print(f"  {'sum over tasks':<28}" + "".join(f"{sums[c]:10.1f}s" for c in COLUMNS))


def time_dag(client: Any, dag: Any, reports_dir: Path) -> tuple[float, dict[str, dict[str, float]]]:
    from mindpulse import runs

    start = time.perf_counter()
    run = client.trigger(dag.dag_id, {}, note="benchmark")
    done = client.wait_for_run(dag.dag_id, run["dag_run_id"], timeout=1800, poll=0.25)
    wall = time.perf_counter() - start
    print(f"\n{dag.dag_id}: {done['state']} in {wall:.1f} s from the REST trigger to the end of the run "
          f"(run start to end {seconds_between(done.get('start_date'), done.get('end_date')) or float('nan'):.1f} s; {load()})")
    rows = breakdown(client, dag, dag.dag_id, run["dag_run_id"], runs.run_dir(reports_dir, dag.dag_id, run["dag_run_id"]))
    print_breakdown(rows)
    return wall, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=int, default=27_901, help="reference rows (the real file has 27,901)")
    parser.add_argument("--production", type=int, default=1_000, help="labelled production rows")
    parser.add_argument("--repeats", type=int, default=3, help="runs per notebook floor case (median shown)")
    parser.add_argument("--port", type=int, default=0, help="Airflow port (default: a free one)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary homes (their reports) afterwards")
    parser.add_argument("--direct", type=Path, help=argparse.SUPPRESS)  # the child process of the direct run
    args = parser.parse_args()
    if args.direct:
        return direct(args.direct)

    from mindpulse import pipeline
    from mindpulse.airflow_client import AirflowClient
    from mindpulse.commands.platform import PASSWORD_FILE, Service, airflow_environment
    from mindpulse.settings import Settings
    from mindpulse.store import migrate_store

    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}, "
          f"Python {platform.python_version()}; {load()}")
    base = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    print(f"\n1. Floor of a notebook step ({args.repeats} runs each)")
    costs = step_costs(base, args.repeats)

    home = base / "home"  # data only: the DAGs and notebooks are the project's
    settings = Settings(home=home)
    migrate_store(settings)  # the deploy step
    print(f"\n2. Preparing {home}: {args.reference} reference rows, a champion, {args.production} labelled production rows ...",
          flush=True)
    start = time.perf_counter()
    pipeline.prepare_demo_home(settings, reference_rows=args.reference, days=4, rows_per_day=args.production // 4,
                               drift_days=2)
    direct_home = base / "direct-home"
    shutil.copytree(home, direct_home)
    print(f"   prepared in {time.perf_counter() - start:.0f} s (not part of the figures)")

    port = args.port
    if not port:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
    airflow_home = home / ".airflow"
    env = airflow_environment(home, airflow_home, port=port, parallelism=4, dags_dir=settings.dags_dir,
                              notebooks_dir=settings.notebooks_dir)
    env["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "False"  # only the runs triggered here
    os.environ.update({k: v for k, v in env.items() if k.startswith("AIRFLOW")})  # to read the DAG files here
    dags = {dag.dag_id: dag for dag in (load_dag(settings.dags_dir / "ml_retrain_pipeline.py"),
                                        load_dag(settings.dags_dir / "evidently_reporting_pipeline.py"))}
    order = (pipeline.RETRAIN_DAG_ID, pipeline.REPORTING_DAG_ID)

    print("\n3. Direct: each DAG's steps in one new Python process, imports paid once", flush=True)
    directs: dict[str, float] = {}
    for dag_id in order:  # one after the other, as the DAGs run below; nothing cached from one to the next
        measured = time_direct(direct_home, {dag_id: dag_plan(dags[dag_id])}, base)
        steps = measured["dags"][dag_id]["steps"]
        directs[dag_id] = sum(steps.values()) + measured["imports"]
        print(f"  {dag_id}: {directs[dag_id]:.1f} s (imports {measured['imports']:.1f} s) "
              + ", ".join(f"{k} {v:.1f}" for k, v in steps.items()))

    print("\n4. Airflow standalone (as `make run` runs it)", flush=True)
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
        password = json.loads((airflow_home / PASSWORD_FILE).read_text())["admin"]
        client = AirflowClient(url, "admin", password, timeout=60)
        for dag_id in order:
            while True:
                try:
                    client.get_dag(dag_id)
                    break
                except Exception:
                    time.sleep(1)
            client.set_paused(dag_id, False)
        for dag_id in order:
            walls[dag_id], _ = time_dag(client, dags[dag_id], settings.reports_dir)
        idle = idle_cpu(airflow.pid, 30)
        print(f"\n   idle afterwards: the standalone's processes used {idle:.2f} CPU seconds per second ({load()})")
    finally:
        airflow.stop()

    print("\n5. Summary: DAG wall time / direct time of the same steps")
    for name, dag_id in zip(("retrain", "reporting"), order):
        ratio = walls.get(dag_id, float("nan")) / directs[dag_id]
        print(f"  {name:<10} Airflow {walls.get(dag_id, float('nan')):6.1f} s   direct {directs[dag_id]:6.1f} s   "
              f"ratio {ratio:4.2f}   target <= {RATIO_TARGETS[name]}")
    print(f"  notebook floor: trivial {costs['trivial notebook (kernel start + 1 cell)']:.2f} s, "
          f"pipeline imports + glue {costs['pipeline floor: imports + runs.glue']:.2f} s")
    print(f"  {load()}")
    if args.keep:
        print(f"kept: {base}")
    else:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
