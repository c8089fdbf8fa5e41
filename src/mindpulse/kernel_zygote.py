"""Notebook kernels forked from a warm process, so a pipeline step does not start Python cold.

Each notebook task of the DAGs starts a kernel, a new Python interpreter that then imports
ipykernel, pandas, scikit-learn and Evidently: ~1.5-3 s on 2 cores before the step's first line
of work, paid again by every step. The embedded Airflow's executor
(:mod:`mindpulse.airflow_executor`) starts one *zygote* process beside the scheduler, which
imports all of that once and then waits on a Unix socket. A task's kernel manager
(:class:`mindpulse.kernels.IPCKernelManager`) asks it for a kernel: the zygote forks, and the
child becomes exactly the kernel ``python -m ipykernel_launcher -f <connection file>`` would
have been (same argv, environment, working folder, stdout and stderr), already warm.

Nothing else changes: Papermill drives the kernel over the same IPC sockets and writes the
same notebook. Where no zygote is running (a notebook run by hand, a zygote still importing or
being restarted), or it refuses a kernel command it does not know, the kernel starts the usual way.

A forked kernel's life is tied to its task, not to the zygote: it is killed, with whatever it
started, as soon as the task process that asked for it ends (a pidfd watched by a thread of the
kernel), and it lives on if the zygote dies. A launched kernel gets the same from ipykernel's
parent poller (its parent is the task). The zygote preloads only third-party libraries, and a
forked kernel drops any ``mindpulse`` module it inherited, so the project's code is read from
disk by every kernel. The zygote exits when its parent (the scheduler) does, and removes its
socket; its owner starts it again when it dies (:class:`Zygote`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import select
import shutil
import signal
import socket
import struct
import sys
import time
from pathlib import Path
from typing import Any

from jupyter_client.provisioning import LocalProvisioner

log = logging.getLogger(__name__)

ENV_VAR = "MINDPULSE_KERNEL_ZYGOTE"  # the socket of the running zygote, inherited by the task processes
# Imported by the zygote before it forks kernels: the third-party libraries the pipeline notebooks
# and the project's modules import. Never a ``mindpulse`` module: a kernel imports the project's
# code itself, from disk, so an edit to the package reaches the next step without a restart (a
# library upgrade needs one: the zygote keeps the versions it imported).
KERNEL_MODULES = (
    "ipykernel.kernelapp",
    "pandas",
    "sklearn.linear_model",
    "sklearn.ensemble",
    "sklearn.model_selection",
    "sklearn.pipeline",
    "sklearn.compose",
    "sklearn.preprocessing",
    "sklearn.metrics",
    "sklearn.calibration",
    "sklearn.impute",
    "xgboost",
    "evidently",
    # What the steps import as they run: the store (SQLAlchemy, Alembic's migration check), the
    # registry's lock, the settings and the contract's checks, the figures (Matplotlib's Figure and
    # Agg canvas), Parquet for the frozen reference, and the parts of ipykernel loaded when a
    # kernel starts. ~0.35-0.5 s of CPU less per kernel that opens the store or draws.
    "ipykernel.ipkernel",
    "ipykernel.debugger",
    "IPython.core.oinspect",
    "sqlalchemy",
    "sqlalchemy.orm",
    "sqlalchemy.dialects.sqlite",
    "filelock",
    "pydantic_settings",
    "pandera.pandas",
    "alembic.command",
    "alembic.config",
    "alembic.runtime.migration",
    "alembic.script",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
    "pyarrow.parquet",
    "pyarrow.dataset",
)
#: The project's own package: never handed to a kernel from the zygote's memory.
PROJECT_PACKAGE = "mindpulse"
#: ipykernel's default for ``MPLBACKEND`` (``IPKernelApp.init_gui_pylab``), used when the kernel's
#: environment names none.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
_HEADER = struct.Struct("!I")


class ZygoteRefused(RuntimeError):
    """The zygote cannot start this kernel command; start it the usual way."""


# ---------------------------------------------------------------------------------------------
# The client side: a kernel provisioner for jupyter_client.

class ForkedKernel:
    """A ``Popen``-like handle on a kernel the zygote forked (not our child: tracked by a pidfd)."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._fd: int | None = os.pidfd_open(pid)

    def poll(self) -> int | None:
        if self.returncode is None and self._fd is not None:
            readable, _, _ = select.select([self._fd], [], [], 0)
            if readable:  # the process has ended; its exit status belongs to the zygote, which reaps it
                os.close(self._fd)
                self._fd = None
                self.returncode = 0
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"kernel {self.pid} still running after {timeout} s")
            time.sleep(0.02)
        return self.returncode or 0

    def send_signal(self, signum: int) -> None:
        if self.poll() is None and self._fd is not None:
            try:
                signal.pidfd_send_signal(self._fd, signum)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def address() -> str | None:
    """The socket of a running zygote, if this process was started under one."""
    path = os.environ.get(ENV_VAR)
    return path if path and os.path.exists(path) else None


