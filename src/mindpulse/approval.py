"""Promotion approval by a person (``MINDPULSE_PROMOTION_APPROVAL=required``).

With ``auto`` a challenger that passes the gate becomes champion at once. With ``required`` the
retrain registers and judges it, and when it passes it is held: its metadata gets
``approval: {"status": "pending", ...}`` with the gate's verdict, and the champion does not
change. The retrain DAG then asks for a decision (Airflow's human-in-the-loop
``ApprovalOperator``: Required Actions in Airflow's UI, the REST API, or the dashboard's Models
page), and :func:`settle` applies the answer:

* approved: :meth:`ModelRegistry.promote` judges it again, against the champion of that moment
  (which may have changed while the request was open), under the registry lock;
* rejected, or not answered in time: recorded as a refusal with its reason
  ("rejected by NAME: COMMENT", "not approved within N h").

Who answered, their comment and when go into the version's metadata (``approval``); the caller
records them in the run summary and the audit trail. Nothing here imports Airflow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

PENDING, APPROVED, REJECTED, TIMED_OUT, FAILED = "pending", "approved", "rejected", "timed_out", "failed"
#: What the audit trail calls each answer.
AUDIT_ACTIONS = {APPROVED: "model_approved", REJECTED: "model_rejected", TIMED_OUT: "approval_timed_out",
                 FAILED: "approval_failed"}
#: The two answers of Airflow's ApprovalOperator.
APPROVE, REJECT = "Approve", "Reject"
#: The form of the request: who decides (a MindPulse account, filled in by the dashboard) and why.
APPROVER_PARAM, COMMENT_PARAM = "approver", "comment"
AWAITING = "passed the gate; awaiting approval"


class ApprovalError(ValueError):
    """An answer that cannot be applied; the message says why."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def required(settings: Any) -> bool:
    """Whether a challenger that passes the gate waits for a person's approval."""
    return getattr(settings, "promotion_approval", "auto") == "required"


def approval_of(version: Any) -> dict[str, Any]:
    """The ``approval`` record of a registered version ({} when it never asked for one)."""
    return dict(version.metadata.get("approval") or {})


def is_pending(version: Any) -> bool:
    return approval_of(version).get("status") == PENDING


def pending_versions(registry: Any) -> list[Any]:
    """The versions that wait for a decision, newest first."""
    return [v for v in reversed(registry.versions()) if is_pending(v)]


def hold(registry: Any, version: str, *, margin: float | None = None, run: dict[str, Any] | None = None) -> Any:
    """Judge ``version`` against the champion; when it passes, hold it for approval instead of promoting it.

    Returns a :class:`mindpulse.registry.PromotionDecision` with ``promoted=False``: its reason
    begins with "passed the gate; awaiting approval" when the version is held. A challenger the
    gate refuses goes through :meth:`ModelRegistry.promote` as always (recorded as refused).
    """
    margin = registry.margin if margin is None else float(margin)
    target = registry.get(version)
    recorded = approval_of(target)
    if recorded.get("status") == PENDING:  # a retry of the step that held it
        return _held_decision(target.version, recorded.get("gate") or {}, margin)
    if recorded.get("status") in (REJECTED, TIMED_OUT, FAILED):  # decided already: a rejection stays one
        return _held_decision(target.version, target.metadata.get("gate") or {}, margin)
    if recorded.get("status") == APPROVED:
        return registry.promote(version, margin=margin)
    # The gate judges it as for any promotion (every slice and every group); a pass is held, not promoted.
    return registry.promote(version, margin=margin, hold={"run": run})


def held_reason(reason: str) -> str:
    """The reason of a challenger that passed the gate and now waits for a person."""
    return f"{AWAITING} ({verdict_words(reason)})"


def verdict_words(reason: str) -> str:
    """The gate's reason without its verdict word ("promoted: ..." says what has not happened yet)."""
    text = (reason or "").strip()
    return text[len("promoted: "):] if text.startswith("promoted: ") else text


