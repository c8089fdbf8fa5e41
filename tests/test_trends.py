"""Trends across runs read from the runs' JSON records (no HTML, no second store), and the Trends view built on them."""

from __future__ import annotations

from pathlib import Path

import pytest

from mindpulse import trends
from mindpulse.settings import Settings
from trends_support import REPORTING_RUNS, RETRAIN_RUNS, write_runs


def test_trend_frame_reads_each_runs_json_records_oldest_first(tmp_path: Path) -> None:
    write_runs(tmp_path / "reports")
    frame = trends.trend_frame(tmp_path / "reports")
    assert len(frame) == len(REPORTING_RUNS) + len(RETRAIN_RUNS)
    assert frame["created_at"].is_monotonic_increasing
    reporting = frame[frame["dag_id"] == "evidently_reporting_pipeline"]
    assert reporting["accuracy"].tolist() == [accuracy for _, _, accuracy in REPORTING_RUNS]  # JSON, not the HTML
    assert reporting["drift_share"].tolist() == [share for _, share, _ in REPORTING_RUNS]
    assert reporting["estimated_accuracy"].notna().all()
    assert (reporting["estimated_accuracy_lower"] <= reporting["estimated_accuracy"]).all()
    outcomes = trends.retrain_outcomes(frame)
    assert outcomes["outcome"].tolist() == [outcome for _, outcome, *_ in RETRAIN_RUNS]
    assert outcomes["champion_after"].tolist()[-1] == "v0003-x"
    assert outcomes["waiting_rows"].tolist() == [waiting for _, _, waiting, *_ in RETRAIN_RUNS]
    long = trends.performance_long(frame)
    assert set(long["kind"]) == {"realized", "estimated"} and set(long["metric"]) == {"roc_auc", "accuracy", "f1"}


def test_trends_follow_the_records_when_runs_are_pruned(tmp_path: Path) -> None:
    from mindpulse.monitoring import prune_report_runs

    write_runs(tmp_path / "reports")
    prune_report_runs(tmp_path / "reports", keep=1)
    assert len(trends.trend_frame(tmp_path / "reports")) == 2  # the newest of each DAG; nothing kept elsewhere


def test_trend_frame_of_no_runs_is_empty_with_its_columns(tmp_path: Path) -> None:
    frame = trends.trend_frame(tmp_path / "missing")
    assert frame.empty and list(frame.columns) == list(trends.COLUMNS)


def test_trends_view_draws_four_plots_and_the_runs_table(tmp_path: Path) -> None:
    pytest.importorskip("hvplot")
    from dashboard.stores import TrendStore
    from dashboard.views import TrendsView

    settings = Settings(home=tmp_path)
    write_runs(settings.reports_dir)
    view = TrendsView(store=TrendStore(settings=settings))
    view.__panel__()
    assert len(view.plots.objects) == 4
    assert len(view.table.value) == 6
    assert "6 run(s)" in view.summary.object


def test_trends_plot_renders_a_png_for_the_notebook(tmp_path: Path) -> None:
    from mindpulse import plots

    write_runs(tmp_path / "reports")
    figure = plots.trends(trends.trend_frame(tmp_path / "reports"))
    assert figure._repr_png_().startswith(b"\x89PNG")


def test_hand_runs_are_left_out_of_the_trends_and_every_figure_names_its_model(tmp_path: Path) -> None:
    import shutil

    from mindpulse import runs

    write_runs(tmp_path / "reports")
    pipeline_runs = trends.trend_frame(tmp_path / "reports")
    folder = tmp_path / "reports" / "evidently_reporting_pipeline"
    newest = sorted(p for p in folder.iterdir() if p.is_dir())[-1]
    hand = folder / f"{runs.INTERACTIVE_RUN_ID}2026-12-06T20-00-00"
    shutil.copytree(newest, hand)  # a notebook rerun by hand, with the same kind of records
    frame = trends.trend_frame(tmp_path / "reports")
    assert len(frame) == len(pipeline_runs) and not frame["run_id"].astype(str).str.startswith("interactive").any()
    assert "realized_model_version" in frame.columns and "estimated_model_version" in frame.columns


def test_counts_are_whole_numbers_and_the_performance_legend_sits_outside_the_lines(tmp_path: Path) -> None:
    import holoviews as hv

    from dashboard.views.trends import performance_plot

    write_runs(tmp_path / "reports")
    frame = trends.trend_frame(tmp_path / "reports")
    for name in ("labelled_rows", "estimated_rows", "waiting_rows"):
        assert str(frame[name].dtype) == "Int64", name
    assert ".0" not in frame[["labelled_rows", "waiting_rows"]].astype(str).to_string()
    figure = hv.render(performance_plot(frame), backend="bokeh")
    legends = [item for item in figure.center if type(item).__name__ == "Legend"]
    assert not legends  # a legend inside the plotting area covers the lines
    assert any(type(item).__name__ == "Legend" for item in figure.right)
