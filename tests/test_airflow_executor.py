"""The embedded Airflow's executor imports the task processes' libraries once, before it forks,
keeps no copy of the project's modules, and starts its kernel zygote again when it dies.

Every real-Airflow test of the DAGs runs on it (tests/airflow_support.py), so a broken executor
fails those; these check what it adds to Airflow's LocalExecutor.
"""

from __future__ import annotations

import subprocess
import sys

from airflow.executors.local_executor import LocalExecutor

from mindpulse import airflow_executor
from mindpulse.airflow_env import EMBEDDED_EXECUTOR


def test_the_embedded_airflow_selects_the_preloading_executor_by_its_import_path() -> None:
    from airflow.executors.executor_loader import ExecutorLoader, ExecutorName

    cls, _ = ExecutorLoader.import_executor_cls(ExecutorName(module_path=EMBEDDED_EXECUTOR))  # as the scheduler does
    assert cls is airflow_executor.PreloadingLocalExecutor
    assert issubclass(cls, LocalExecutor) and cls.is_local  # `airflow standalone` keeps it (it forces non-local ones away)


def test_every_preloaded_module_imports() -> None:
    # A misspelt name would only log a warning at start and silently lose the saving.
    code = ("from mindpulse import airflow_executor as e; took = e.preload(); "
            "missing = set(e.PRELOADED_MODULES) - set(took); assert not missing, missing")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


FORK_PROBE = """
import os, signal, sys, time
from airflow.executors.local_executor import LocalExecutor
from mindpulse import airflow_executor as e

before = [name for name in e.PRELOADED_MODULES if name in sys.modules]
inherited = {}
project = []
def forks(self):  # where LocalExecutor forks its workers
    inherited.update({n: n in sys.modules for n in e.PRELOADED_MODULES})
    project.extend(sorted(n for n in sys.modules if n.split(".")[0] == "mindpulse"))
LocalExecutor.start = forks
LocalExecutor.sync = lambda self: None
executor = e.PreloadingLocalExecutor(parallelism=1)
executor.start()
assert "papermill" not in before, before  # not imported by Airflow itself
assert inherited and all(inherited.values()), inherited
# The workers (and the tasks they fork) import the project's code afresh: no copy of it but this module.
assert project == ["mindpulse", "mindpulse.airflow_executor"], project
assert not [n for n in e.PRELOADED_MODULES if n.split(".")[0] == "mindpulse"]

# A zygote that dies is noticed on the next heartbeat, reaped and started again.
first = executor.zygote.process.pid
os.kill(first, signal.SIGKILL)
time.sleep(0.5)
executor.sync()
assert executor.zygote.process.pid != first and not os.path.exists(f"/proc/{first}"), first
executor.zygote.process.kill()
"""


def test_the_modules_are_imported_before_the_workers_are_forked(tmp_path) -> None:
    import os

    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", FORK_PROBE], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
