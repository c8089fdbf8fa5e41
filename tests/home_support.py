"""What a MindPulse home holds, for tests that compare it before and after a step."""

from __future__ import annotations

from mindpulse.registry import ModelRegistry
from mindpulse.settings import Settings
from mindpulse.store import Store


def home_state(settings: Settings) -> dict[str, object]:
    """The champion, the registered versions, the labelled rows pending, the snapshots and the archives."""
    registry = ModelRegistry.from_settings(settings)
    store = Store.from_settings(settings)
    return {"champion": registry.champion().version, "versions": [v.version for v in registry.versions()],
            "pending": store.pending_count(), "snapshots": [(s.id, s.state) for s in store.snapshots()],
            "archive": sorted(p.name for p in settings.archive_dir.glob("*")) if settings.archive_dir.is_dir() else []}