def _held_decision(version: str, gate_record: dict[str, Any], margin: float) -> Any:
    from mindpulse.registry import PromotionDecision

    gate_record = {"version": version, "promoted": False, "reason": "", "champion_before": None,
                   "champion_after": None, "challenger_auc": None, "champion_auc": None, **gate_record}
    fields = set(PromotionDecision.__dataclass_fields__)
    gate_record.setdefault("margin", margin)
    return PromotionDecision(**{k: v for k, v in gate_record.items() if k in fields})


def _write_metadata(registry: Any, version: Any, changes: dict[str, Any]) -> None:
    """Merge ``changes`` into ``version``'s metadata.json (atomically; the caller holds the registry lock)."""
    from mindpulse import fencing
    from mindpulse.io import atomic_write_json
    from mindpulse.registry import METADATA_FILE

    current = registry.get(version.version)
    fencing.check(f"record the approval of {version.version}")
    atomic_write_json(current.path / METADATA_FILE, {**current.metadata, **changes})


@dataclass(frozen=True)
class Answer:
    """A person's answer to an approval request, or its absence (timed out, or the request failed)."""

    status: str  # approved | rejected | timed_out | failed
    by: str | None = None  # the account that decided (a MindPulse account, or airflow:<user>)
    comment: str = ""
    at: str | None = None
    airflow_user: str | None = None  # who answered in Airflow (the dashboard answers as its service user)
    via: str | None = None  # dashboard | airflow

    def __post_init__(self) -> None:
        if self.status not in (APPROVED, REJECTED, TIMED_OUT, FAILED):
            raise ApprovalError(f"status: got {self.status!r}, expected one of approved, rejected, timed_out, failed")
        if self.status in (APPROVED, REJECTED) and not (self.by and self.by.strip()):
            raise ApprovalError(f"approver: got {self.by!r}; an approval or a rejection needs a named account")


def answer_from_hitl(response: dict[str, Any] | None) -> Answer | None:
    """The answer in the ApprovalOperator's result (its XCom), or None when there is none.

    A timeout ends with the request's default (Reject) and no responding user: not approved.
    The MindPulse account that decided, when the dashboard answered, is in the ``approver``
    field of the form; otherwise the Airflow user who answered is the approver.
    """
    if not response:
        return None
    chosen = list(response.get("chosen_options") or [])
    params = dict(response.get("params_input") or {})
    user = response.get("responded_by_user") or None
    at = response.get("responded_at")
    at = at.isoformat() if hasattr(at, "isoformat") else (str(at) if at else None)
    comment = str(params.get(COMMENT_PARAM) or "").strip()
    if user is None:
        return Answer(TIMED_OUT, at=at)
    airflow_user = str(user.get("name") or user.get("id") or "") if isinstance(user, dict) else str(user)
    named = str(params.get(APPROVER_PARAM) or "").strip()
    by = named or f"airflow:{airflow_user}"
    status = APPROVED if chosen == [APPROVE] else REJECTED
    return Answer(status, by=by, comment=comment, at=at, airflow_user=airflow_user,
                  via="dashboard" if named else "airflow")


@dataclass(frozen=True)
class Settled:
    """What an answer did to a held version."""

    version: str
    status: str
    promoted: bool
    reason: str
    champion_before: str | None
    champion_after: str | None
    champion_changed: bool  # the champion changed while the request was open (judged against the new one)
    approval: dict[str, Any]
    already_settled: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def refusal_reason(answer: Answer, timeout_hours: float) -> str:
    if answer.status == REJECTED:
        return f"rejected by {answer.by}" + (f": {answer.comment}" if answer.comment else " (no comment)")
    if answer.status == TIMED_OUT:
        return f"not approved within {timeout_hours:g} h (the request timed out)"
    return "not approved: the approval request ended without an answer"


