"""A pipeline step commits only while the task attempt it serves is alive.

A notebook step runs in a kernel, a process of its own beside the Airflow task that drives it.
When the task dies (killed, timed out, its worker lost), Airflow fails the attempt and retries
the step; a kernel that went on would register, promote or archive for an attempt that no
longer exists, while the retry does the same work again. Kernels are killed with their task
(:mod:`mindpulse.kernel_zygote`, ipykernel's parent poller), and, as the last line, every commit
of the registry and the store calls :func:`check` under its lock, right before it writes.

The pipeline's kernel manager (:class:`mindpulse.kernels.IPCKernelManager`) gives each kernel
:data:`ENV_VAR`: the pid and start time of the process driving it (the task). Outside a pipeline
step (the CLI, a notebook opened in JupyterLab, the dashboard) the variable is absent and
:func:`check` does nothing.
"""

from __future__ import annotations

import os

#: ``<pid>:<start time>`` of the task process a pipeline kernel serves (set in the kernel's environment).
ENV_VAR = "MINDPULSE_STEP_TASK"


class TaskAttemptGone(RuntimeError):
    """The task attempt this step ran for has ended: nothing may be committed for it any more."""


def _started(pid: int) -> str | None:
    """The start time of process ``pid`` (None when it has ended), to tell it from a later one with the same pid."""
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
            return None
        return f"{process.create_time():.2f}"
    except psutil.NoSuchProcess:
        return None


def token(pid: int | None = None) -> str:
    """The value of :data:`ENV_VAR` for a kernel driven by process ``pid`` (default: this one)."""
    pid = os.getpid() if pid is None else pid
    started = _started(pid)
    if started is None:
        raise TaskAttemptGone(f"process {pid} has ended")
    return f"{pid}:{started}"


def check(action: str) -> None:
    """Raise :class:`TaskAttemptGone` if this process serves a pipeline task that has ended; else do nothing.

    ``action`` names what was about to be written (it is in the error).
    """
    value = os.environ.get(ENV_VAR)
    if not value:
        return
    pid, _, started = value.partition(":")
    try:
        alive = _started(int(pid)) == started
    except ValueError:
        raise TaskAttemptGone(f"{ENV_VAR}: got {value!r}, expected <pid>:<start time> of the task process") from None
    if not alive:
        attempt = " ".join(f"{key}={os.environ[name]}" for key, name in
                           (("dag", "AIRFLOW_CTX_DAG_ID"), ("run", "AIRFLOW_CTX_DAG_RUN_ID"), ("try", "AIRFLOW_CTX_TRY_NUMBER"))
                           if os.environ.get(name))
        raise TaskAttemptGone(f"{action}: refused, the task process {pid} this step ran for has ended"
                              f"{f' ({attempt})' if attempt else ''}; nothing was written, a retry of the step redoes it")
