"""The DAG files load in Airflow with no import error, the expected task graph and the pipeline's defaults."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import papermill as pm
import pytest

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "dags"
NOTEBOOKS = REPO / "notebooks"

RETRAIN_EDGES = {
    "sweep_stale_claims": set(),
    "check_production_data": {"sweep_stale_claims"},
    "detect_drift": {"sweep_stale_claims"},
    "decide_retrain": {"check_production_data", "detect_drift"},
    "backup_model": {"decide_retrain"},
    "merge_training_data": {"decide_retrain"},
    "train_and_gate": {"backup_model", "merge_training_data"},
    "archive_production_data": {"train_and_gate"},
    "await_approval": {"train_and_gate"},
    "apply_approval": {"await_approval"},
    "notify": {"archive_production_data", "apply_approval"},
}
REPORTING_EDGES = {
    "check_data_availability": set(),
    "decide_reports": {"check_data_availability"},
    "data_quality_report": {"decide_reports"},
    "data_drift_report": {"decide_reports"},
    "model_performance_report": {"decide_reports"},
    "clean_up_reports": {"check_data_availability"},  # beside the reports: it never touches a run in progress
    "send_summary": {"data_quality_report", "data_drift_report", "model_performance_report", "clean_up_reports"},
}

# Loaded in a subprocess: Airflow reads its configuration once per process.
_LOAD = r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
out = {"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": {}}
for dag in bag.dags.values():
    out["dags"][dag.dag_id] = {
        "schedule": str(dag.schedule),
        "catchup": dag.catchup, "max_active_runs": dag.max_active_runs,
        "native": dag.render_template_as_native_obj, "params": sorted(dag.params.keys()),
        "dagrun_timeout": dag.dagrun_timeout.total_seconds() if dag.dagrun_timeout else None,
        "param_defaults": {k: dag.params[k] for k in dag.params.keys()},
        "tasks": {t.task_id: {"type": type(t).__name__, "module": type(t).__module__,
                              "bases": [c.__name__ for c in type(t).__mro__], "upstream": sorted(t.upstream_task_ids),
                              "trigger_rule": str(t.trigger_rule.value if hasattr(t.trigger_rule, "value") else t.trigger_rule),
                              "retries": t.retries,
                              "execution_timeout": t.execution_timeout.total_seconds() if t.execution_timeout else None,
                              "input_nb": getattr(t, "input_nb", None), "output_nb": getattr(t, "output_nb", None),
                              "parameters": getattr(t, "parameters", None), "kernel": getattr(t, "kernel_name", None)}
                  for t in dag.tasks},
    }
print("JSON:" + json.dumps(out, default=str))
"""


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("airflow-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MINDPULSE_"))}
    env.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False", MINDPULSE_HOME=str(home),
               MINDPULSE_PIPELINE_RETRIES="1", MINDPULSE_RETRAIN_MIN_ROWS="1234",
               MINDPULSE_PIPELINE_TASK_TIMEOUT_MINUTES="45", MINDPULSE_PIPELINE_RUN_TIMEOUT_MINUTES="150")
    result = subprocess.run([sys.executable, "-c", _LOAD, str(DAGS)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("JSON:"))
    return json.loads(line[len("JSON:"):])


def test_dag_files_load_without_import_errors(loaded: dict) -> None:
    assert loaded["errors"] == {}
    assert set(loaded["dags"]) == {"ml_retrain_pipeline", "evidently_reporting_pipeline"}


@pytest.mark.parametrize("dag_id, edges", [("ml_retrain_pipeline", RETRAIN_EDGES),
                                           ("evidently_reporting_pipeline", REPORTING_EDGES)])
def test_task_graph(loaded: dict, dag_id: str, edges: dict[str, set[str]]) -> None:
    tasks = loaded["dags"][dag_id]["tasks"]
    assert set(tasks) == set(edges) | {"fail_if_any_step_failed"}
    for task_id, upstream in edges.items():
        assert set(tasks[task_id]["upstream"]) == upstream, task_id
    # The watcher sees every other task but the gates (a gate saying no would skip it), fails the
    # run when one failed, and is never retried.
    watcher = tasks["fail_if_any_step_failed"]
    # (the approval request is a gate too: Airflow's ApprovalOperator can skip what follows it)
    assert set(watcher["upstream"]) == {task_id for task_id in edges if not task_id.startswith(("decide_", "await_"))}
    assert watcher["trigger_rule"] == "one_failed" and watcher["retries"] == 0


@pytest.mark.parametrize("dag_id, schedule, final", [("ml_retrain_pipeline", "@daily", ("apply_approval", "notify")),
                                                     ("evidently_reporting_pipeline", "0 */6 * * *",
                                                      ("clean_up_reports", "send_summary"))])
def test_dag_defaults(loaded: dict, dag_id: str, schedule: str, final: tuple[str, ...]) -> None:
    dag = loaded["dags"][dag_id]
    assert dag["schedule"] == schedule
    assert dag["catchup"] is False and dag["max_active_runs"] == 1 and dag["native"] is True
    assert dag["dagrun_timeout"] == 150 * 60  # MINDPULSE_PIPELINE_RUN_TIMEOUT_MINUTES
    for task_id, task in dag["tasks"].items():
        assert task["execution_timeout"] == 45 * 60, task_id  # MINDPULSE_PIPELINE_TASK_TIMEOUT_MINUTES
        if task_id != "fail_if_any_step_failed":
            assert task["retries"] == 1, task_id  # MINDPULSE_PIPELINE_RETRIES
        expected_rule = "all_done" if task_id in final else ("one_failed" if task_id == "fail_if_any_step_failed" else "all_success")
        if task_id == "decide_retrain":  # a forced run goes on when the drift step failed
            expected_rule = "all_done"
        assert task["trigger_rule"] == expected_rule, task_id


def test_retrain_params_default_to_the_settings(loaded: dict) -> None:
    dag = loaded["dags"]["ml_retrain_pipeline"]
    assert dag["params"] == ["approval_timeout_hours", "candidates", "feature_drift_threshold", "force", "min_rows",
                             "prediction_drift_threshold", "seed"]
    assert dag["param_defaults"]["approval_timeout_hours"] == 72  # MINDPULSE_APPROVAL_TIMEOUT_HOURS's default
    assert dag["param_defaults"]["min_rows"] == 1234  # MINDPULSE_RETRAIN_MIN_ROWS in the parsing process
    assert dag["param_defaults"]["force"] is False
    assert dag["param_defaults"]["feature_drift_threshold"] == 0.3  # "more than 30 % of features drifted"
    assert dag["param_defaults"]["prediction_drift_threshold"] == 0.1


def test_every_notebook_task_comes_from_the_factory(loaded: dict) -> None:
    for dag in loaded["dags"].values():
        for task_id, task in dag["tasks"].items():
            if task["type"] != "NotebookOperator":
                assert task_id.startswith(("decide_", "fail_if", "sweep_", "await_", "apply_")), task_id
                continue
            assert task["module"] == "mindpulse.orchestration"  # the provider's operator, kernels on IPC
            assert "PapermillOperator" in task["bases"]
            assert task["kernel"] == "python3"
            # The output is a function of the DAG, the run (run_id, not ds/ts) and the step.
            assert task["output_nb"] == "{{ mindpulse_run_dir(dag.dag_id, run_id) }}/" + f"{task_id}.ipynb"
            templates = json.dumps([task["output_nb"], task["parameters"]])
            assert not re.search(r"\b(ds|ts|ds_nodash|ts_nodash|logical_date|execution_date)\b", templates), templates
            assert task["parameters"]["run_dir"] == "{{ mindpulse_run_dir(dag.dag_id, run_id) }}"
            relative = task["input_nb"].split("'")[1]
            assert (NOTEBOOKS / relative).is_file(), relative


def test_dag_files_import_nothing_heavy() -> None:
    """Parsing must stay cheap: loading every DAG file imports no pandas, scikit-learn, Evidently or heavy
    mindpulse module (what the scheduler's parse actually imports, not what the files' text says)."""
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); import runpy; "
             "[runpy.run_path(p) for p in sys.argv[2:]]; "
             "print(sorted(m for m in ('pandas', 'sklearn', 'evidently', 'xgboost', 'mindpulse.pipeline', "
             "'mindpulse.store', 'mindpulse.train', 'scrapbook') if m in sys.modules))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    result = subprocess.run([sys.executable, "-c", probe, str(DAGS), *map(str, sorted(DAGS.glob("*.py")))],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    # pandas comes with the papermill provider itself; the rest must not be imported.
    loaded_modules = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    assert set(loaded_modules) <= {"pandas"}, loaded_modules


def test_the_dags_commit_every_step_that_changes_live_state(loaded: dict) -> None:
    """Run by hand such a notebook only previews; the DAG passes commit=True, and only to those."""
    committing = set()
    for dag in loaded["dags"].values():
        for task_id, task in dag["tasks"].items():
            if task["type"] != "NotebookOperator":
                continue
            declared = pm.inspect_notebook(str(NOTEBOOKS / task["input_nb"].split("'")[1]))
            takes_commit = declared.get("commit", {}).get("default") == "False"
            assert (task["parameters"].get("commit") is True) == takes_commit, task_id
            if takes_commit:
                committing.add(task_id)
    assert committing == {"merge_training_data", "train_and_gate", "archive_production_data", "clean_up_reports"}
