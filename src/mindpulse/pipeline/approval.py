"""The retrain DAG's approval steps: ask for a decision on a held challenger, then apply the answer.

``await_approval`` (Airflow's ``ApprovalOperator``) calls :func:`approval_request` for its
subject and body, and is skipped when this run's challenger does not wait for approval (the
gate refused it, nothing was trained, or ``MINDPULSE_PROMOTION_APPROVAL=auto``).
``apply_approval`` calls :func:`apply_approval` with the operator's result: the version is
promoted (through the gate again, against the champion of that moment) or refused, and the
answer is kept in the version's metadata, in ``apply_approval.json`` in the run folder (read by
the run summary) and in the audit trail. Both steps write their record beside the executed
notebooks.
"""

from __future__ import annotations

import json
from typing import Any

from mindpulse import approval, model_card
from mindpulse.pipeline.records import DECISION_FILES, Run, utc_now
from mindpulse.pipeline.sources import open_registry, open_store


def _held_version(run: Run) -> Any:
    """The version this run trained, when it asked for approval (pending or answered), else None."""
    from mindpulse.pipeline.training import version_trained_for

    version = version_trained_for(open_registry(run.settings), run)
    return version if version is not None and approval.approval_of(version) else None


def approval_request(run: Run, *, timeout_hours: float | None = None,
                     dashboard_url: str | None = None) -> dict[str, Any] | None:
    """The request for this run's held challenger (subject, body, version), or None when none waits.

    Kept in ``await_approval.json`` in the run folder.
    """
    from mindpulse.io import atomic_write_json

    version = _held_version(run)
    if version is None or not approval.is_pending(version):
        return None
    hours = run.settings.approval_timeout_hours if timeout_hours is None else float(timeout_hours)
    subject, body = approval.request_text(open_registry(run.settings), version.version, run_id=run.run_id,
                                          timeout_hours=hours, dashboard_url=dashboard_url)
    record = {"version": version.version, "subject": subject, "body": body, "asked_at": utc_now(),
              "requested_at": approval.approval_of(version).get("requested_at"), "timeout_hours": hours}
    atomic_write_json(run.dir / DECISION_FILES["await_approval"], record)
    from mindpulse import notify

    # The admins learn that a decision waits (log, webhook, e-mail of the settings); kept in the record.
    record["notifications"] = notify.send(notify.Notification(
        subject=f"{run.dag_id}: approval needed for {version.version}", text=body, level="info",
        payload={"dag_id": run.dag_id, "run_id": run.run_id, "version": version.version, "approval": "pending",
                 "timeout_hours": hours}), run.settings)
    atomic_write_json(run.dir / DECISION_FILES["await_approval"], record)
    return record


def apply_approval(run: Run, response: dict[str, Any] | None, *,
                   timeout_hours: float | None = None) -> dict[str, Any] | None:
    """Apply the answer to this run's held challenger; None when no challenger waited for one.

    ``response``: the ApprovalOperator's result (chosen option, form, responding user), or None
    when the request ended without one (its task failed): then the challenger is not approved.
    """
    from mindpulse.audit import AuditTrail
    from mindpulse.io import atomic_write_json

    version = _held_version(run)
    if version is None:
        return None
    settings = run.settings
    answer = approval.answer_from_hitl(response) or approval.Answer(approval.FAILED)
    registry = open_registry(settings)
    settled = approval.settle(registry, version.version, answer,
                              timeout_hours=settings.approval_timeout_hours if timeout_hours is None else float(timeout_hours),
                              margin=settings.promotion_margin)
    model_card.try_write_card(registry, version.version, settings=settings)  # its approval, and the statuses it moved
    record = {**settled.to_dict(), "run_id": run.run_id, "applied_at": utc_now()}
    if not settled.already_settled:
        actor = answer.by or f"airflow:{run.dag_id}"
        details = {"run_id": run.run_id, "comment": answer.comment, "via": answer.via,
                   "airflow_user": answer.airflow_user, "promoted": settled.promoted, "reason": settled.reason[:500],
                   "champion_before": settled.champion_before, "champion_after": settled.champion_after,
                   "champion_changed": settled.champion_changed}
        AuditTrail(open_store(settings)).record(actor[:64], "pipeline", approval.AUDIT_ACTIONS[settled.status],
                                            target=version.version, details=details)
    atomic_write_json(run.dir / DECISION_FILES["apply_approval"], record)
    return record


def describe(record: dict[str, Any]) -> str:
    """The answer and what it did, in one sentence."""
    approval_record = record.get("approval") or {}
    who = approval_record.get("by")
    comment = approval_record.get("comment")
    if record["status"] == approval.APPROVED:
        head = f"Approved by {who}" + (f" ({comment})" if comment else "")
        did = (f"{record['version']} is champion" if record["promoted"]
               else f"but the gate refused {record['version']} at promotion")
        text = f"{head}: {did}; {record['reason']}"
    else:
        text = f"{record['version']} not promoted: {record['reason']}"
    if record.get("champion_changed") and record["status"] != approval.APPROVED:
        text += f" (the champion changed to {record.get('champion_before')} while the request was open)"
    return text + "."


def add_approval(run: Run, summary: dict[str, Any]) -> str:
    """Put the approval of this run's challenger into ``summary``; the lines it adds to the notification text."""
    path = run.dir / DECISION_FILES["apply_approval"]
    record = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    requested = run.dir / DECISION_FILES["await_approval"]
    if record is None:
        if requested.is_file():  # asked, never applied (the approval steps failed): not promoted
            asked = json.loads(requested.read_text(encoding="utf-8"))
            summary["approval"] = {"status": approval.PENDING, "version": asked.get("version"),
                                   "requested_at": asked.get("requested_at"),
                                   "note": "no answer was applied in this run; the version stays held"}
            return f"\nApproval of {asked.get('version')} was asked for but no answer was applied in this run."
        summary["approval"] = None
        return ""
    approval_record = record.get("approval") or {}
    summary["approval"] = {"status": record["status"], "version": record["version"], "by": approval_record.get("by"),
                           "comment": approval_record.get("comment"), "at": approval_record.get("at"),
                           "airflow_user": approval_record.get("airflow_user"), "via": approval_record.get("via"),
                           "requested_at": approval_record.get("requested_at"), "promoted": record["promoted"],
                           "reason": record["reason"], "champion_changed": record.get("champion_changed"),
                           "champion_at_request": approval_record.get("champion_at_request")}
    if summary.get("outcome") != "failed":
        summary["outcome"] = "promoted" if record["promoted"] else "refused"
    summary["model_after"] = record.get("champion_after")
    summary["gate_reason"] = record["reason"]
    return "\n" + describe(record)
