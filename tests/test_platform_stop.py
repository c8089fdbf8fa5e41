"""``mindpulse platform stop`` returns as soon as the platform has stopped.

The shell or program that started ``platform run`` is its parent and reaps it only when it next
waits for it: until then the stopped platform is a zombie, a pid that still answers ``kill(pid, 0)``.
``platform stop`` runs in another process and must not wait on that zombie until its timeout
(90 s by default), then report a kill that never happened.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

from mindpulse.commands.platform import AIRFLOW_DIR, STATE_FILE
from mindpulse.platform.supervisor import pid_alive

MINDPULSE = str(Path(sys.executable).parent / "mindpulse")
# Stands in for `platform run`: ends on SIGTERM, as the platform does once its services have stopped.
STOPS_ON_SIGTERM = "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *_: sys.exit(0)); print('ready', flush=True); time.sleep(600)"


def _stand_in(home: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", STOPS_ON_SIGTERM], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    (home / AIRFLOW_DIR).mkdir(parents=True)
    (home / AIRFLOW_DIR / STATE_FILE).write_text(json.dumps({"pid": process.pid, "services": {}}))
    return process


def test_an_ended_process_not_yet_reaped_by_its_parent_is_not_alive() -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while psutil.Process(process.pid).status() != psutil.STATUS_ZOMBIE:  # ended, not reaped
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert pid_alive(process.pid) is False
    process.wait()
    assert pid_alive(os.getpid()) is True


def test_platform_stop_returns_once_the_platform_has_ended_though_its_parent_has_not_reaped_it(tmp_path: Path) -> None:
    platform = _stand_in(tmp_path)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MINDPULSE_")}, "MINDPULSE_HOME": str(tmp_path)}
    try:
        # This test is the stand-in's parent and does not reap it while `platform stop` runs.
        stopped = subprocess.run([MINDPULSE, "platform", "stop", "--timeout", "60"], env=env, capture_output=True,
                                 text=True, timeout=120)
    finally:
        platform.kill()
        platform.wait()
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() == f"MindPulse (pid {platform.pid}) stopped."
    assert platform.returncode == 0  # it ended on the SIGTERM, not on the kill above


def test_the_services_take_ctrl_c_even_when_the_platform_started_with_it_ignored(tmp_path: Path) -> None:
    """A background job of a script starts with SIGINT ignored; `airflow standalone` is stopped with it."""
    import signal

    log = tmp_path / "probe.log"
    code = ("import os; from pathlib import Path; from mindpulse.platform.supervisor import Service, accept_interrupts; "
            "accept_interrupts(); "
            f"s = Service('probe', ['grep', 'SigIgn', '/proc/self/status'], env=dict(os.environ), cwd=Path({str(tmp_path)!r}), "
            f"log=Path({str(log)!r})).start(); s.process.wait()")
    started = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert started.returncode == 0, started.stderr[-2000:]
    ignored = int(log.read_text().split()[-1], 16)
    assert not ignored & (1 << (signal.SIGINT - 1)), log.read_text()


# Stands in for `airflow triggerer` while it stops: a log server child that runs until killed, and a
# trigger runner child that has exited (not reaped: the stalled case) or still runs (cleaning up).
TRIGGERER = """
import os, sys, time
if os.fork() == 0:
    time.sleep(600); os._exit(0)
if os.fork() == 0:
    if os.environ["RUNNER"] == "exited":
        os._exit(0)
    time.sleep(600); os._exit(0)
print("ready", flush=True)
time.sleep(600)
"""


def _triggerer(runner: str, name: str = "triggerer") -> tuple[subprocess.Popen[str], list[psutil.Process]]:
    process = subprocess.Popen([sys.executable, "-c", TRIGGERER, name], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "RUNNER": runner}, start_new_session=True)
    assert process.stdout.readline().strip() == "ready"
    children = psutil.Process(process.pid).children()
    deadline = time.monotonic() + 30
    while runner == "exited" and not any(child.status() == psutil.STATUS_ZOMBIE for child in children):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return process, children


def test_a_triggerer_whose_trigger_runner_has_exited_is_ended_with_its_log_server() -> None:
    from mindpulse.platform.supervisor import end_stalled_triggerers

    process, children = _triggerer("exited")
    try:
        assert end_stalled_triggerers(process.pid) == [process.pid]
        assert process.wait(timeout=30) == -9
        psutil.wait_procs(children, timeout=30)
        assert not any(child.is_running() and child.status() != psutil.STATUS_ZOMBIE for child in children)
    finally:
        _kill_group(process)


def test_a_triggerer_still_cleaning_up_or_another_program_is_left_alone() -> None:
    from mindpulse.platform.supervisor import end_stalled_triggerers

    for runner, name in (("running", "triggerer"), ("exited", "scheduler")):
        process, _ = _triggerer(runner, name)
        try:
            assert end_stalled_triggerers(process.pid) == []
            assert process.poll() is None, (runner, name)
        finally:
            _kill_group(process)


def _kill_group(process: subprocess.Popen[str]) -> None:
    try:
        os.killpg(process.pid, 9)
    except ProcessLookupError:
        pass
    process.wait()
