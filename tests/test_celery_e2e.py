"""The production engine, proven here: the retrain DAG on Airflow's CeleryExecutor, PostgreSQL and Redis.

api-server, scheduler, dag-processor and a Celery worker run as separate processes, as they do
as containers in docker-compose.yml, with the MindPulse store on PostgreSQL too. The real
ml_retrain_pipeline (its notebooks run by Papermill on the worker) is triggered through the
REST API, must succeed, promote a new champion and archive the production rows it trained on;
everything started is stopped and both databases are dropped.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from airflow_support import process_family as _family
from celery_support import (
    REPO,
    ServiceUnavailable,
    celery_airflow,
    celery_workloads,
    check_postgres,
    check_redis,
    database_exists,
    postgres_database,
    postgres_url,
    prepare_retrain_home,
    processes_in_home,
)

pytestmark = [pytest.mark.airflow, pytest.mark.postgres, pytest.mark.slow]


def _zygotes(worker: int) -> list[psutil.Process]:
    """The live kernel zygotes under the worker (not the kernels they forked, which keep their command line)."""
    found = []
    for proc in _family(worker):
        try:
            if (proc.status() != psutil.STATUS_ZOMBIE and "mindpulse.kernel_zygote" in " ".join(proc.cmdline())
                    and "mindpulse.kernel_zygote" not in " ".join(proc.parent().cmdline())):
                found.append(proc)
        except psutil.Error:
            continue
    return found

DAG_ID = "ml_retrain_pipeline"
STEPS = {
    "sweep_stale_claims", "check_production_data", "detect_drift", "decide_retrain", "backup_model",
    "merge_training_data", "train_and_gate", "archive_production_data", "notify",
}
NOTEBOOK_STEPS = STEPS - {"sweep_stale_claims", "decide_retrain"}  # the others are Python tasks


@pytest.fixture(scope="module")
def services_up() -> None:
    """Fail (never skip) with how to fix it when PostgreSQL or Redis is down."""
    try:
        check_postgres()
        check_redis()
    except ServiceUnavailable as error:
        pytest.fail(str(error), pytrace=False)
    try:
        import airflow.providers.celery.executors.celery_executor  # noqa: F401
    except ImportError as error:
        pytest.fail(
            f"the CeleryExecutor does not import ({error}); celery 5.7 removed what "
            "apache-airflow-providers-celery 3.26 imports: pin celery<5.7",
            pytrace=False,
        )


def test_the_retrain_dag_runs_on_celery_workers_against_postgres_and_redis(services_up, tmp_path: Path):
    from mindpulse.registry import ModelRegistry
    from mindpulse.runs import read_summary, run_dir
    from mindpulse.store import Store

    with postgres_database("mindpulse_celery") as store_db:
        prepared = prepare_retrain_home(
            tmp_path / "mindpulse", postgres_url(store_db),
            extra_env={
                # As in production: one retry absorbs a transient kernel start failure
                # (jupyter_client picks its ZMQ ports by bind-and-release, which can race).
                "MINDPULSE_PIPELINE_RETRIES": "1",
                "MINDPULSE_PIPELINE_RETRY_DELAY_SECONDS": "2",
                # The test proves the engine, not the gate: any challenger is promoted.
                "MINDPULSE_PROMOTION_MARGIN": "1.0",
            },
        )
        settings = prepared.settings

        with celery_airflow(tmp_path, REPO / "dags", extra_env=prepared.env) as cluster:
            cluster.wait_for_dag(DAG_ID)
            # Enough rows to retrain without force; one fast candidate keeps the run short.
            run_id = cluster.trigger(DAG_ID, {"min_rows": 1000, "candidates": ["logistic_regression"]})
            run = cluster.wait_for_run(DAG_ID, run_id, timeout=600)
            assert run["state"] == "success", cluster.task_report(DAG_ID, run_id)

            instances = cluster.task_instances(DAG_ID, run_id)
            states = {ti["task_id"]: ti["state"] for ti in instances}
            assert {step: states.get(step) for step in STEPS} == {step: "success" for step in STEPS}, states
            # Only the test's Celery worker listens on this queue, and it says it ran every step.
            assert {ti["queue"] for ti in instances} == {cluster.queue}
            assert STEPS <= set(celery_workloads(cluster, DAG_ID))
            # The notebooks' kernels were forked warm from the zygote the worker started (as configured
            # in docker-compose.yml), none started cold.
            worker = next(service for service in cluster.services if service.name == "celery-worker")
            assert any("mindpulse.kernel_zygote" in " ".join(proc.cmdline()) for proc in _family(worker.process.pid)), \
                worker.tail()
            task_logs = "".join(path.read_text(errors="replace") for path in (cluster.home / "logs").rglob("*.log"))
            forked = len(re.findall(r"kernel \d+ forked warm by the zygote", task_logs))
            assert forked >= len(NOTEBOOK_STEPS) and "kernel started the usual way" not in task_logs, forked
            # A zygote that dies is reaped and started again by the worker.
            zygote = _zygotes(worker.process.pid)[0]
            zygote.kill()
            deadline = time.monotonic() + 60
            while not [proc for proc in _zygotes(worker.process.pid) if proc.pid != zygote.pid]:
                assert time.monotonic() < deadline, worker.tail()
                time.sleep(0.5)
            assert zygote.pid not in [proc.pid for proc in _family(worker.process.pid)]  # reaped
            home, airflow_db = cluster.home, cluster.airflow_database

        # A new champion, and the old one kept as its backup.
        registry = ModelRegistry.from_settings(settings)
        champion, backup = registry.champion(), registry.backup()
        assert champion is not None and champion.version != prepared.champion
        assert backup is not None and backup.version == prepared.champion
        summary = read_summary(run_dir(settings.reports_dir, DAG_ID, run_id))
        assert summary["outcome"] == "promoted", json.dumps(summary, indent=1, default=str)
        assert summary["model_before"] == prepared.champion and summary["model_after"] == champion.version

        # Exactly the rows it trained on are archived, in one CSV, and none are pending any more.
        store = Store.from_settings(settings)
        try:
            stats = store.stats()
        finally:
            store.close()
        assert stats["backend"] == "postgresql"
        assert stats["archived"] == prepared.pending_rows and stats["labelled_pending"] == 0, stats
        assert stats["snapshots_by_state"]["archived"] == 1, stats
        archive = Path(stats["last_archive_path"])
        assert archive.parent == settings.archive_dir and archive.is_file()
        assert len(pd.read_csv(archive)) == prepared.pending_rows

    assert processes_in_home(home) == [], "a process outlived the cluster"
    assert not database_exists(airflow_db) and not database_exists(store_db)
