"""``mindpulse platform run`` on a home of its own: a temporary folder outside the checkout that
holds data only. The DAGs, notebooks and dashboard come from the installed project.

The home is given a small dataset first (3,000 reference rows, a logistic-regression champion,
1,200 labelled rows), so the platform adds nothing and trains nothing before Airflow starts.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import airflow_support as af
from mindpulse import pipeline, runs
from mindpulse.commands.platform import stop_process_group

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
MINDPULSE = str(Path(sys.executable).parent / "mindpulse")


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINDPULSE_", "AIRFLOW"))}
    env.update({"MINDPULSE_HOME": str(home), "MINDPULSE_PIPELINE_RETRIES": "0", "PYTHONUNBUFFERED": "1"})
    return env


def _wait_for_text(log: Path, text: str, process: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        output = log.read_text(errors="replace") if log.is_file() else ""
        if text in output:
            return output
        if process.poll() is not None:
            raise AssertionError(f"platform run exited {process.returncode} before {text!r}:\n{output[-4000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {text!r} after {timeout:.0f} s:\n{output[-4000:]}")
        time.sleep(1)


def _http_status(url: str, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def test_platform_run_works_on_an_empty_home_outside_the_checkout(tmp_path: Path, demo_template: Path) -> None:
    home = tmp_path / "home"
    assert REPO not in home.resolve().parents
    shutil.copytree(demo_template, home)  # the session's prepare_demo_home(reference_rows=3_000, seed=7), copied
    assert sorted(p.name for p in home.iterdir()) == ["artifacts", "data"]  # no code in the home
    airflow_port, dashboard_port = af.free_port(), af.free_port()
    log = tmp_path / "platform.log"
    env = _env(home)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [MINDPULSE, "platform", "run", "--airflow-port", str(airflow_port), "--dashboard-port", str(dashboard_port),
             "--no-jupyter", "--no-trigger", "--parallelism", "2"],
            env=env, cwd=home, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        banner = _wait_for_text(log, "MindPulse is running", process, timeout=400)
        assert f"Dashboard    http://127.0.0.1:{dashboard_port}" in banner
        assert _http_status(f"http://127.0.0.1:{dashboard_port}/", timeout=120) == 200

        client = af.AirflowClient(f"http://127.0.0.1:{airflow_port}", af.ADMIN_USER,
                                  af.admin_password(home / ".airflow"), timeout=60)  # a loaded machine answers slowly
        for dag_id in pipeline.DAG_IDS:
            dag = af.wait_for_dag(client, dag_id, timeout=240)
            assert Path(dag["fileloc"]).parent == REPO / "dags"
        # A real run of the embedded Airflow finds the project's notebooks and writes into the home.
        client.set_paused(pipeline.REPORTING_DAG_ID, False)
        run = client.trigger(pipeline.REPORTING_DAG_ID, {})
        done = client.wait_for_run(pipeline.REPORTING_DAG_ID, run["dag_run_id"], timeout=600)
        states = af.task_states(client, pipeline.REPORTING_DAG_ID, run["dag_run_id"])
        assert done["state"] == "success", states
        summary = runs.read_summary(runs.run_dir(home / "reports", pipeline.REPORTING_DAG_ID, run["dag_run_id"]))
        assert summary["outcome"] == "reported" and summary["rows"] == 1200

        # `platform stop` finds the run through the home's .airflow/ (it may kill what a loaded machine stops slowly).
        stopped = subprocess.run([MINDPULSE, "platform", "stop"], env=env, cwd=home, capture_output=True, text=True,
                                 timeout=240)
        assert stopped.returncode == 0 and f"(pid {process.pid})" in stopped.stdout, stopped.stdout + stopped.stderr
        process.wait(timeout=30)
        assert not (home / "dags").exists() and not (home / "notebooks").exists()
    finally:
        if process.poll() is None:
            stop_process_group(process.pid, first_signal=signal.SIGINT, leader_only=True, grace=60)


def test_platform_run_names_the_setting_when_the_dag_folder_is_missing(tmp_path: Path) -> None:
    env = {**_env(tmp_path / "home"), "MINDPULSE_DAGS_DIR": str(tmp_path / "nowhere")}
    result = subprocess.run([MINDPULSE, "platform", "run", "--no-jupyter", "--no-dashboard"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"Error: {tmp_path / 'nowhere'}: no such folder (the Airflow DAG files); "
                                     "set MINDPULSE_DAGS_DIR to the project's dags/ folder")
