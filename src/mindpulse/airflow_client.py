"""A small client of Airflow 3's REST API (``/api/v2``), for the CLI, the dashboard and the tests.

Authentication follows the simple auth manager of ``airflow standalone``: a JWT from
``POST /auth/token`` with a user name and password, or ``GET /auth/token`` when every user is
an admin (``simple_auth_manager_all_admins``). The token is fetched once and renewed on a 401.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

FINISHED_STATES = ("success", "failed")


class AirflowUnavailable(RuntimeError):
    """Airflow's API server cannot be reached (not started, wrong URL, or not answering)."""


class AirflowApiError(RuntimeError):
    """Airflow answered a request with an error status."""

    def __init__(self, method: str, path: str, status_code: int, detail: Any):
        self.status_code = status_code
        self.detail = detail
        super().__init__(f"{method} {path}: HTTP {status_code}: {detail}")


class AirflowClient:
    """Talks to one Airflow API server (``base_url`` like ``http://127.0.0.1:8080``)."""

    def __init__(self, base_url: str, username: str | None = None, password: str | None = None, *, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self._token: str | None = None
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Any) -> "AirflowClient":
        """A client for ``MINDPULSE_AIRFLOW_API_URL`` with ``MINDPULSE_AIRFLOW_USERNAME/PASSWORD``."""
        return cls(settings.airflow_api_url, settings.airflow_username, settings.airflow_password)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "AirflowClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing ---------------------------------------------------------------------------
    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise AirflowUnavailable(f"Airflow API at {self.base_url} is not reachable ({type(exc).__name__}: {exc})") from exc

    def token(self) -> str:
        """A bearer token (fetched from ``/auth/token`` on first use)."""
        if self._token is None:
            if self.username:
                response = self._send("POST", "/auth/token", json={"username": self.username, "password": self.password or ""})
            else:
                response = self._send("GET", "/auth/token")
            if response.status_code not in (200, 201):
                who = f"user {self.username!r}" if self.username else "no credentials (all-admins mode)"
                raise AirflowApiError(response.request.method, "/auth/token", response.status_code,
                                      f"{_detail(response)}; tried {who}")
            self._token = response.json()["access_token"]
        return self._token

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One API call with the token; returns the decoded JSON (None for an empty body)."""
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self.token()}"}
            response = self._send(method, path, headers=headers, **kwargs)
            if response.status_code == 401 and attempt == 1:
                self._token = None  # expired: fetch a new one once
                continue
            break
        if response.status_code >= 400:
            raise AirflowApiError(method, path, response.status_code, _detail(response))
        return response.json() if response.content else None

    # --- the API ------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """``/api/v2/monitor/health`` (needs no token)."""
        response = self._send("GET", "/api/v2/monitor/health")
        if response.status_code >= 400:
            raise AirflowApiError("GET", "/api/v2/monitor/health", response.status_code, _detail(response))
        return response.json()

    def is_healthy(self) -> bool:
        """True when the API answers, the metadatabase and scheduler are healthy, and the task
        execution API answers too.

        The API server builds its execution API on the first request to it, which takes seconds
        on a small machine: asked here, while Airflow starts, that is not the first task's wait.
        """
        try:
            status = self.health()
            if not all(status.get(part, {}).get("status") == "healthy" for part in ("metadatabase", "scheduler")):
                return False
            return self._send("GET", "/execution/health").status_code == 200
        except (AirflowUnavailable, AirflowApiError):
            return False

    def get_dag(self, dag_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/v2/dags/{dag_id}")

    def set_paused(self, dag_id: str, paused: bool) -> dict[str, Any]:
        """Pause or unpause a DAG (new DAGs start paused)."""
        return self.request("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": paused})

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None, *, run_id: str | None = None,
                note: str | None = None) -> dict[str, Any]:
        """Start a run now, without a logical date (Airflow 3 requires the explicit null)."""
        body: dict[str, Any] = {"logical_date": None, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        if note:
            body["note"] = note
        return self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)

    def list_runs(self, dag_id: str, *, limit: int = 20) -> list[dict[str, Any]]:
        """The DAG's most recent runs, newest first."""
        answer = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": limit, "order_by": "-run_after"})
        return answer["dag_runs"]

    def get_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")

    def run_state(self, dag_id: str, run_id: str) -> str:
        """``queued``, ``running``, ``success`` or ``failed``."""
        return self.get_run(dag_id, run_id)["state"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        answer = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
        return answer["task_instances"]

    # --- human-in-the-loop (Airflow's Required Actions) --------------------------------------------
    def hitl_details(self, dag_id: str = "~", run_id: str = "~", *, task_id: str | None = None,
                     pending: bool | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Approval and other human-in-the-loop requests (``pending``: only those not answered yet)."""
        params: dict[str, Any] = {"limit": limit}
        if task_id:
            params["task_id"] = task_id
        if pending is not None:
            params["response_received"] = str(not pending).lower()
        answer = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/hitlDetails", params=params)
        return answer["hitl_details"]

    def hitl_detail(self, dag_id: str, run_id: str, task_id: str, *, map_index: int = -1) -> dict[str, Any]:
        """One task's request, with its answer once there is one (who, when, what, the form)."""
        return self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/hitlDetails")

    def respond(self, dag_id: str, run_id: str, task_id: str, chosen: str | list[str],
                params_input: dict[str, Any] | None = None, *, map_index: int = -1) -> dict[str, Any]:
        """Answer a request (e.g. ``"Approve"`` or ``"Reject"``, with the form's fields); a second answer is refused (409)."""
        body = {"chosen_options": [chosen] if isinstance(chosen, str) else list(chosen), "params_input": params_input or {}}
        return self.request("PATCH", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/{map_index}/hitlDetails",
                            json=body)

    def wait_for_run(self, dag_id: str, run_id: str, *, timeout: float = 600.0, poll: float = 2.0) -> dict[str, Any]:
        """Poll until the run succeeds or fails; a TimeoutError names its last state.

        A poll the API server does not answer in time (busy running the run's tasks on a small
        machine) is tried again until ``timeout``; then the last problem is raised.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                run = self.get_run(dag_id, run_id)
            except AirflowUnavailable:
                if time.monotonic() > deadline:
                    raise
            else:
                if run["state"] in FINISHED_STATES:
                    return run
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{dag_id} run {run_id} still {run['state']!r} after {timeout:.0f} s")
            time.sleep(poll)


def _detail(response: httpx.Response) -> Any:
    try:
        return response.json().get("detail", response.text)
    except ValueError:
        return response.text
