"""Celery settings of MindPulse's Airflow workers: Airflow's own, plus a kernel zygote per worker.

Every Airflow service of the production deployment is given
``AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=mindpulse.celery_config.CELERY_CONFIG`` (docker-compose.yml).
The settings are Airflow's defaults, unchanged. What importing this module adds is a handler of
Celery's ``worker_init`` signal, sent once in a worker's main process before it forks its pool:
it starts a kernel zygote (:mod:`mindpulse.kernel_zygote`) beside the worker, as the embedded
Airflow's executor does beside its scheduler. The pool processes, the task processes they fork
and the notebooks those run inherit the zygote's address, so each notebook's kernel is forked
warm instead of importing pandas, scikit-learn and Evidently again (a cold kernel costs ~4 s of
CPU before the notebook's first cell). The zygote follows the worker out when it stops; a zygote
that dies is reaped and started again by a watcher thread of the worker's main process (as the
embedded executor does on its heartbeat), and its kernels live on: each dies with its own task.

The scheduler and the API server import this module too (they build the same Celery app); the
signal is only ever sent in a worker.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import worker_init

log = logging.getLogger(__name__)

CELERY_CONFIG: dict[str, Any] = dict(DEFAULT_CELERY_CONFIG)


#: Seconds between two looks at the worker's zygote.
ZYGOTE_WATCH_INTERVAL = 5.0


@worker_init.connect
def start_kernel_zygote(**_: Any) -> None:
    """Start the worker's kernel zygote (its address goes to the processes the worker forks) and watch it."""
    import threading
    import time

    from mindpulse import kernel_zygote
    from mindpulse.kernels import socket_folder

    zygote = kernel_zygote.Zygote(socket_folder())
    log.info("kernel zygote starting on %s", zygote.start())

    def watch() -> None:
        while not zygote.abandoned:
            time.sleep(ZYGOTE_WATCH_INTERVAL)
            news = zygote.check()
            if news:
                log.warning(news)

    threading.Thread(target=watch, name="mindpulse-zygote-watch", daemon=True).start()
