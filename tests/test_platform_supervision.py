"""``mindpulse platform run`` is loud when one of its programs dies: it names it, shows why, and exits non-zero.

Seen: a full disk killed the scheduler and the DAG processor while ``airflow standalone`` and its
API server stayed up; for 23 minutes the runs read "running" and ``platform run`` printed nothing.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import typer

import airflow_support as af
from airflow_support import process_family as _family
from mindpulse.commands.platform import STATE_FILE
from mindpulse.platform import supervisor

MINDPULSE = str(Path(sys.executable).parent / "mindpulse")


@pytest.mark.airflow
@pytest.mark.slow
def test_a_killed_scheduler_stops_the_platform_with_its_name_and_the_last_lines_of_its_output(demo_template: Path,
                                                                                            tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(demo_template, home)  # reference, champion and pending rows: nothing to prepare
    log = tmp_path / "platform.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINDPULSE_", "AIRFLOW"))}
    env.update({"MINDPULSE_HOME": str(home), "PYTHONUNBUFFERED": "1"})
    with open(log, "wb") as out:
        process = subprocess.Popen([MINDPULSE, "platform", "run", "--airflow-port", str(af.free_port()), "--no-dashboard", "--no-api",
                                    "--no-jupyter", "--no-trigger", "--no-schedule", "--parallelism", "1"],
                                   env=env, cwd=home, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    family: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 400
        while "MindPulse is running" not in log.read_text(errors="replace"):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")[-4000:]
            time.sleep(1)
        standalone = next(p for p in psutil.Process(process.pid).children() if p.cmdline()[-1:] == ["standalone"])
        deadline = time.monotonic() + 120
        while set(supervisor.airflow_components(standalone.pid)) != set(supervisor.AIRFLOW_COMPONENTS):
            assert time.monotonic() < deadline, supervisor.airflow_components(standalone.pid)
            time.sleep(1)
        time.sleep(5)  # the platform watches them (a user's kill comes later still)
        scheduler = supervisor.airflow_components(standalone.pid)["scheduler"]
        family[:] = _family(process.pid)
        scheduler.kill()
        started = time.monotonic()
        process.wait(timeout=120)
        noticed = time.monotonic() - started
    finally:  # whatever happened, nothing of this platform is left running (its services have sessions of their own)
        for member in family or _family(process.pid):
            try:
                member.kill()
            except psutil.Error:
                pass
        if process.poll() is None:
            process.kill()
        process.wait()
    output = log.read_text(errors="replace")
    assert process.returncode == 1, output[-4000:]
    assert f"Airflow's scheduler (pid {scheduler.pid}) died. The last lines of its output" in output
    assert f"Error: Airflow's scheduler died (pid {scheduler.pid}); MindPulse stops." in output
    assert "Stopped: airflow." in output
    assert noticed < 60, noticed  # at once (a 2 s watch), then the stop of the rest
    deadline = time.monotonic() + 30
    while [p for p in family if _alive(p)]:
        assert time.monotonic() < deadline, [(p.pid, p.cmdline()) for p in family if _alive(p)]
        time.sleep(0.5)
    assert not (home / ".airflow" / STATE_FILE).exists()


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_a_dead_dashboard_is_named_with_its_output_and_the_exit_is_non_zero(tmp_path: Path, capsys) -> None:
    airflow = supervisor.Service("airflow", ["sleep", "600"], env=dict(os.environ), cwd=tmp_path, log=tmp_path / "a.log",
                               airflow_standalone=True).start()
    dashboard = supervisor.Service("dashboard", ["sh", "-c", "echo starting; echo 'OSError: port taken'; exit 3"],
                                 env=dict(os.environ), cwd=tmp_path, log=tmp_path / "d.log").start()
    try:
        with pytest.raises(typer.Exit) as stopped:
            supervisor.supervise([airflow, dashboard], tmp_path, interval=0.2)
    finally:
        airflow.stop()
    err = capsys.readouterr().err
    assert stopped.value.exit_code == 1
    assert f"dashboard (pid {dashboard.pid}) died. The last lines of its output ({tmp_path / 'd.log'}):" in err
    assert "  OSError: port taken" in err
    assert f"Error: dashboard died (pid {dashboard.pid}); MindPulse stops. See {tmp_path / 'd.log'}" in err


def test_a_component_that_died_on_a_full_disk_is_reported_as_a_full_disk_naming_the_home(tmp_path: Path, capsys) -> None:
    airflow = supervisor.Service("airflow", ["sleep", "600"], env=dict(os.environ), cwd=tmp_path, log=tmp_path / "a.log",
                               airflow_standalone=True).start()
    jupyter = supervisor.Service("jupyterlab", ["sh", "-c", "echo 'OSError: [Errno 28] No space left on device'; exit 1"],
                               env=dict(os.environ), cwd=tmp_path, log=tmp_path / "j.log").start()
    try:
        with pytest.raises(typer.Exit):
            supervisor.supervise([airflow, jupyter], tmp_path, interval=0.2)
    finally:
        airflow.stop()
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"Error: jupyterlab died: the disk holding {tmp_path} is full (")


def test_platform_run_refuses_to_start_on_a_full_disk_naming_the_folder(tmp_path: Path, capsys) -> None:
    with pytest.raises(typer.Exit) as refused:
        supervisor.check_free_space(tmp_path, minimum=shutil.disk_usage(tmp_path).free * 2)
    assert refused.value.exit_code == 2
    assert capsys.readouterr().err.startswith(f"Error: the disk holding {tmp_path} is full (")


def test_the_components_of_standalone_are_found_by_their_command_or_title(tmp_path: Path) -> None:
    """The API server retitles itself ``airflow api_server -- host:... port:...`` (setproctitle)."""
    code = ("import subprocess, sys, time; "
            "[subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', name]) "
            "for name in ('scheduler', 'something-else')]; "
            "subprocess.Popen([sys.executable, '-c', 'import setproctitle, time; "
            "setproctitle.setproctitle(\"airflow api_server -- host:127.0.0.1 port:1\"); time.sleep(600)']); "
            "print('ready', flush=True); time.sleep(600)")
    leader = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert leader.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 30
        while len(supervisor.airflow_components(leader.pid)) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert sorted(supervisor.airflow_components(leader.pid)) == ["api-server", "scheduler"]
    finally:
        os.killpg(leader.pid, signal.SIGKILL)
        leader.wait()
