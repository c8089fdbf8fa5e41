"""The environment an Airflow of the platform runs in, built in one place.

``mindpulse platform run`` (the embedded ``airflow standalone``), the benchmarks and the tests'
real Airflow all start Airflow with this environment, so they run the DAGs the same way: an
isolated ``AIRFLOW_HOME`` whose state is a SQLite file, the LocalExecutor (whose task processes
inherit their imports from the scheduler: :mod:`mindpulse.airflow_executor`) with a low
parallelism (each running notebook task is a kernel of its own, on 2 cores), the API server on
127.0.0.1, and the venv's ``bin`` first on ``PATH``. Standard library only: cheap to import.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Airflow's LocalExecutor, with the task processes' imports done once in the scheduler.
EMBEDDED_EXECUTOR = "mindpulse.airflow_executor.PreloadingLocalExecutor"


def airflow_environment(airflow_home: str | Path, *, port: int, dags_dir: str | Path, parallelism: int = 2,
                        executor: str = EMBEDDED_EXECUTOR, scheduled: bool = True, quick_parsing: bool = False,
                        mindpulse: dict[str, str] | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of an Airflow whose whole state lives in ``airflow_home``.

    ``scheduled=False`` stops the scheduler from creating scheduled runs (a test sees only the
    runs it triggers); ``quick_parsing`` picks DAG file changes up within seconds instead of
    re-parsing every two minutes (parsing imports the papermill provider, ~2-4 s of CPU).
    ``mindpulse``: the ``MINDPULSE_*`` variables the tasks see (any others inherited are
    dropped); ``extra`` is applied last. Inherited ``AIRFLOW*`` variables are dropped.
    """
    airflow_home = Path(airflow_home)
    venv_bin = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    if mindpulse is not None:
        env = {k: v for k, v in env.items() if not k.startswith("MINDPULSE_")}
        env.update(mindpulse)
    env.update({
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_dir),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(airflow_home / "logs"),
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": str(bool(scheduled)),
        # A task becomes ready when its upstream ends; the idle scheduler looks every 0.5 s instead of 1 s.
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
        # Two DAG files: one parsing process is enough, and leaves the second core to the tasks.
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5" if quick_parsing else "30",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30" if quick_parsing else "120",
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
        "NO_COLOR": "1",
    })
    env.update(extra or {})
    return env
