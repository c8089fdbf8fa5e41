"""The dashboard's layout: one store module per page, and no store state that nothing watches."""

from __future__ import annotations

import importlib
from pathlib import Path

import param

DASHBOARD = Path(__file__).resolve().parents[1] / "dashboard"


def test_each_page_has_its_own_store_module() -> None:
    pages = {path.stem for path in (DASHBOARD / "views").glob("*.py")} - {"__init__", "common"}
    stores = {path.stem for path in (DASHBOARD / "stores").glob("*.py")}
    assert pages and pages <= stores


def test_every_name_the_views_and_tests_import_is_still_in_dashboard_stores() -> None:
    stores = importlib.import_module("dashboard.stores")
    for name in stores.__all__:
        assert getattr(stores, name) is not None, name


def test_only_the_feedback_store_keeps_a_changes_counter_and_its_view_watches_it() -> None:
    from dashboard.stores import FeedbackStore, ModelStore, PipelineStore, PredictionStore, ReportStore

    stores = (FeedbackStore, ModelStore, PipelineStore, PredictionStore, ReportStore)
    assert all(issubclass(store, param.Parameterized) for store in stores)
    assert [store.__name__ for store in stores if "changes" in store.param] == ["FeedbackStore"]
    # watched on the session's event loop: the store changes it in a worker thread
    assert 'self.store.param.watch(on_session_loop(self.refresh), "changes")' in (DASHBOARD / "views" / "feedback.py").read_text()
