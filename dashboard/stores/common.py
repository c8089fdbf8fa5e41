"""What every store shares: the per-process caches, the user-facing error, the data store and registry."""

from __future__ import annotations

import threading
from typing import Any

from mindpulse.settings import Settings

#: Guards the per-process caches of every store module.
cache_lock = threading.Lock()
_stores: dict[str, Any] = {}


class DashboardError(Exception):
    """A problem the user can act on; its message is shown on the page as it is."""


def production_store(settings: Settings):
    """The production data store for ``settings`` (migrated once per process)."""
    from mindpulse.store import Store

    url = str(settings.database_url)
    with cache_lock:
        store = _stores.get(url)
        if store is None:
            store = Store.from_settings(settings)  # migrates to the newest schema
            _stores[url] = store
    return store


def model_registry(settings: Settings):
    """The model registry for ``settings`` (cheap: it reads small files when asked)."""
    from mindpulse.registry import ModelRegistry

    return ModelRegistry.from_settings(settings)
