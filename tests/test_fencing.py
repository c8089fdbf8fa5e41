"""A pipeline step whose task process has ended commits nothing: no registry or store change.

Seen: the Airflow task was killed during ``train_and_gate``, and its kernel still registered and
promoted a version 8 s later. The kernel is now killed with its task; these pin the last line
behind that: every commit of the registry and the store checks, under its lock, that the task
process the step runs for is still the one alive (:mod:`mindpulse.fencing`).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import papermill as pm
import pytest
from filelock import FileLock

from fixtures_models import build_template, copy_registry
from mindpulse import fencing
from mindpulse.kernels import IPCKernelManager
from mindpulse.settings import Settings
from mindpulse.store import Store
from shared_support import migrated


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return build_template(tmp_path_factory.mktemp("template") / "artifacts", rows=1200)


def _ended_task() -> str:
    """The token of a task process that has ended."""
    task = subprocess.Popen(["sleep", "60"])
    value = fencing.token(task.pid)
    task.kill()
    task.wait()
    return value


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` and its sha256: what a commit would change."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != "registry.lock"}


def test_outside_a_pipeline_step_the_check_does_nothing(monkeypatch) -> None:
    monkeypatch.delenv(fencing.ENV_VAR, raising=False)
    fencing.check("anything")  # the CLI, JupyterLab, the dashboard: no task to fence on


def test_a_step_whose_task_has_ended_changes_neither_the_registry_nor_the_store(template, tmp_path, monkeypatch) -> None:
    registry = copy_registry(template, tmp_path / "artifacts")
    champion = registry.champion()
    store = Store.from_settings(migrated(Settings(home=tmp_path / "home")))
    before = _tree(registry.root)

    monkeypatch.setenv(fencing.ENV_VAR, _ended_task())
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "retrain_pipeline")
    with pytest.raises(fencing.TaskAttemptGone, match=r"change the model registry.*task process \d+ .* has ended \(dag=retrain_pipeline\)"):
        registry.register(registry.load_model(), {"data": {}})
    with pytest.raises(fencing.TaskAttemptGone, match="change the model registry"):
        registry.promote(champion.version, force=True, reason="a dead task")
    with pytest.raises(fencing.TaskAttemptGone, match="change the model registry"):
        registry.prune(keep=1)
    with pytest.raises(fencing.TaskAttemptGone, match="write to the store"):
        store.claim_snapshot("run-1")
    assert _tree(registry.root) == before
    assert store.snapshots() == []
    assert not registry._lock.is_locked  # the lock was given back

    monkeypatch.setenv(fencing.ENV_VAR, fencing.token())  # this process: alive, so the same calls go through
    assert registry.register(registry.load_model(), {"data": {}}).version.startswith("v0002")
    assert store.claim_snapshot("run-1").run_id == "run-1"


def test_a_new_process_that_reuses_the_tasks_pid_does_not_pass_for_it(monkeypatch) -> None:
    pid, _, started = fencing.token().partition(":")
    monkeypatch.setenv(fencing.ENV_VAR, f"{pid}:{float(started) - 100:.2f}")  # this pid, an earlier start: another process
    with pytest.raises(fencing.TaskAttemptGone, match=f"task process {pid} this step ran for has ended"):
        fencing.check("promote")


WAITING_STEP = """
import sys
from mindpulse.registry import ModelRegistry
registry = ModelRegistry(sys.argv[1], lock_timeout=120)
try:
    registry.register(registry.load_model(), {"data": {}})
except Exception as exc:
    print(type(exc).__name__, exc, flush=True)
    sys.exit(3)
"""


def test_a_task_that_dies_while_its_step_waits_for_the_registry_lock_commits_nothing(template, tmp_path) -> None:
    """The check is made once the lock is held, right before writing: not earlier, when the task still lived."""
    registry = copy_registry(template, tmp_path / "artifacts")
    before = _tree(registry.root)
    task = subprocess.Popen(["sleep", "120"])
    lock = FileLock(str(registry.root / "registry.lock"))
    with lock:
        step = subprocess.Popen([sys.executable, "-c", WAITING_STEP, str(registry.root)], text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**os.environ, fencing.ENV_VAR: fencing.token(task.pid)})
        time.sleep(3)  # the step is waiting for the lock (it imports first, then waits)
        assert step.poll() is None
        task.kill()
        task.wait()
    out, err = step.communicate(timeout=120)
    assert step.returncode == 3, err[-2000:]
    assert out.startswith("TaskAttemptGone change the model registry") and "has ended" in out
    assert _tree(registry.root) == before


def test_the_pipelines_kernel_is_told_its_task(tmp_path) -> None:
    source = tmp_path / "in.ipynb"
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(f"import os; print(os.environ.get({fencing.ENV_VAR!r}))")]
    nbformat.write(notebook, source)
    pm.execute_notebook(str(source), str(tmp_path / "out.ipynb"), kernel_name="python3", progress_bar=False,
                        kernel_manager_class=IPCKernelManager)
    printed = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[0].outputs[0]["text"].strip()
    assert printed == fencing.token()
