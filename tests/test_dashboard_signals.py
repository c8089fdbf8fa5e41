"""Stopping ``python -m dashboard`` with SIGTERM stops the server: nothing is left listening or running.

``python -m dashboard`` replaces itself with ``panel serve`` (``os.execve``): the pid a supervisor
(systemd, a shell, ``platform run``) signals is the server itself, not a parent with a child that
would keep the port.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

from dashboard_support import REPO_ROOT, dashboard_env, serve_dashboard


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_sigterm_stops_the_server_and_frees_its_port(tmp_path: Path) -> None:
    with serve_dashboard(tmp_path / "home") as server:
        port = int(server.url.split(":")[2].split("/")[0])
        process = psutil.Process(server.process.pid)
        assert "panel" in process.cmdline() and process.children(recursive=True) == []  # the server itself, no child
        assert _listening(port)
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=20) is not None
        assert not _listening(port)


def test_sigterm_during_the_warm_up_leaves_nothing_running(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-m", "dashboard", "--port", "0"], cwd=REPO_ROOT,
                               env=dashboard_env(tmp_path / "home"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)  # importing Panel and the app's setup: the server does not listen yet
    family = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=20)
    _, alive = psutil.wait_procs(family, timeout=10)
    assert alive == []
