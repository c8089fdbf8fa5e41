"""The Airflow REST client: clear errors when Airflow is down or refuses, patient polling, a real health check."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_support import WebhookReceiver, free_port
from mindpulse.airflow_client import AirflowApiError, AirflowClient, AirflowUnavailable


def test_airflow_client_says_clearly_when_airflow_is_not_running() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = AirflowClient(url, "admin", "secret", timeout=2)
    assert client.is_healthy() is False
    with pytest.raises(AirflowUnavailable, match=f"Airflow API at {url} is not reachable"):
        client.list_runs("ml_retrain_pipeline")


def test_airflow_client_reports_http_errors_with_the_request(tmp_path: Path) -> None:
    with WebhookReceiver(status=401) as hook:  # answers every POST with 401, like a wrong password
        client = AirflowClient(hook.url.rsplit("/hooks", 1)[0], "admin", "wrong", timeout=2)
        with pytest.raises(AirflowApiError, match="POST /auth/token: HTTP 401") as error:
            client.trigger("ml_retrain_pipeline", {"force": True})
    assert error.value.status_code == 401 and "user 'admin'" in str(error.value)


def test_waiting_for_a_run_goes_on_through_a_poll_that_times_out() -> None:
    """A busy API server that misses one poll does not end the wait; one that never answers does."""
    import httpx

    answers = iter(["timeout", "running", "timeout", "success"])

    def respond(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/token":
            return httpx.Response(201, json={"access_token": "t"})
        answer = next(answers, "timeout")
        if answer == "timeout":
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(200, json={"dag_run_id": "r", "state": answer})

    client = AirflowClient("http://airflow.test", "admin", "secret")
    client._http = httpx.Client(base_url=client.base_url, transport=httpx.MockTransport(respond))
    assert client.wait_for_run("d", "r", timeout=30, poll=0)["state"] == "success"
    with pytest.raises(AirflowUnavailable, match="ReadTimeout"):
        client.wait_for_run("d", "r", timeout=0.2, poll=0.05)


def test_airflow_is_healthy_only_once_its_task_execution_api_answers() -> None:
    """The execution API is built on its first request (seconds): the health wait pays it, not the first task."""
    import httpx

    execution = iter([httpx.ReadTimeout("building"), 503, 200])
    asked: list[str] = []

    def respond(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        if request.url.path == "/api/v2/monitor/health":
            return httpx.Response(200, json={"metadatabase": {"status": "healthy"}, "scheduler": {"status": "healthy"}})
        answer = next(execution)
        if isinstance(answer, Exception):
            raise httpx.ReadTimeout("building", request=request)
        return httpx.Response(answer, json={"status": "healthy"})

    client = AirflowClient("http://airflow.test")
    client._http = httpx.Client(base_url=client.base_url, transport=httpx.MockTransport(respond))
    assert [client.is_healthy() for _ in range(3)] == [False, False, True]
    assert asked.count("/execution/health") == 3
