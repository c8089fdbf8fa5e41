"""What the inline evidence (figures and whole tables) adds to each pipeline step.

    .venv/bin/python benchmarks/bench_evidence.py [--home DIR]

Prepares a small demo home (3,000 reference rows, a logistic-regression champion, 1,200
labelled and 300 unlabelled production rows) unless ``--home`` names one. Then, for each step,
a fresh process does what the step's notebook does: it runs the step (untimed, so the step's
own imports are loaded, as in the kernel), then times the notebook's added cells: importing
``mindpulse.plots`` and the evidence module, matplotlib's import on the first figure, gathering
the data, rendering every PNG and every table's HTML. Printed per step: wall time and CPU time
of the process (on a shared machine the wall time mostly measures the wait for a core; the CPU
time is what the step costs on an idle one), and the load average. Target: at most 1 s a step.

Most of it is matplotlib's import. Whether its bytecode is compiled matters threefold: with
``PYTHONDONTWRITEBYTECODE=1`` and a venv installed by uv (which compiles nothing unless given
``--compile-bytecode``), every kernel compiles matplotlib from source (~1.0 s CPU instead of
~0.3 s). The first line printed says which case was measured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

# step: (DAG, the step's call, the evidence cell's call), in the order the DAGs run them.
STEPS = {
    "check_data_availability": ("reporting", "pipeline.check_data_availability(run)",
                                'evidence.checks(run, threshold=result.outputs["min_rows"], reporting=True, sentence=result.message)'),
    "data_quality_report": ("reporting", "pipeline.data_quality_report(run)", "evidence.quality(run)"),
    "data_drift_report": ("reporting", "pipeline.data_drift_report(run)", "evidence.drift(run, pipeline.current_data(run))"),
    "model_performance_report": ("reporting", "pipeline.model_performance_report(run)",
                                 "evidence.performance(run, pipeline.current_data(run))"),
    "send_summary": ("reporting", "pipeline.finish_reporting(run)", "evidence.summary(run)"),
    "check_production_data": ("retrain", "pipeline.check_production_data(run)",
                              'evidence.checks(run, threshold=result.outputs["min_rows"], reporting=False, sentence=result.message)'),
    "detect_drift": ("retrain", "pipeline.detect_drift(run)", "evidence.drift(run)"),
    "merge_training_data": ("retrain", "pipeline.merge_training_data(run)", None),
    "train_and_gate": ("retrain", 'pipeline.train_and_gate(run, seed=7, candidates=["logistic_regression"])',
                       "evidence.training(run, result.outputs)"),
    "archive_production_data": ("retrain", "pipeline.archive_production_data(run)", None),
    "notify": ("retrain", "pipeline.finish_retrain(run)", "evidence.summary(run)"),
}
PROBE = """
import json, sys, time
from mindpulse import pipeline, runs
from mindpulse.settings import Settings
settings = Settings(home=sys.argv[1])
dag = pipeline.RETRAIN_DAG_ID if sys.argv[2] == "retrain" else pipeline.REPORTING_DAG_ID
run = pipeline.open_run(dag, sys.argv[3], settings=settings)
result = {step}
if {evidence!r} is None:
    print(json.dumps(None)); sys.exit()
wall, cpu = time.perf_counter(), time.process_time()
from mindpulse import plots
from mindpulse.pipeline import evidence
plots.show_whole_tables()
shown = {evidence}
for figure in shown.figures:
    figure._repr_png_()
for table in shown.tables.values():
    table._repr_html_()
print(json.dumps([time.perf_counter() - wall, time.process_time() - cpu, len(shown.figures), len(shown.tables)]))
"""


def main() -> None:
    from mindpulse import pipeline
    from mindpulse.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path)
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="mindpulse-bench-evidence-"))
    from mindpulse.store import migrate_store

    migrate_store(Settings(home=home))  # the deploy step
    pipeline.prepare_demo_home(Settings(home=home), reference_rows=3_000, seed=7, candidates=["logistic_regression"],
                               unlabelled_rows=300)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINDPULSE_")}
    run_id = "manual__" + datetime.now(timezone.utc).isoformat(timespec="seconds")  # a new run: nothing frozen yet
    import matplotlib

    compiled = any(Path(matplotlib.__file__).parent.glob("__pycache__/*.pyc"))
    print(f"Home {home}; matplotlib bytecode {'compiled' if compiled else 'NOT compiled (imported from source)'}\n")
    print(f"{'step':<26} {'figures':>7} {'tables':>6} {'wall s':>7} {'CPU s':>6} {'load':>5}")
    worst = 0.0
    for step, (dag, call, evidence) in STEPS.items():
        probe = PROBE.replace("{step}", call).replace("{evidence!r}", repr(evidence)).replace("{evidence}", str(evidence))
        done = subprocess.run([sys.executable, "-c", probe, str(home), dag, run_id], capture_output=True, text=True,
                              env=env)
        if done.returncode:
            raise SystemExit(f"{step} failed:\n{done.stderr[-3000:]}")
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        if figures is None:
            continue
        wall, cpu, n_figures, n_tables = figures
        worst = max(worst, cpu)
        print(f"{step:<26} {n_figures:>7} {n_tables:>6} {wall:>7.2f} {cpu:>6.2f} {os.getloadavg()[0]:>5.1f}")
    print(f"\nLargest CPU time added to a step: {worst:.2f} s (target: at most 1 s)")


if __name__ == "__main__":
    main()
