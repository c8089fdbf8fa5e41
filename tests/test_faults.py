"""Faults injected into real retrain runs: SIGKILL of the task, its kernel or the kernel zygote mid-step.

Seen: the Airflow task was killed 6 s into ``train_and_gate``; its kernel, forked by the zygote,
registered and promoted a version 8 s later and stayed alive; the retry then reused that version.
Here a real Airflow (scheduler, DAG processor, API server, with the embedded platform's executor and
its zygote) runs the retrain DAG on a small demo home, one forced run per case. While
``train_and_gate`` or ``archive_production_data`` runs, the test finds the step's kernel (a process
forked by the zygote, or launched by its task) and kills one process. Then:

- nothing in the registry or the store changes after the death (their state right after the kill
  equals their state seconds later, before the retry starts);
- no kernel is left;
- the run ends ``success`` (the retry, or the same attempt when only the zygote died), with one
  version registered for it, trained on its snapshot once, and every production row archived
  exactly once;
- a killed zygote is started again by the executor.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

import airflow_support as af
from mindpulse.platform.supervisor import airflow_components
from mindpulse.dag_ids import RETRAIN_DAG_ID
from mindpulse.registry import ModelRegistry
from mindpulse.settings import Settings
from mindpulse.store import Store
from mindpulse.synthetic import generate

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
RETRY_DELAY = 10  # seconds between the killed attempt and its retry: the window checked for late commits
QUIET = 5  # seconds after the kill over which nothing may change


@pytest.fixture(scope="module")
def platform(demo_template: Path, migrated_airflow: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """An Airflow with the embedded executor on a copy of the demo home, the retrain DAG unpaused."""
    base = tmp_path_factory.mktemp("faults")
    home = base / "home"
    env = _retrain_env(demo_template, migrated_airflow, base, retries=1)
    airflow = af.AirflowProcesses(env, ("standalone",)).start()  # as the platform runs it
    try:
        client = airflow.client()
        af.wait_for_dag(client, RETRAIN_DAG_ID, timeout=240)
        client.set_paused(RETRAIN_DAG_ID, False)
        scheduler = airflow_components(airflow.processes["standalone"].pid)["scheduler"].pid
        yield {"airflow": airflow, "client": client, "settings": Settings(home=home), "scheduler": scheduler}
    finally:
        airflow.stop()


def _retrain_env(demo_template: Path, migrated_airflow: Path, base: Path, *, retries: int,
                 extra: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of the demo home in ``base/home`` and the environment of an Airflow in ``base/airflow`` that runs
    its retrain DAG (migrated database copied in, free log-server ports, ``retries`` per pipeline task)."""
    shutil.copytree(demo_template, base / "home")
    # Other Airflows on this machine may hold the default log server ports.
    return af.pipeline_env(migrated_airflow, base / "airflow", base / "home", retries=retries,
                           settings={"MINDPULSE_PIPELINE_RETRY_DELAY_SECONDS": str(RETRY_DELAY)}, parallelism=2, extra={
                               "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(af.free_port()),
                               "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(af.free_port()), **(extra or {})})


def _kernels(home: Path, scheduler: int) -> list[psutil.Process]:
    """The live kernels of this platform's steps: forked ones (they keep the command line of the zygote
    that forked them, whose socket is named after the scheduler) and launched ones (``ipykernel_launcher``
    with this home in their environment)."""
    found = []
    for process in psutil.process_iter():
        try:
            command = " ".join(process.cmdline())
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            if f"zygote-{scheduler}.sock" in command and process.ppid() != scheduler:
                found.append(process)
            elif "ipykernel_launcher" in command and process.environ().get("MINDPULSE_HOME") == str(home):
                found.append(process)
        except psutil.Error:
            continue
    return found


def _zygotes(scheduler: int) -> list[psutil.Process]:
    return [p for p in psutil.Process(scheduler).children()
            if "mindpulse.kernel_zygote" in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE]


def _task_process(client: Any, run_id: str, step: str) -> psutil.Process:
    """The Airflow task process running ``step`` (the Task SDK titles it ``airflow worker -- <task instance id>``)."""
    ti = next(t for t in client.task_instances(RETRAIN_DAG_ID, run_id) if t["task_id"] == step)
    title = f"airflow worker -- {ti['id']}"
    deadline = time.monotonic() + 60
    while True:
        for process in psutil.process_iter():
            try:
                if " ".join(process.cmdline()).strip() == title:
                    return process
            except psutil.Error:
                continue
        assert time.monotonic() < deadline, f"no process titled {title!r}"
        time.sleep(0.1)


def _state(settings: Settings) -> dict[str, Any]:
    """Everything a step could commit: the registry's files, the store's rows and snapshots, the archives."""
    root = ModelRegistry.from_settings(settings).root
    store = Store.from_settings(settings, migrate=False)
    archive = settings.archive_dir
    return {
        "registry": {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                     for p in sorted(root.rglob("*")) if p.is_file() and p.name != "registry.lock"},
        "snapshots": [(s.id, s.run_id, s.state, s.n_rows) for s in store.snapshots()],
        "stats": store.stats(),
        "archive": sorted(p.name for p in archive.iterdir()) if archive.is_dir() else [],
    }


def _wait_running(client: Any, run_id: str, step: str, timeout: float = 400) -> None:
    deadline = time.monotonic() + timeout
    while True:
        states = af.task_states(client, RETRAIN_DAG_ID, run_id)
        if states.get(step) == "running":
            return
        assert states.get(step) not in ("success", "failed", "skipped", "upstream_failed"), states
        assert time.monotonic() < deadline, states
        time.sleep(0.3)


def _the_kernel(home: Path, scheduler: int, timeout: float = 120) -> psutil.Process:
    deadline = time.monotonic() + timeout
    while not (kernels := _kernels(home, scheduler)):
        assert time.monotonic() < deadline, "the step's kernel did not start"
        time.sleep(0.1)
    return max(kernels, key=lambda p: p.create_time())  # the step's own: the newest


@pytest.mark.parametrize("step", ["train_and_gate", "archive_production_data"])
@pytest.mark.parametrize("victim", ["task", "kernel", "zygote"])
def test_a_process_killed_mid_step_commits_nothing_after_its_death_and_the_run_recovers(platform: dict, step: str,
                                                                                        victim: str) -> None:
    settings, client = platform["settings"], platform["client"]
    store = Store.from_settings(settings)
    rows = 300
    if store.pending_count() == 0:  # each case retrains on rows of its own
        store.add_labelled(generate(rows, seed=len(store.snapshots()) + 31,
                                    id_start=3_000_000 + len(store.snapshots()) * 10_000).canonical())
    labelled = store.stats()
    scheduler = platform["scheduler"]
    run_id = client.trigger(RETRAIN_DAG_ID, {"force": True, "candidates": ["logistic_regression"]})["dag_run_id"]

    _wait_running(client, run_id, step)
    task = _task_process(client, run_id, step).pid
    kernel = _the_kernel(settings.home, scheduler)
    time.sleep(1.5 if step == "train_and_gate" else 0.3)  # into the step's work (imports, training, archiving)
    target = {"task": task, "kernel": kernel.pid, "zygote": None}[victim]
    zygote = _zygotes(scheduler)[0] if victim == "zygote" else None
    os.kill(target or zygote.pid, signal.SIGKILL)
    at_death = _state(settings)

    if victim != "zygote":
        deadline = time.monotonic() + 5
        while kernel.is_running() and kernel.status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, f"kernel {kernel.pid} outlived its {victim} by 5 s"
            time.sleep(0.05)
        time.sleep(QUIET)
        assert _state(settings) == at_death, "something was committed after the task's death"

    finished = client.wait_for_run(RETRAIN_DAG_ID, run_id, timeout=600)
    tries = {ti["task_id"]: ti.get("try_number") for ti in client.task_instances(RETRAIN_DAG_ID, run_id)}
    assert finished["state"] == "success", af.task_states(client, RETRAIN_DAG_ID, run_id)
    if victim == "zygote":
        assert tries[step] == 1  # the kernel lived on: the same attempt finished
        deadline = time.monotonic() + 30
        while not ((new := _zygotes(scheduler)) and new[0].pid != zygote.pid):
            assert time.monotonic() < deadline, "the executor did not start the zygote again"
            time.sleep(0.5)
        assert not psutil.pid_exists(zygote.pid) or psutil.Process(zygote.pid).status() != psutil.STATUS_ZOMBIE
    elif step == "archive_production_data" and tries[step] == 1:
        # Archiving takes a fraction of a second: on a loaded machine the kill can land after the
        # step's commit, and the attempt then ends as it would have. Only then may it count once.
        assert any(s[1] == run_id and s[2] == "archived" for s in at_death["snapshots"]), (
            "the step finished on its first try although its process died before it archived")
    else:
        assert tries[step] == 2  # the retry did the step

    assert _kernels(settings.home, scheduler) == []  # no kernel left
    registry = ModelRegistry.from_settings(settings)
    mine = [v for v in registry.versions() if ((v.metadata.get("lineage") or {}).get("run") or {}).get("run_id") == run_id]
    assert len(mine) == 1, [v.version for v in mine]  # trained once for this run
    snapshots = [s["id"] for s in mine[0].metadata["lineage"]["snapshots"]]
    assert len(snapshots) == len(set(snapshots))  # no snapshot twice in its training data
    run_snapshot = next(s for s in store.snapshots() if s.run_id == run_id)
    assert run_snapshot.id in snapshots and run_snapshot.state == "archived"
    after = store.stats()
    assert store.pending_count() == 0
    assert after["rows_by_state"]["archived"] == labelled["rows_by_state"].get("archived", 0) + run_snapshot.n_rows


def test_the_whole_platform_killed_mid_training_commits_nothing_and_the_restarted_platform_recovers(
        demo_template: Path, migrated_airflow: Path, tmp_path: Path) -> None:
    """SIGKILL of every process of the embedded Airflow (standalone and all it started: scheduler,
    executor, the task, the zygote) while ``train_and_gate`` runs: the kernel follows its task out, nothing is committed after
    the kill, and an Airflow started again on the same home finishes the run once (the killed attempt
    is failed by the heartbeat timeout and retried), with no kernel left."""
    home = tmp_path / "home"
    # Two retries: standalone starts its scheduler beside its API server, and a retry that starts in
    # the first seconds after a restart can find the execution API not listening yet (seen once here).
    env = _retrain_env(demo_template, migrated_airflow, tmp_path, retries=2, extra={
        # A task whose process vanished is failed (then retried) after this long without a heartbeat.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5"})
    settings = Settings(home=home)
    store = Store.from_settings(settings)
    labelled = store.stats()
    airflow = af.AirflowProcesses(env, ("standalone",)).start()
    try:
        client = airflow.client()
        af.wait_for_dag(client, RETRAIN_DAG_ID, timeout=240)
        client.set_paused(RETRAIN_DAG_ID, False)
        standalone = airflow.processes["standalone"]
        scheduler = airflow_components(standalone.pid)["scheduler"].pid
        run_id = client.trigger(RETRAIN_DAG_ID, {"force": True, "candidates": ["logistic_regression"]})["dag_run_id"]
        _wait_running(client, run_id, "train_and_gate")
        task = _task_process(client, run_id, "train_and_gate")
        kernel = _the_kernel(home, scheduler)
        time.sleep(1.5)
        # Every process of the platform (standalone and all it started, the task in its own process group
        # among them) but the kernel, which must follow its task out by itself.
        everything = [psutil.Process(standalone.pid), *psutil.Process(standalone.pid).children(recursive=True)]
        assert task.pid in {p.pid for p in everything}
        for process in everything:
            if process.pid != kernel.pid:
                try:
                    process.send_signal(signal.SIGKILL)
                except psutil.NoSuchProcess:
                    pass
        # The state once the task is seen dead: a commit that passed its check while the task still ran
        # (the signal not yet delivered) may land in the same instant; nothing may come after this.
        killed = [p for p in everything if p.pid != kernel.pid]
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in killed):
            assert time.monotonic() < deadline, "a killed process is still running"
            time.sleep(0.01)
        at_death = _state(settings)
        deadline = time.monotonic() + 5
        while kernel.is_running() and kernel.status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, f"kernel {kernel.pid} outlived the platform by 5 s"
            time.sleep(0.05)
        time.sleep(QUIET)
        assert _state(settings) == at_death, "something was committed after the platform's death"
        standalone.wait(timeout=30)
        airflow.processes.clear()

        airflow = af.AirflowProcesses(env, ("standalone",)).start()  # the same home, started again
        client = airflow.client()
        finished = client.wait_for_run(RETRAIN_DAG_ID, run_id, timeout=600)
        assert finished["state"] == "success", af.task_states(client, RETRAIN_DAG_ID, run_id)
        scheduler = airflow_components(airflow.processes["standalone"].pid)["scheduler"].pid
        assert _kernels(home, scheduler) == []
        registry = ModelRegistry.from_settings(settings)
        mine = [v for v in registry.versions()
                if ((v.metadata.get("lineage") or {}).get("run") or {}).get("run_id") == run_id]
        assert len(mine) == 1, [v.version for v in mine]  # trained once for the run
        run_snapshot = next(s for s in store.snapshots() if s.run_id == run_id)
        assert run_snapshot.state == "archived" and store.pending_count() == 0
        assert (store.stats()["rows_by_state"]["archived"]
                == labelled["rows_by_state"].get("archived", 0) + run_snapshot.n_rows)  # each row archived once
    finally:
        airflow.stop()


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
