"""The platform's Airflow environment is built once: `mindpulse platform run` and the tests' Airflow
get the same core settings from mindpulse.airflow_env, and differ only where they mean to."""

from __future__ import annotations

from pathlib import Path

import airflow_support as af
from mindpulse.airflow_env import EMBEDDED_EXECUTOR
from mindpulse.platform.components import airflow_environment


def test_the_platform_and_the_tests_run_airflow_in_the_same_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "SequentialExecutor")  # inherited Airflow settings never leak in
    monkeypatch.setenv("MINDPULSE_SEED", "7")
    dags, notebooks = tmp_path / "dags", tmp_path / "notebooks"
    platform = airflow_environment(tmp_path / "home", tmp_path / "airflow", port=8123, parallelism=2, dags_dir=dags,
                                   notebooks_dir=notebooks)
    tests = af.airflow_env(tmp_path / "airflow", dags_folder=dags, port=8123, parallelism=2)

    differences = {k for k in platform.keys() | tests.keys() if platform.get(k) != tests.get(k)}
    assert differences == {
        "MINDPULSE_HOME", "MINDPULSE_DAGS_DIR", "MINDPULSE_NOTEBOOKS_DIR",  # the platform names its home and code
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE",  # tests trigger their own runs only
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL", "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK",
    }, differences
    assert platform["AIRFLOW__CORE__EXECUTOR"] == tests["AIRFLOW__CORE__EXECUTOR"] == EMBEDDED_EXECUTOR
    assert platform["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{tmp_path / 'airflow' / 'airflow.db'}"
    assert platform["MINDPULSE_HOME"] == str(tmp_path / "home") and platform["MINDPULSE_SEED"] == "7"
    assert platform["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] == "True" and tests["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] == "False"


def test_platform_run_without_schedules_lets_only_triggered_runs_happen(tmp_path: Path) -> None:
    """`platform run --no-schedule`: the scheduler creates no scheduled run, as in the tests' Airflow."""
    env = airflow_environment(tmp_path / "home", tmp_path / "airflow", port=8123, parallelism=2, dags_dir=tmp_path,
                              notebooks_dir=tmp_path, scheduled=False)
    assert env["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] == "False"
