"""The Pipelines page's store: recent runs of the two DAGs and triggers, through Airflow's REST API."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
import param

from mindpulse.dag_ids import DAG_IDS, REPORTING_DAG_ID, RETRAIN_DAG_ID
from mindpulse.settings import Settings

from dashboard.stores.common import Acting, DashboardError


@dataclass(frozen=True)
class PipelineState:
    """What Airflow says about the two pipelines."""

    runs: dict[str, pd.DataFrame]  # dag id -> recent runs, newest first
    paused: list[str]  # dag ids whose new runs wait until the DAG is unpaused


class PipelineStore(Acting):
    """Recent runs of the two DAGs and triggers, through Airflow's REST API."""

    settings = param.ClassSelector(class_=Settings)

    def _call(self, action):
        """Run ``action(client)``; Airflow's failures become messages a user can act on."""
        from mindpulse.airflow_client import AirflowApiError, AirflowClient, AirflowUnavailable

        url = self.settings.airflow_api_url
        try:
            with AirflowClient.from_settings(self.settings) as client:
                return action(client)
        except AirflowUnavailable as exc:
            raise DashboardError(
                f"Airflow is not reachable at {url}: start it (the platform's Airflow, e.g. 'make run') or "
                "point MINDPULSE_AIRFLOW_API_URL at it. Predictions and feedback work without it."
            ) from exc
        except AirflowApiError as exc:
            if exc.status_code in (401, 403):
                hint = "check MINDPULSE_AIRFLOW_USERNAME and MINDPULSE_AIRFLOW_PASSWORD"
            elif exc.status_code == 404:
                hint = "is the DAG deployed (dags/ folder) and parsed?"
            else:
                hint = "see Airflow's own log"
            raise DashboardError(f"Airflow at {url} refused the request ({exc}); {hint}.") from exc

    def recent_runs(self, limit: int = 10) -> PipelineState:
        """The latest runs of each DAG (run id, state, times, conf), newest first, and which DAGs are paused."""
        def read(client) -> PipelineState:
            runs = {dag_id: runs_frame(client.list_runs(dag_id, limit=limit)) for dag_id in DAG_IDS}
            paused = [dag_id for dag_id in DAG_IDS if client.get_dag(dag_id).get("is_paused")]
            return PipelineState(runs=runs, paused=paused)

        return self._call(read)

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Start a run of ``dag_id`` now; returns its run id."""
        self.require("admin", "start pipeline runs")
        run = self._call(lambda client: client.trigger(dag_id, conf=dict(conf or {}),
                                                       note=f"triggered from the dashboard by {self.actor}" if self.actor else None))
        self.audit("dag_triggered", target=f"{dag_id} {run['dag_run_id']}", details={"conf": dict(conf or {})})
        return str(run["dag_run_id"])

    def trigger_retrain(self, force: bool = False) -> str:
        """Start the retrain pipeline; ``force`` retrains even without enough new labels or drift."""
        return self.trigger(RETRAIN_DAG_ID, {"force": True} if force else {})

    def trigger_reporting(self) -> str:
        """Start the reporting pipeline."""
        return self.trigger(REPORTING_DAG_ID, {})


RUN_COLUMNS = ["run_id", "state", "run_type", "start_date", "end_date", "conf"]


def runs_frame(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """Airflow's DAG run records as a table."""
    rows = []
    for run in runs:
        rows.append({
            "run_id": run.get("dag_run_id"),
            "state": run.get("state"),
            "run_type": run.get("run_type"),
            "start_date": run.get("start_date"),
            "end_date": run.get("end_date"),
            "conf": json.dumps(run.get("conf") or {}, sort_keys=True),
        })
    return pd.DataFrame(rows, columns=RUN_COLUMNS)
