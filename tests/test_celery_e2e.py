"""The production engine, proven here: Airflow's CeleryExecutor on the local PostgreSQL and Redis.

api-server, scheduler, dag-processor and a Celery worker run as separate processes, as they do
as containers in docker-compose.yml; a DAG is triggered through the REST API and must succeed
with its tasks run by the Celery worker; everything started is stopped and the database dropped.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from celery_support import (
    ServiceUnavailable,
    celery_airflow,
    celery_workloads,
    check_postgres,
    check_redis,
    database_exists,
    processes_in_home,
)

pytestmark = [pytest.mark.airflow, pytest.mark.postgres, pytest.mark.slow]

PROBE_DAG = textwrap.dedent(
    '''
    """Two tasks that hand a value over XCom: enough to prove the executor end to end."""
    from __future__ import annotations

    import os
    import socket
    from pathlib import Path

    import pendulum
    from airflow.sdk import DAG, task

    with DAG("celery_probe", schedule=None, start_date=pendulum.datetime(2024, 1, 1), catchup=False):

        @task
        def write() -> str:
            out = Path(os.environ["PROBE_OUT"]) / "probe.txt"
            out.write_text(socket.gethostname())
            return str(out)

        @task
        def read(path: str) -> int:
            return len(Path(path).read_text())

        read(write())
    '''
)


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


def test_a_dag_runs_on_celery_workers_against_postgres_and_redis(services_up, tmp_path: Path):
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "celery_probe.py").write_text(PROBE_DAG)

    with celery_airflow(tmp_path, dags, extra_env={"PROBE_OUT": str(tmp_path)}) as cluster:
        cluster.wait_for_dag("celery_probe")
        run_id = cluster.trigger("celery_probe")
        run = cluster.wait_for_run("celery_probe", run_id, timeout=300)
        assert run["state"] == "success", cluster.task_report("celery_probe", run_id)
        instances = cluster.task_instances("celery_probe", run_id)
        assert {ti["task_id"]: ti["state"] for ti in instances} == {"write": "success", "read": "success"}
        # Only the test's Celery worker listens on this queue, and it says it ran both tasks.
        assert {ti["queue"] for ti in instances} == {cluster.queue}
        assert sorted(celery_workloads(cluster, "celery_probe")) == ["read", "write"]
        home, database = cluster.home, cluster.airflow_database

    assert (tmp_path / "probe.txt").is_file()
    assert processes_in_home(home) == [], "a process outlived the cluster"
    assert not database_exists(database)
