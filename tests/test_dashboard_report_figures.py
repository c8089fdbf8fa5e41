"""The Reports list names the model behind every figure: a retrain run's challenger and champions and its holdout
figures (the list left them empty), a reporting run's versions and its estimate with the version and rows behind it."""

from __future__ import annotations

import json
from pathlib import Path

from mindpulse import runs
from mindpulse.io import atomic_write_json
from mindpulse.settings import Settings

from dashboard.stores.reports import ReportStore
from dashboard.views.reports import ReportsView, _run_table


def _home(tmp_path: Path) -> Settings:
    settings = Settings(home=tmp_path)
    retrain = settings.reports_dir / "ml_retrain_pipeline" / "scheduled__2026-12-01"
    runs.write_summary(retrain, {
        "dag_id": "ml_retrain_pipeline", "run_id": "scheduled__2026-12-01", "outcome": "promoted",
        "created_at": "2026-12-01T00:00:00+00:00", "rows": 1200, "model_before": "v0001-a", "model_after": "v0002-b",
        "challenger": "v0002-b", "metrics": {"holdout_accuracy": 0.8412, "holdout_roc_auc": 0.9187}})
    reporting = settings.reports_dir / "evidently_reporting_pipeline" / "scheduled__2026-12-02"
    runs.write_summary(reporting, {
        "dag_id": "evidently_reporting_pipeline", "run_id": "scheduled__2026-12-02", "outcome": "reported",
        "created_at": "2026-12-02T00:00:00+00:00", "rows": 3200,
        "models": {"current_rows_by_version": {"v0002-b": 2000, "v0001-a": 1200}}})
    atomic_write_json(reporting / "model_performance.json", {
        "kind": "model_performance", "rows": 1200, "labelled_rows": 1200, "accuracy": 0.83, "roc_auc": 0.91,
        "model_versions": {"v0001-a": 1200},
        "estimated": {"unlabelled": {"model_version": "v0002-b", "rows": 2000,
                                     "metrics": {"roc_auc": {"estimate": 0.9, "lower": 0.88, "upper": 0.92}}}}})
    return settings


def test_a_retrain_run_lists_its_models_and_holdout_figures(tmp_path: Path) -> None:
    store = ReportStore(settings=_home(tmp_path))
    table = _run_table(store.runs())
    retrain = table[table["dag_id"] == "ml_retrain_pipeline"].iloc[0]
    assert retrain["models"] == "challenger v0002-b · champion v0001-a → v0002-b"
    assert retrain["accuracy"] == 0.841 and retrain["roc_auc"] == 0.919
    assert retrain["figures_by"] == "v0002-b (holdout)"


def test_a_reporting_run_names_the_version_and_rows_behind_each_figure(tmp_path: Path) -> None:
    store = ReportStore(settings=_home(tmp_path))
    table = _run_table(store.runs())
    reporting = table[table["dag_id"] == "evidently_reporting_pipeline"].iloc[0]
    assert reporting["models"] == "v0002-b (2,000 rows), v0001-a (1,200 rows)"
    assert reporting["figures_by"] == "v0001-a" and reporting["accuracy"] == 0.83
    assert reporting["estimated"] == "ROC-AUC 0.900 by v0002-b on 2,000 unlabelled rows (CBPE)"
    assert str(table["rows"].dtype) == "Int64" and "3200.0" not in table.to_string()


def test_the_opened_run_states_the_estimate_with_its_model(tmp_path: Path) -> None:
    import asyncio
    import threading

    settings = _home(tmp_path)
    view = ReportsView(store=ReportStore(settings=settings))
    folder = str(settings.reports_dir / "evidently_reporting_pipeline" / "scheduled__2026-12-02")
    view._shown = None
    # In a fresh thread: after a browser test on the same worker, Playwright's loop runs in this one.
    worker = threading.Thread(target=lambda: asyncio.run(view.open(folder)))
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive()
    text = view.detail.objects[0].object
    assert "accuracy 0.830 (v0001-a)" in text
    assert "Estimated: ROC-AUC 0.900 by v0002-b on 2,000 unlabelled rows (CBPE)" in text
    assert json.loads((Path(folder) / "run_summary.json").read_text())["outcome"] == "reported"
