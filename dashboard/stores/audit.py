"""The Audit page's store: the audit trail, newest first, filtered (admins only)."""

from __future__ import annotations

import json

import pandas as pd
import param

from mindpulse.settings import Settings

from dashboard.stores.common import Acting, production_store

AUDIT_COLUMNS = ["at", "actor", "via", "remote", "action", "target", "outcome", "details"]


class AuditStore(Acting):
    """Reads the audit trail for the signed-in admin (its reads are checked like every other action)."""

    settings = param.ClassSelector(class_=Settings)

    def events(self, *, actor: str = "", action: str = "", refused: bool = False, limit: int = 200) -> pd.DataFrame:
        """The newest ``limit`` events matching the filters (empty text: any), one row each."""
        from mindpulse.audit import AuditTrail

        self.require("admin", "read the audit trail")
        events = AuditTrail(production_store(self.settings)).events(
            actor=actor.strip() or None, action=action.strip() or None, outcome="refused" if refused else None,
            limit=limit)
        rows = [{**event.as_dict(), "details": json.dumps(event.details, sort_keys=True)} for event in events]
        return pd.DataFrame(rows, columns=AUDIT_COLUMNS)