def request_kernel(path: str, argv: list[str], *, env: dict[str, str], cwd: str, timeout: float = 10.0) -> int:
    """Ask the zygote at ``path`` for a kernel running ``argv``; return its pid.

    The caller's stdout and stderr are passed along (the kernel writes where a launched one
    would). Raises :class:`ZygoteRefused` or ``OSError`` when no kernel was started.
    """
    payload = json.dumps({"argv": argv, "env": env, "cwd": cwd}).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(path)
        socket.send_fds(conn, [_HEADER.pack(len(payload)) + payload], [sys.stdout.fileno(), sys.stderr.fileno()])
        reply = json.loads(_read_message(conn))
    if "pid" not in reply:
        raise ZygoteRefused(reply.get("error", "no reason given"))
    return int(reply["pid"])


class ZygoteProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner, whose kernels come from the zygote when one runs."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        path = address()
        if path:
            env = {**(kwargs.get("env") or os.environ), "JPY_PARENT_PID": str(os.getpid())}  # as jupyter_client's launcher sets it
            cwd = str(kwargs.get("cwd") or os.getcwd())
            try:
                pid = request_kernel(path, list(cmd), env=env, cwd=cwd)
            except (OSError, ValueError, ZygoteRefused) as exc:
                log.info("kernel started the usual way (the zygote did not start it: %s)", exc)
            else:
                log.info("kernel %d forked warm by the zygote at %s", pid, path)
                self.process = ForkedKernel(pid)
                self.pid = self.pgid = pid  # the child is the leader of its own session, as a launched kernel
                self.cwd = cwd
                return self.connection_info
        return await super().launch_kernel(cmd, **kwargs)


# ---------------------------------------------------------------------------------------------
# The zygote itself: ``python -m mindpulse.kernel_zygote --socket PATH``.

def _read_message(conn: socket.socket, fds: int = 0) -> Any:
    data, received, _, _ = socket.recv_fds(conn, 1 << 16, fds) if fds else (conn.recv(1 << 16), [], 0, None)
    if len(data) < _HEADER.size:
        raise ValueError("short message")
    (size,) = _HEADER.unpack_from(data)
    body = bytearray(data[_HEADER.size:])
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise ValueError("connection closed mid-message")
        body += chunk
    return (bytes(body), received) if fds else bytes(body)


def _send(conn: socket.socket, message: dict[str, Any]) -> None:
    data = json.dumps(message).encode()
    conn.sendall(_HEADER.pack(len(data)) + data)


def _is_this_kernel(argv: list[str], env: dict[str, str]) -> bool:
    """Only ``<this python> -m ipykernel_launcher ...`` is forked: anything else is not ours to start."""
    if len(argv) < 3 or argv[1:3] != ["-m", "ipykernel_launcher"]:
        return False
    executable = argv[0] if os.path.isabs(argv[0]) else shutil.which(argv[0], path=env.get("PATH"))
    return executable is not None and os.path.abspath(executable) == os.path.abspath(sys.executable)


