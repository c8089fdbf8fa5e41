"""The platform's process supervisor: starts its programs, watches them, stops them.

Each program (``airflow standalone``, the dashboard, the HTTP API, JupyterLab) runs in a process
group of its own, its output in a log file. :func:`supervise` watches them and the components
``airflow standalone`` runs until one dies; :func:`stop_process_group` stops a group in steps
(its own signal, then SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from mindpulse.commands import fail

def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _group_processes(pgid: int) -> Iterator[Any]:
    """The processes of group ``pgid`` (``psutil.Process``; one may end while the caller looks at it)."""
    import psutil

    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid:
                yield process
        except (ProcessLookupError, psutil.Error):
            continue


def group_alive(pgid: int) -> bool:
    """True while a process of group ``pgid`` runs (zombies waiting to be reaped do not count)."""
    import psutil

    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    for process in _group_processes(pgid):
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                return True
        except psutil.Error:
            continue
    return False


def stop_process_group(pgid: int, *, first_signal: int = signal.SIGTERM, leader_only: bool = False,
                       grace: float = 30.0, airflow_standalone: bool = False) -> None:
    """Signal a process group (or only its leader), wait up to ``grace`` seconds, then SIGTERM and SIGKILL what is left.

    ``airflow standalone`` wants Ctrl-C on its own process only (``SIGINT``, ``leader_only``):
    it then stops its components in order within seconds, while a SIGINT to all of them at
    once leaves them waiting for each other. With ``airflow_standalone``, a triggerer stalled
    after its trigger runner has exited is ended meanwhile (:func:`end_stalled_triggerers`).
    """
    steps = ((first_signal, leader_only, grace), (signal.SIGTERM, False, 10.0), (signal.SIGKILL, False, 10.0))
    for sig, leader, wait in steps:
        try:
            os.kill(pgid, sig) if leader else os.killpg(pgid, sig)
        except ProcessLookupError:
            if not group_alive(pgid):
                return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not group_alive(pgid):
                return
            if airflow_standalone:
                end_stalled_triggerers(pgid)
            time.sleep(0.2)


def end_stalled_triggerers(pgid: int) -> list[int]:
    """End the Airflow triggerers of group ``pgid`` whose trigger runner has exited; return their pids.

    A stopped triggerer tells its trigger runner (a child process) to exit, then waits for it by
    polling the runner's sockets. The runner closes them just before it exits; when the poll
    sees the close before the exit, it has nothing left to watch and sleeps out its whole 10 s
    escalation delay before it looks again (about one stop in two on a 2-core machine), and
    ``airflow standalone`` waits for it. Once the runner has exited (a child not reaped yet) the
    triggerer has no trigger left to clean up, only its own exit to log: it is ended here, with
    the rest of its children (its log server), so the stop goes on. Only called while stopping.
    """
    import psutil

    ended = []
    for process in _group_processes(pgid):
        try:
            if process.cmdline()[-1:] != ["triggerer"]:
                continue
            children = process.children()
            if not any(child.status() == psutil.STATUS_ZOMBIE for child in children):
                continue  # still cleaning up (or a runner itself: it has the same command line)
            for member in (process, *children):
                member.kill()
            ended.append(process.pid)
        except psutil.Error:
            continue
    return ended


class Service:
    """One program of the platform, in its own process group, its output in a log file."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], cwd: Path, log: Path,
                 stop_signal: int = signal.SIGTERM, signal_leader_only: bool = False, stop_grace: float = 20.0,
                 airflow_standalone: bool = False):
        self.name, self.argv, self.env, self.cwd, self.log = name, argv, env, cwd, log
        self.stop_signal, self.signal_leader_only, self.stop_grace = stop_signal, signal_leader_only, stop_grace
        self.airflow_standalone = airflow_standalone
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "Service":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None:
            return
        # A running task gets the grace period to finish; Airflow marks it failed (and retries it) otherwise.
        stop_process_group(self.process.pid, first_signal=self.stop_signal, leader_only=self.signal_leader_only,
                           grace=self.stop_grace, airflow_standalone=self.airflow_standalone)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def describe(self) -> dict[str, Any]:
        return {"pid": self.pid, "log": str(self.log)}


# --- supervision --------------------------------------------------------------------------------
#: The components ``airflow standalone`` runs, each a child process whose command ends with its name.
AIRFLOW_COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server")
#: Free space the home's disk must keep (Airflow's logs, executed notebooks, Evidently reports, models).
MIN_FREE_BYTES = 256 * 2**20
LOG_TAIL_LINES = 15
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def check_free_space(home: Path, *, minimum: int = MIN_FREE_BYTES) -> None:
    """Refuse to start (one line naming the folder) when the disk holding ``home`` is nearly full."""
    free = free_bytes(home)
    if free is not None and free < minimum:
        fail(disk_full(home, free))


def free_bytes(home: Path) -> int | None:
    import shutil

    try:
        return shutil.disk_usage(home).free
    except OSError:
        return None


