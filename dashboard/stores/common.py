"""What every store shares: the per-process caches, the user-facing error, the data store and registry."""

from __future__ import annotations

import threading
from typing import Any

import param

from mindpulse.settings import Settings

#: Guards the per-process caches of every store module.
cache_lock = threading.Lock()
_stores: dict[str, Any] = {}


class DashboardError(Exception):
    """A problem the user can act on; its message is shown on the page as it is."""


def production_store(settings: Settings):
    """The production data store for ``settings`` (opened, and its schema checked, once per process)."""
    from mindpulse.store import Store

    url = str(settings.database_url)
    with cache_lock:
        store = _stores.get(url)
        if store is None:
            store = Store.from_settings(settings)  # checks the schema; `mindpulse store migrate` migrates
            _stores[url] = store
    return store


def model_registry(settings: Settings):
    """The model registry for ``settings`` (cheap: it reads small files when asked)."""
    from mindpulse.registry import ModelRegistry

    return ModelRegistry.from_settings(settings)


class Acting(param.Parameterized):
    """A store whose actions are done by someone: the signed-in account, checked here, on the server.

    The served app always gives the session's :class:`mindpulse.accounts.Principal`; a store
    made without one (a script, the tests of a view) acts for nobody in particular.
    """

    principal = param.Parameter(default=None, doc="Who acts (mindpulse.accounts.Principal), or None.")

    @property
    def actor(self) -> str | None:
        return self.principal.name if self.principal is not None else None

    def may(self, right: str) -> bool:
        return self.principal is None or self.principal.may(right)

    def require(self, right: str, what: str) -> None:
        """Refuse ``what`` unless the principal holds ``right`` (and record the refusal)."""
        if self.may(right):
            return
        self.audit(f"{what.replace(' ', '_')}", outcome="refused", details={"needs": right})
        raise DashboardError(f"Your role ({self.principal.account.role}) may not {what}; ask an admin.")

    def audit(self, action: str, *, target: str | None = None, outcome: str = "ok", details: dict | None = None) -> None:
        """Record ``action`` in the audit trail under the principal (nothing without one)."""
        if self.principal is None:
            return
        from mindpulse.audit import AuditTrail

        AuditTrail(production_store(self.settings)).record(self.principal.name, "dashboard", action, target=target,
                                                           outcome=outcome, details=details)
