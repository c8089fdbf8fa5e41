"""The audit trail: who changed what, when, from where, and whether it was allowed.

Every change made through the API, the dashboard or the CLI records one event: predictions
logged, outcomes entered or corrected, account and token changes, sign-ins and refused
attempts. Events are rows of ``audit_events`` in the production store's database; the
application only ever inserts them, and triggers refuse UPDATE and DELETE (migration 0004).
Details never hold a student's answers, only counts and ids.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from mindpulse.store.schema import audit_events as audit_t, utc_now

VIA = ("api", "dashboard", "cli", "pipeline")
OUTCOMES = ("ok", "refused")


@dataclass(frozen=True)
class AuditEvent:
    id: int
    at: datetime
    actor: str
    via: str
    remote: str | None
    action: str
    target: str | None
    outcome: str
    details: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at.isoformat(timespec="seconds"), "actor": self.actor, "via": self.via,
                "remote": self.remote, "action": self.action, "target": self.target, "outcome": self.outcome,
                "details": self.details}


def cli_actor() -> str:
    """Who runs a CLI command: the operating-system user (the CLI has no sign-in)."""
    try:
        return f"os:{getpass.getuser()}"[:64]
    except (KeyError, OSError):
        return "os:unknown"


def _event(actor: str, via: str, action: str, *, target: str | None = None, outcome: str = "ok",
           remote: str | None = None, details: dict[str, Any] | None = None) -> dict[str, Any]:
    if via not in VIA:
        raise ValueError(f"via: got {via!r}, expected one of {', '.join(VIA)}")
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome: got {outcome!r}, expected one of {', '.join(OUTCOMES)}")
    return {"at": utc_now(), "actor": str(actor)[:64], "via": via, "remote": (remote or None) and str(remote)[:64],
            "action": str(action)[:64], "target": None if target is None else str(target)[:250], "outcome": outcome,
            "details": json.dumps(details or {}, sort_keys=True, default=str)}


class AuditTrail:
    """Append and read audit events in the production store's database."""

    def __init__(self, store: Any):
        self.store = store

    def record(self, actor: str, via: str, action: str, *, connection: sa.Connection | None = None, **kwargs: Any) -> None:
        """Append one event; inside ``connection``'s transaction when given (it then commits with the change it describes)."""
        row = _event(actor, via, action, **kwargs)
        if connection is not None:
            connection.execute(audit_t.insert(), row)
            return
        with self.store.write_transaction() as own:
            own.execute(audit_t.insert(), row)

    def events(self, *, actor: str | None = None, action: str | None = None, outcome: str | None = None,
               since: datetime | None = None, limit: int = 100) -> list[AuditEvent]:
        """The newest events first, filtered by each argument given."""
        statement = sa.select(audit_t).order_by(audit_t.c.id.desc()).limit(int(limit))
        if actor is not None:
            statement = statement.where(audit_t.c.actor == actor)
        if action is not None:
            statement = statement.where(audit_t.c.action == action)
        if outcome is not None:
            statement = statement.where(audit_t.c.outcome == outcome)
        if since is not None:
            statement = statement.where(audit_t.c.at >= since)
        with self.store.read_transaction() as connection:
            rows = connection.execute(statement).mappings().all()
        return [AuditEvent(id=int(r["id"]), at=r["at"], actor=r["actor"], via=r["via"], remote=r["remote"],
                           action=r["action"], target=r["target"], outcome=r["outcome"],
                           details=json.loads(r["details"] or "{}")) for r in rows]


def accounts_behind(store: Any, snapshot_id: int) -> dict[str, dict[str, int]]:
    """Who logged and who labelled the rows of a snapshot: ``{"logged_by": {account: rows}, "labelled_by": {...}}``
    (rows submitted by no account, e.g. imported by the CLI before accounts existed, count under ``(none)``)."""
    from mindpulse.store.schema import production_rows as rows_t

    found: dict[str, dict[str, int]] = {"logged_by": {}, "labelled_by": {}}
    with store.read_transaction() as connection:
        for column in found:
            statement = (sa.select(rows_t.c[column], sa.func.count()).where(rows_t.c.snapshot_id == int(snapshot_id))
                         .group_by(rows_t.c[column]))
            for name, n in connection.execute(statement):
                found[column][name or "(none)"] = int(n)
    return found


def record_cli(action: str, *, target: str | None = None, outcome: str = "ok", **details: Any) -> None:
    """Record a change made with the CLI (as the operating-system user) in the settings' store."""
    from mindpulse.settings import get_settings
    from mindpulse.store import Store

    with Store.from_settings(get_settings()) as store:
        AuditTrail(store).record(cli_actor(), "cli", action, target=target, outcome=outcome, details=details)