def _forget_project_modules() -> None:
    """Drop the project's modules from this process, so the kernel imports them afresh from disk."""
    for name in [n for n in sys.modules if n == PROJECT_PACKAGE or n.startswith(PROJECT_PACKAGE + ".")]:
        del sys.modules[name]


#: The zygote's own PYTHONPATH, whose entries its ``sys.path`` holds after the first.
_STARTED_WITH_PATH = os.environ.get("PYTHONPATH", "")


def _set_path(cwd: str, pythonpath: str) -> None:
    """Make ``sys.path`` what ``python -m`` in ``cwd`` with this PYTHONPATH would have: the folder, then its entries."""
    inherited = [p for p in _STARTED_WITH_PATH.split(os.pathsep) if p]
    rest = [p for p in sys.path[1:] if p not in inherited]
    sys.path[:] = [cwd, *[p for p in pythonpath.split(os.pathsep) if p], *rest]


def watch_task(task: int) -> None:
    """Kill this kernel's process group as soon as the task process behind pidfd ``task`` ends.

    The kernel is the zygote's child, not its task's, so ipykernel's own parent poller cannot
    see the task die (it disables itself when the parent it is given is not the real one). A
    kernel that outlived its task would go on with the step: training, registering, promoting
    for a task attempt Airflow has already failed and retried.
    """
    import threading

    def wait() -> None:
        select.select([task], [], [])
        os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=wait, name="mindpulse-task-watch", daemon=True).start()


def _become_kernel(request: dict[str, Any], fds: list[int], task: int) -> None:
    """In the forked child: take the caller's place and run the kernel; never returns.

    ``task``: a pidfd of the task process that asked for the kernel; the kernel (and what it
    started) is killed when that process ends, and lives on when the zygote does.
    """
    code = 1
    try:
        os.setsid()
        watch_task(task)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the zygote ignores Ctrl-C; a kernel is interrupted by it
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        for fd in (null, *fds):
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        _set_path(request["cwd"], request["env"].get("PYTHONPATH", ""))
        _forget_project_modules()
        matplotlib = sys.modules.get("matplotlib")
        if matplotlib is not None:  # it read MPLBACKEND when the zygote imported it: read this kernel's
            matplotlib.rcParams["backend"] = os.environ.get("MPLBACKEND") or INLINE_BACKEND
        # parent_handle=1: no ipykernel parent poller. Given the task's pid it would disable itself
        # (the zygote is the real parent) and then exit the kernel when the zygote exits, a parent
        # the kernel does not depend on; watch_task ties the kernel to its task instead.
        sys.argv = [request["argv"][0], *request["argv"][3:], "--IPKernelApp.parent_handle=1"]
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    except BaseException:  # noqa: BLE001 - reported where a launched kernel would report it
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _peer_pid(conn: socket.socket) -> int:
    """The pid of the process on the other end of a Unix socket (the kernel's task)."""
    pid, _, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return pid


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def serve(path: str, parent: int, modules: tuple[str, ...] = KERNEL_MODULES) -> None:
    """Import ``modules``, then fork a kernel for each request on ``path`` until process ``parent`` exits."""
    import importlib
    import threading

    # debugpy (ipykernel's debugger, preloaded) warns on import about Python's frozen modules, on
    # the zygote's stderr: the scheduler's log. Its kernels get their own environment back.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - the kernel imports it itself and reports the error there
            print(f"kernel zygote: could not preload {name}: {exc}", file=sys.stderr)
    if threading.active_count() > 1:  # forking a process with threads is not safe: stay out of the way
        print("kernel zygote: an import started a thread; kernels start the usual way", file=sys.stderr)
        return
    # What was imported lives as long as the kernels: out of the garbage collector's sight, a
    # kernel's full collections do not walk it (nor write to its pages, which fork shares). The
    # Evidently steps' kernels: ~0.3 s of CPU less each (1.6-2.0 -> 1.2-1.7 s).
    import gc

    gc.freeze()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    partial = f"{path}.{os.getpid()}"
    listener.bind(partial)
    listener.listen(16)
    os.replace(partial, path)  # clients see the socket only once it accepts
    try:
        while os.getppid() == parent:
            _reap()
            ready, _, _ = select.select([listener], [], [], 0.5)
            if not ready:
                continue
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(10)
                fds: list[int] = []
                try:
                    body, fds = _read_message(conn, fds=2)
                    request = json.loads(body)
                    if len(fds) != 2 or not _is_this_kernel(request["argv"], request["env"]):
                        _send(conn, {"error": f"not a kernel this zygote starts: {request['argv'][:3]}"})
                        continue
                    task = os.pidfd_open(_peer_pid(conn))  # before the fork: the task is waiting for the reply
                    try:
                        pid = os.fork()
                        if pid == 0:
                            listener.close()
                            conn.close()
                            _become_kernel(request, fds, task)
                    finally:
                        os.close(task)
                    _send(conn, {"pid": pid})
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    try:
                        _send(conn, {"error": f"{type(exc).__name__}: {exc}"})
                    except OSError:
                        pass
                finally:
                    for fd in fds:
                        os.close(fd)
    finally:
        listener.close()
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