def settle(registry: Any, version: str, answer: Answer, *, timeout_hours: float, margin: float | None = None) -> Settled:
    """Apply ``answer`` to held ``version``: promote it through the gate, or record the refusal.

    Idempotent: a version already settled returns its recorded outcome (a retried step changes
    nothing twice).
    """
    target = registry.get(version)
    record = approval_of(target)
    if not record:
        raise ApprovalError(f"version: {version} never asked for approval")
    if record.get("status") != PENDING:
        return Settled(version, record["status"], bool(record.get("promoted")), str(record.get("reason", "")),
                       record.get("champion_at_decision"), record.get("champion_after"),
                       bool(record.get("champion_changed")), record, already_settled=True)
    requested_champion = record.get("champion_at_request")
    decided = {"status": answer.status, "by": answer.by, "comment": answer.comment, "at": answer.at or _now(),
               "airflow_user": answer.airflow_user, "via": answer.via}
    if answer.status == APPROVED:
        decision = registry.promote(version, margin=margin)
        changed = decision.champion_before != requested_champion
        reason = decision.reason
        if changed:
            reason = (f"approved by {answer.by}; the champion changed from {requested_champion} to "
                      f"{decision.champion_before} while the request was open, so the gate judged it against "
                      f"{decision.champion_before}: {decision.reason}")
        promoted, before, after = decision.promoted, decision.champion_before, decision.champion_after
    else:
        reason = "refused: " + refusal_reason(answer, timeout_hours)
        with registry._locked():
            pointer = registry.pointer()
            before = after = pointer.get("champion")
            changed = before != requested_champion
            held_gate = dict(record.get("gate") or {})
            gate_record = {**held_gate, "promoted": False, "reason": reason, "champion_before": before,
                           "champion_after": before, "decided_at": decided["at"]}
            record = {**record, **decided, "promoted": False, "reason": reason, "champion_at_decision": before,
                      "champion_after": after, "champion_changed": changed}
            _write_metadata(registry, target, {"gate": gate_record, "refusal_reason": reason, "approval": record})
            registry._write_pointer(pointer, {"at": decided["at"], "event": "refuse", "version": version,
                                              "champion_before": before, "reason": reason, "champion_after": after,
                                              "backup_after": pointer.get("backup")})
            registry._sync_statuses()
        return Settled(version, answer.status, False, reason, before, after, changed, record)
    with registry._locked():
        record = {**record, **decided, "promoted": promoted, "reason": reason, "champion_at_decision": before,
                  "champion_after": after, "champion_changed": changed}
        _write_metadata(registry, registry.get(version), {"approval": record})
    return Settled(version, answer.status, promoted, reason, before, after, changed, record)


def promotion_blocked(registry: Any, version: str) -> str | None:
    """Why ``version`` may not be promoted by hand now (it waits for a decision), or None."""
    target = registry.get(version)
    if is_pending(target):
        record = approval_of(target)
        run = record.get("run") or {}
        return (f"{version} waits for approval (requested {record.get('requested_at')} by run "
                f"{run.get('run_id', '?')}): approve or reject it on the dashboard's Models page or in Airflow's "
                "Required Actions; 'mindpulse promote --force --reason TEXT' bypasses the approval")
    return None


def model_card_path(registry: Any, version: str) -> Any:
    """The version's model card page (:func:`mindpulse.model_card.card_paths`) when it was written, else None."""
    from mindpulse.model_card import card_paths

    path = card_paths(registry, version)["html"]
    return path if path.is_file() else None


def request_text(registry: Any, version: str, *, run_id: str, timeout_hours: float,
                 dashboard_url: str | None = None) -> tuple[str, str]:
    """The subject and body (Markdown) of the approval request for held ``version``."""
    target = registry.get(version)
    record = approval_of(target)
    gate_record = record.get("gate") or {}
    subject = f"Approve model {version} as champion?"
    auc = target.metric("holdout")
    lines = [f"Retrain run `{run_id}` trained **{version}**"
             + (f" (holdout ROC-AUC {auc:.4f})" if auc is not None else "") + ".",
             f"Gate: {gate_record.get('reason', 'not recorded')}.",
             f"Champion now: {record.get('champion_at_request') or 'none'}.",
             f"Approve to make it champion (the gate judges it again against the champion of that moment), "
             f"or Reject with a comment. Not answered within {timeout_hours:g} h, it is not approved.",
             f"Fill in `{COMMENT_PARAM}`; `{APPROVER_PARAM}` is the MindPulse account that decides "
             "(left empty, the Airflow user who answers is recorded)."]
    card = model_card_path(registry, version)
    if card is not None:
        lines.append(f"Model card: {card}" + (f" ({dashboard_url.rstrip('/')}/ → Models)" if dashboard_url else ""))
    return subject, "\n\n".join(lines)