def disk_full(home: Path, free: int) -> str:
    return (f"the disk holding {home} is full ({free / 2**20:.0f} MB free, the platform needs {MIN_FREE_BYTES / 2**20:.0f} MB "
            "for Airflow's logs, reports and models): free space there, then start it again")


def airflow_components(leader: int) -> dict[str, Any]:
    """The running components of the ``airflow standalone`` whose pid is ``leader`` (name -> ``psutil.Process``)."""
    import psutil

    found = {}
    try:
        children = psutil.Process(leader).children()
    except psutil.Error:
        return found
    for child in children:
        try:
            name = _component(child.cmdline())
            if name and child.status() != psutil.STATUS_ZOMBIE:
                found[name] = child
        except psutil.Error:
            continue
    return found


def _component(cmdline: list[str]) -> str | None:
    """``airflow <component>``, or the title a component gives itself (``airflow api_server -- host:...``)."""
    if cmdline[-1:] and cmdline[-1] in AIRFLOW_COMPONENTS:
        return cmdline[-1]
    title = " ".join(cmdline)
    return next((name for name in AIRFLOW_COMPONENTS if title.startswith(f"airflow {name.replace('-', '_')} ")), None)


def log_tail(log: Path, component: str | None = None, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last lines of ``log``; with ``component``, those ``airflow standalone`` prefixed with its name."""
    try:
        with open(log, "rb") as fh:
            fh.seek(max(0, fh.seek(0, 2) - 512 * 1024))
            text = fh.read().decode(errors="replace")
    except OSError:
        return []
    found = [_ANSI.sub("", line).rstrip() for line in text.splitlines()]
    if component is not None:
        found = [line.split("|", 1)[1].strip() for line in found if line.split("|", 1)[0].strip() == component and "|" in line]
    return found[-lines:]


def _is_alive(process: Any) -> bool:
    import psutil

    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def supervise(services: list["Service"], home: Path, *, interval: float = 2.0, startup_grace: float = 30.0) -> None:
    """Watch every program of the platform until one dies; then say which, why, and exit non-zero.

    Watched: the services started here (``airflow standalone``, the dashboard, JupyterLab) and
    the Airflow components standalone runs (scheduler, dag-processor, triggerer, API server),
    found among its children (one not seen within ``startup_grace`` seconds died before it could
    be). standalone itself goes on when one of its components dies (seen:
    the scheduler and the DAG processor killed by a full disk while the API server answered, and
    runs read "running" for 23 minutes). A dead component is not restarted: what killed it (a
    full disk, a bug, the machine's memory) is still there, and a platform that restarts it in a
    loop hides that. The platform stops, and the caller's ``finally`` stops the rest; starting it
    again recovers the runs (Airflow's scheduler fails the task attempts it finds orphaned and
    retries them).
    """
    airflow = next(s for s in services if s.airflow_standalone)
    components: dict[str, Any] = {}
    started = time.monotonic()
    while True:
        for name, process in airflow_components(airflow.pid).items():
            components.setdefault(name, process)
        dead = [(name, process.pid, airflow.log, name) for name, process in components.items() if not _is_alive(process)]
        if time.monotonic() - started > startup_grace:  # one that died before it was first seen
            dead += [(name, None, airflow.log, name) for name in AIRFLOW_COMPONENTS if name not in components]
        dead += [(s.name, s.pid, s.log, None) for s in services if not s.running()]
        if dead:
            name, pid, log, component = dead[0]
            what = f"Airflow's {name}" if component else name
            tail = log_tail(log, component)
            typer.echo(f"{what} ({f'pid {pid}' if pid else 'never seen running'}) died. "
                       f"The last lines of its output ({log}):", err=True)
            for line in tail or ["(nothing)"]:
                typer.echo(f"  {line}", err=True)
            free = free_bytes(home)
            if (free is not None and free < MIN_FREE_BYTES) or any("No space left on device" in line or "Errno 28" in line
                                                                    for line in tail):
                fail(f"{what} died: {disk_full(home, free if free is not None else 0)}", code=1)
            fail(f"{what} died{f' (pid {pid})' if pid else ''}; MindPulse stops. See {log}", code=1)
        time.sleep(interval)


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` runs. A process that has ended but that its parent has not reaped
    yet (a zombie) is not running: ``platform stop`` is not the parent of ``platform run``, and
    the shell or program that is reaps it only when it next waits."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def accept_interrupts() -> None:
    """Ctrl-C and SIGTERM (``platform stop``) end the run through its ``finally``, which stops the services.

    Ctrl-C is handled even when this process started with SIGINT ignored, as a background job of a
    script does: an ignored signal stays ignored across ``exec``, so ``airflow standalone`` would
    inherit it, ignore the Ctrl-C it is stopped with, and keep a stop waiting for its grace period.
    A handled signal is reset to its default in the programs started from here.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)