class Zygote:
    """A zygote running as this process's child, noticed when it dies and started again.

    A killed zygote leaves a zombie and its socket behind; kernels then start cold (the usual way)
    until it is back. :meth:`check`, called on the owner's heartbeat, reaps it, removes the socket
    and starts a new one on the same path (the processes already forked know that path). One that
    keeps dying right after its start is given up: kernels start the usual way from then on.
    """

    #: Deaths within :data:`QUICK_DEATH` seconds of a start, in a row, after which it is given up.
    GIVE_UP_AFTER = 3
    QUICK_DEATH = 60.0

    def __init__(self, folder: str | Path) -> None:
        self.path = str(Path(folder) / f"zygote-{os.getpid()}.sock")
        self.process: Any = None
        self.started_at = 0.0
        self.quick_deaths = 0
        self.abandoned = False

    def start(self) -> str:
        """Start the zygote; return its socket path (ready once it exists). ``ENV_VAR`` is set in this
        process, so the processes it forks afterwards find the zygote."""
        import subprocess

        self.process = subprocess.Popen([sys.executable, "-m", "mindpulse.kernel_zygote", "--socket", self.path,
                                         "--parent", str(os.getpid())], stdin=subprocess.DEVNULL, close_fds=True)
        self.started_at = time.monotonic()
        os.environ[ENV_VAR] = self.path
        return self.path

    def check(self) -> str | None:
        """If the zygote has died: reap it, remove its socket, start it again (or give up); say what was done."""
        if self.process is None or self.abandoned or self.process.poll() is None:
            return None
        code = self.process.returncode
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        self.quick_deaths = self.quick_deaths + 1 if time.monotonic() - self.started_at < self.QUICK_DEATH else 1
        if self.quick_deaths >= self.GIVE_UP_AFTER:
            self.abandoned = True
            return (f"kernel zygote {self.process.pid} exited ({code}), the {self.quick_deaths}th time in a row within "
                    f"{self.QUICK_DEATH:.0f} s of its start: given up, kernels start the usual way")
        dead = self.process.pid
        self.start()
        return f"kernel zygote {dead} exited ({code}): socket removed, started again as {self.process.pid}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fork warm notebook kernels on request (see the module's doc).")
    parser.add_argument("--socket", required=True, help="the Unix socket to listen on")
    parser.add_argument("--parent", type=int, default=os.getppid(), help="exit when this process has (default: the parent)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the zygote follows its parent
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stopped with the scheduler: remove the socket
    serve(args.socket, args.parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
