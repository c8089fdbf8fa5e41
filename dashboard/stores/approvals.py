"""The Models page's pending approvals: challengers that wait for an admin, answered through Airflow's REST API.

With ``MINDPULSE_PROMOTION_APPROVAL=required`` a challenger that passes the gate waits in the
registry (``approval.status == "pending"``) while its retrain run waits in Airflow
(``await_approval``, a human-in-the-loop request). The list comes from the registry; an answer
goes to Airflow, as Airflow's Required Actions would send it, with the signed-in MindPulse
account as the approver; the run then promotes the version or records the refusal.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import param

from mindpulse.settings import Settings

from dashboard.stores.common import Acting, DashboardError, model_registry

PENDING_COLUMNS = ["version", "run", "gate", "requested_at", "holdout_roc_auc", "model_card"]
#: The retrain DAG's task that holds the request.
REQUEST_TASK = "await_approval"


class ApprovalStore(Acting):
    """Pending approvals, and the admin's answer to one."""

    settings = param.ClassSelector(class_=Settings)

    def pending(self) -> list[dict[str, Any]]:
        """One record per version waiting for approval, newest first."""
        from mindpulse import approval

        registry = model_registry(self.settings)
        out = []
        for version in approval.pending_versions(registry):
            record = approval.approval_of(version)
            run = record.get("run") or {}
            card = approval.model_card_path(registry, version.version)
            out.append({"version": version.version, "dag_id": run.get("dag_id"), "run": run.get("run_id"),
                        "gate": (record.get("gate") or {}).get("reason", ""), "requested_at": record.get("requested_at"),
                        "holdout_roc_auc": version.metric("holdout"), "model_card": str(card) if card else None,
                        "champion_at_request": record.get("champion_at_request")})
        return out

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([{k: r[k] for k in PENDING_COLUMNS} for r in self.pending()], columns=PENDING_COLUMNS)

    def answer(self, version: str, approve: bool, comment: str) -> dict[str, Any]:
        """Approve or reject ``version`` as the signed-in admin (a rejection needs a comment)."""
        from mindpulse.airflow_client import AirflowApiError, AirflowClient, AirflowUnavailable

        verb = "approve" if approve else "reject"
        self.require("admin", f"{verb} a model")
        comment = (comment or "").strip()
        if not approve and not comment:
            raise DashboardError("comment: a rejection needs a comment (why the model should not become champion)")
        if not self.actor:
            raise DashboardError("approver: only a signed-in account can approve or reject a model")
        request = next((r for r in self.pending() if r["version"] == version), None)
        if request is None or not request["run"]:
            raise DashboardError(f"version: {version!r} does not wait for approval (any more); refresh the page")
        url = self.settings.airflow_api_url
        option = "Approve" if approve else "Reject"
        try:
            with AirflowClient.from_settings(self.settings) as client:
                client.respond(request["dag_id"], request["run"], REQUEST_TASK, option,
                               {"approver": self.actor, "comment": comment})
        except AirflowUnavailable as exc:
            raise DashboardError(f"Airflow is not reachable at {url}: the answer was not sent; start Airflow or point "
                                 "MINDPULSE_AIRFLOW_API_URL at it, then answer again.") from exc
        except AirflowApiError as exc:
            if exc.status_code == 409:
                why = "the request was answered already (or timed out)"
            elif exc.status_code == 404:
                why = "Airflow has no open request for this run (its task ended or was cleared)"
            elif exc.status_code in (401, 403):
                why = "check MINDPULSE_AIRFLOW_USERNAME and MINDPULSE_AIRFLOW_PASSWORD"
            else:
                why = "see Airflow's own log"
            self.audit(f"{verb}_model", target=version, outcome="failed", details={"error": str(exc)[:300]})
            raise DashboardError(f"Airflow at {url} refused the answer ({exc}): {why}.") from exc
        self.audit(f"{verb}_model", target=version,
                   details={"run_id": request["run"], "comment": comment, "option": option})
        return {**request, "option": option, "comment": comment, "approver": self.actor}
