"""The Models page's store: the registry's versions, the champion and its backup, and rollback."""

from __future__ import annotations

from typing import Any

import pandas as pd
import param

from mindpulse.settings import Settings

from dashboard.stores.common import Acting, DashboardError, model_registry, production_store


class ModelStore(Acting):
    """The registry's versions, the champion and its backup, and rollback."""

    settings = param.ClassSelector(class_=Settings)

    def versions(self) -> list[Any]:
        """Every kept model version, newest first."""
        return sorted(model_registry(self.settings).versions(), key=lambda v: v.number, reverse=True)

    def champion(self):
        return model_registry(self.settings).champion()

    def backup(self):
        return model_registry(self.settings).backup()

    def table(self) -> pd.DataFrame:
        """One row per version: status, metrics, data size and why it was refused, if it was."""
        return pd.DataFrame([version_row(v) for v in self.versions()], columns=VERSION_COLUMNS)

    def former_champions(self) -> list[Any]:
        """Former champions still kept, other than the backup, the most recent first."""
        registry = model_registry(self.settings)
        kept = {v.version: v for v in registry.versions()}
        backup = registry.pointer().get("backup")
        return [kept[name] for name in registry.former_champions() if name in kept and name != backup]

    def quarantined(self) -> pd.DataFrame:
        """The snapshots in quarantine (left out of training), with who set each aside, when and why."""
        store = production_store(self.settings)
        rows = []
        for q in store.quarantines(in_force=True):
            rows.append({"snapshot": q.snapshot_id, "rows": store.get_snapshot(q.snapshot_id).n_rows,
                         "reason": q.reason, "quarantined_by": q.quarantined_by,
                         "quarantined_at": q.quarantined_at.isoformat(timespec="seconds")})
        return pd.DataFrame(rows, columns=QUARANTINE_COLUMNS)

    def rollback_targets(self) -> list[str]:
        """Versions a rollback may go to: the backup and other former champions, newest first."""
        return [v.version for v in self.versions() if v.status in ("backup", "archived")]

    def rollback(self, to: str | None = None):
        """Make ``to`` (default: the backup) the champion; returns the new champion."""
        from mindpulse.registry import RegistryError

        self.require("admin", "roll the model back")
        before = self.champion()
        try:
            champion = model_registry(self.settings).rollback(to)
        except RegistryError as exc:
            raise DashboardError(str(exc)) from exc
        self.audit("rollback", target=champion.version, details={"from": before.version if before else None})
        return champion


QUARANTINE_COLUMNS = ["snapshot", "rows", "reason", "quarantined_by", "quarantined_at"]

VERSION_COLUMNS = ["version", "status", "holdout_roc_auc", "holdout_accuracy", "train_rows", "note", "model",
                   "data_source", "created_at"]


def version_row(version: Any) -> dict[str, Any]:
    """The figures shown for one model version, and why the gate refused it if it did."""
    meta = version.metadata
    data = meta.get("data") or {}
    gate = meta.get("gate") or {}
    return {
        "version": version.version,
        "status": version.status,
        "model": (meta.get("model") or {}).get("name"),
        "holdout_roc_auc": version.metric("holdout", "roc_auc"),
        "holdout_accuracy": version.metric("holdout", "accuracy"),
        "train_rows": data.get("rows"),
        "data_source": data.get("source"),
        "created_at": version.created_at,
        "note": (meta.get("refusal_reason") or gate.get("reason")
                 or ((meta.get("approval") or {}).get("gate") or {}).get("reason") or ""),  # held: awaiting approval
    }
