"""The LocalExecutor of the embedded Airflow, with the task processes' imports done once.

Airflow's LocalExecutor forks its worker processes from the scheduler, and each task is a
further ``os.fork`` of a worker. Whatever the scheduler has imported before it forks is
therefore already in every task process; whatever it has not, every task imports again on its
own. A pipeline task imports the Task SDK's runner, the papermill provider (Papermill, nbformat
and their schema validators: ~2 s of CPU), and the Python tasks import ``mindpulse.pipeline``
(pandas, SQLAlchemy): on 2 cores that was most of a short step's time.

:class:`PreloadingLocalExecutor` imports those modules in the scheduler when the executor starts,
before the workers are forked. Nothing else changes: same LocalExecutor, same task processes,
same Papermill runs. It is selected by its import path
(``AIRFLOW__CORE__EXECUTOR=mindpulse.airflow_executor.PreloadingLocalExecutor``), which
:func:`mindpulse.airflow_env.airflow_environment` sets for the embedded Airflow and the tests.
This module is imported by every Airflow component that resolves the executor: it imports
only the LocalExecutor itself.
"""

from __future__ import annotations

import importlib
import logging
import time

from airflow.executors.local_executor import LocalExecutor

log = logging.getLogger(__name__)

# What a task process imports on its own; each is imported once, in the scheduler.
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
    "mindpulse.orchestration",
    "mindpulse.kernels",
    # What the DAGs' Python tasks call (the sweep and the two gates).
    "mindpulse.pipeline.sweep",
    "mindpulse.pipeline.retrain",
    "mindpulse.pipeline.reporting",
)


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


class PreloadingLocalExecutor(LocalExecutor):
    """Airflow's LocalExecutor, whose forked workers (and so tasks) inherit :data:`PRELOADED_MODULES`."""

    def start(self) -> None:
        from mindpulse import kernel_zygote
        from mindpulse.kernels import socket_folder

        # Started first: it imports the notebooks' libraries while the scheduler does its own.
        path = kernel_zygote.start(socket_folder())
        log.info("kernel zygote starting on %s", path)
        took = preload()
        log.info("preloaded %d modules for the task processes in %.1f s", len(took), sum(took.values()))
        super().start()
