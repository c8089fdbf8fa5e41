"""The LocalExecutor of the embedded Airflow, with the task processes' library imports done once.

Airflow's LocalExecutor forks its worker processes from the scheduler, and each task is a
further ``os.fork`` of a worker. Whatever the scheduler has imported before it forks is
therefore already in every task process; whatever it has not, every task imports again on its
own. A pipeline task imports the Task SDK's runner, the papermill provider (Papermill, nbformat
and their schema validators: ~2 s of CPU), and the Python tasks import pandas and SQLAlchemy:
on 2 cores that was most of a short step's time.

:class:`PreloadingLocalExecutor` imports those libraries in the scheduler when the executor
starts, before the workers are forked, and starts the kernel zygote (:mod:`mindpulse.kernel_zygote`)
beside the scheduler; on each heartbeat it notices a zygote that died and starts it again.
Nothing else changes: same LocalExecutor, same task processes, same Papermill runs. It is
selected by its import path (``AIRFLOW__CORE__EXECUTOR=mindpulse.airflow_executor.PreloadingLocalExecutor``),
which :func:`mindpulse.airflow_env.airflow_environment` sets for the embedded Airflow and the tests.

Only third-party libraries are preloaded, never the project's modules: the scheduler keeps no
copy of ``mindpulse.*`` besides this module, so each task imports the project's code from disk
and an edit reaches the next task without a restart (upgrading a library needs one). Speed
machinery must never change what the pipeline decides. The preloading executor and the zygote
stay on the embedded platform's path (they save seconds on every step) because the fault suite
(``tests/test_faults.py``) kills the task, the kernel and the zygote in the middle of the steps
that commit and checks nothing is committed by a dead task.
"""

from __future__ import annotations

import importlib
import logging
import sys
import time
from typing import Any

from airflow.executors.local_executor import LocalExecutor

log = logging.getLogger(__name__)

# What a task process imports on its own; each is imported once, in the scheduler. Third-party only.
PRELOADED_MODULES = (
    # The Task SDK's side of a task: the supervisor (in the worker) and the runner (in the task).
    "airflow.sdk.execution_time.supervisor",
    "airflow.sdk.execution_time.task_runner",
    "airflow.dag_processing.dagbag",
    # The DAG files' imports, and what a notebook task runs.
    "airflow.providers.papermill.operators.papermill",
    "papermill",
    "nbclient",
    "jupyter_client.manager",
    "jupyter_client.provisioning",
    # What the DAGs' Python tasks (the sweep and the two gates) use through the project's modules.
    "pandas",
    "sqlalchemy",
    "sqlalchemy.orm",
    "filelock",
    "pydantic_settings",
    "pandera.pandas",
    "alembic.command",
    "alembic.config",
    "alembic.runtime.migration",
    "alembic.script",
)
PROJECT_PACKAGE = "mindpulse"


def preload(modules: tuple[str, ...] = PRELOADED_MODULES) -> dict[str, float]:
    """Import ``modules`` here; return the seconds each took. A module that fails to import is
    logged and skipped: the task that needs it imports it itself and reports the error there."""
    took: dict[str, float] = {}
    for name in modules:
        start = time.perf_counter()
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a task imports it again and fails with the real error
            log.warning("could not preload %s for the task processes: %s", name, exc)
            continue
        took[name] = time.perf_counter() - start
    return took


def forget_project_modules() -> list[str]:
    """Drop the project's modules this process imported (but this one and its package); return their names.

    The workers forked afterwards, and the tasks they fork, then import them afresh from disk.
    """
    keep = {PROJECT_PACKAGE, __name__}
    dropped = [name for name in sys.modules if name.startswith(PROJECT_PACKAGE + ".") and name not in keep]
    for name in dropped:
        del sys.modules[name]
    return dropped


class PreloadingLocalExecutor(LocalExecutor):
    """Airflow's LocalExecutor, whose forked workers (and so tasks) inherit :data:`PRELOADED_MODULES`,
    with a kernel zygote beside the scheduler that is started again when it dies."""

    zygote: Any = None

    def start(self) -> None:
        from mindpulse import kernel_zygote
        from mindpulse.kernels import socket_folder

        # Started first: it imports the notebooks' libraries while the scheduler does its own.
        self.zygote = kernel_zygote.Zygote(socket_folder())
        log.info("kernel zygote starting on %s", self.zygote.start())
        took = preload()
        forget_project_modules()
        log.info("preloaded %d modules for the task processes in %.1f s", len(took), sum(took.values()))
        super().start()

    def sync(self) -> None:
        super().sync()
        if self.zygote is not None:
            news = self.zygote.check()
            if news:
                log.warning(news)
