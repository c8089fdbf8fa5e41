"""The dashboard's layout: one store module per page, and no store state that nothing watches."""

from __future__ import annotations

import importlib
from pathlib import Path

import param

from dashboard_support import PreparedHome

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


def test_the_feedback_view_shows_an_outcome_its_store_stored_from_a_worker_thread(prepared: PreparedHome) -> None:
    """The store counts each stored outcome (``changes``) in the worker thread that stored it; the
    page's count of rows waiting for a retrain follows, whichever view stored the outcome."""
    import threading

    from dashboard.stores import DashboardStore
    from dashboard.views import FeedbackView

    store = DashboardStore.from_settings(prepared.settings, static_url="/reports")
    view = FeedbackView(store=store.feedback)
    assert "**0** labelled row(s) wait" in view.pending.object
    prediction_id = store.predictions.predict(store.predictions.defaults()).prediction_id

    worker = threading.Thread(target=store.feedback.record_outcome, args=(prediction_id, 1))
    worker.start()
    worker.join(timeout=60)

    assert store.feedback.changes == 1
    assert "**1** labelled row(s) wait" in view.pending.object
