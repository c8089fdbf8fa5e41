"""Monitoring looks at every recent prediction, labelled or not, against a baseline that never holds a
current row: both DAGs, the same rows, the same baseline, the same decision."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from fixtures.homes import HomeFactory
from mindpulse import data, pipeline
from mindpulse.pipeline import sources
from mindpulse.predict import Predictor
from mindpulse.registry import ModelRegistry
from mindpulse.settings import Settings
from mindpulse.store import Store
from mindpulse.synthetic import generate, school_shift
from shared_support import migrated


def log_scored(settings: Settings, frame: pd.DataFrame, *, labelled: bool) -> list[int]:
    """Serve ``frame`` with the champion and log the predictions (with their outcomes when ``labelled``)."""
    scored = Predictor.load(ModelRegistry.from_settings(settings)).predict_frame(frame)
    if not labelled:
        scored["depression"] = pd.array([pd.NA] * len(scored), dtype="Int64")
    return Store.from_settings(settings).log_predictions(scored)


@pytest.fixture(scope="module")
def home(make_module_home: HomeFactory) -> dict:
    """A champion retrained on 1,200 labelled predictions (still within the window), then 2,000 predictions
    of a shifted cohort, logged without outcomes."""
    settings = make_module_home(name="window-home", drift_baseline_min_rows=500)
    data.generate_reference(settings, rows=4_000, seed=3)
    pipeline.train_first_champion(settings, seed=3, candidates=["logistic_regression"])
    labelled_ids = log_scored(settings, generate(1_200, seed=5, id_start=500_000).canonical(), labelled=True)
    retrain = pipeline.open_run(pipeline.RETRAIN_DAG_ID, "scheduled__retrain", settings=settings)
    pipeline.merge_training_data(retrain, commit=True)
    trained = pipeline.train_and_gate(retrain, seed=3, candidates=["logistic_regression"], margin=1.0, commit=True).outputs
    assert trained["promoted"], trained["reason"]
    pipeline.archive_production_data(retrain, commit=True)
    cohort = school_shift(generate(2_000, seed=9, id_start=700_000).canonical(), seed=9)
    unlabelled_ids = log_scored(settings, cohort, labelled=False)
    return {"settings": settings, "labelled_ids": labelled_ids, "unlabelled_ids": unlabelled_ids,
            "champion": trained["version"], "snapshot_id": trained["snapshot_id"]}


def _ids(frame: pd.DataFrame) -> set[int]:
    return {int(v) for v in frame["prediction_id"].dropna()}


def test_the_reporting_run_reports_on_unlabelled_predictions_and_names_the_model(home: dict) -> None:
    settings = home["settings"]
    run = pipeline.open_run(pipeline.REPORTING_DAG_ID, "manual__window", settings=settings)
    available = pipeline.check_data_availability(run).outputs
    assert available["available"] is True and available["current_rows"] == 3_200
    assert (available["labelled_rows"], available["unlabelled_rows"]) == (1_200, 2_000)

    drift = pipeline.data_drift_report(run).outputs
    assert drift["drift_status"] == "drift", drift["reason"]
    assert drift["n_features"] == 13 and drift["feature_drift_share"] == drift["n_features_drifted"] / 13
    assert {"academic_pressure", "financial_stress", "sleep_duration"} <= set(drift["features_drifted"])
    baseline = drift["reference"]
    assert baseline["model_version"] == home["champion"] and len(baseline["sha256"]) == 64
    assert baseline["current_rows_left_out"] > 0  # the champion trained on predictions that are current rows

    performance = pipeline.model_performance_report(run)
    estimated = performance.outputs["estimated"]
    first = ModelRegistry.from_settings(settings).versions()[0].version
    assert estimated["by_model_version"][home["champion"]]["rows"] == 2_000  # the new champion served the cohort
    assert estimated["model_version"] == home["champion"] and estimated["roc_auc"]["estimate"] is not None
    assert f"{home['champion']} on 2,000 unlabelled predictions" in performance.message
    assert performance.outputs["headline"]["model_version"] == first  # the labelled rows: the first champion's
    errors = estimated["realized_minus_estimated_by_version"]
    assert set(errors) == {first} and errors[first]["rows"] == 1_200

    # The notebook's evidence and the trends name the versions too, and keep the estimate's error per version.
    from mindpulse import trends
    from mindpulse.pipeline import evidence

    shown = evidence.performance(run, pipeline.current_data(run))
    titles = [figure.title for figure in shown.figures]
    assert f"Estimated performance of 2,000 unlabelled predictions by {home['champion']}" in titles
    assert f"Estimate vs realized on 1,200 labelled predictions by {first}" in titles
    assert f"Confusion matrix of 1,200 labelled predictions by {first}" in titles
    pipeline.data_quality_report(run)
    pipeline.finish_reporting(run)
    row = trends.trend_frame(settings.reports_dir).set_index("run_id").loc["manual__window"]
    assert (row["estimated_model_version"], row["realized_model_version"]) == (home["champion"], first)
    assert row["estimate_error_model_version"] == first and row["estimate_error_rows"] == 1_200
    assert row["estimate_error_roc_auc"] == pytest.approx(errors[first]["roc_auc"])


def test_too_few_labels_skip_only_the_realized_performance(home: dict) -> None:
    settings = home["settings"].model_copy(update={"performance_min_labelled_rows": 5_000})
    run = pipeline.open_run(pipeline.REPORTING_DAG_ID, "manual__few-labels", settings=settings)
    available = pipeline.check_data_availability(run)
    assert available.outputs["available"] is True and available.outputs["enough_labels"] is False
    assert "not enough labels" in available.message
    performance = pipeline.model_performance_report(run)
    assert "not enough labels" in performance.outputs["realized_skipped"] and performance.outputs.get("html") is None
    assert performance.outputs["estimated"]["rows"] == 2_000
    assert json.loads((run.dir / "model_performance.json").read_text())["estimated"]["unlabelled_rows"] == 2_000


def test_the_retrain_trigger_measures_the_same_rows_the_same_way(home: dict) -> None:
    settings = home["settings"]
    report = pipeline.open_run(pipeline.REPORTING_DAG_ID, "manual__same", settings=settings)
    pipeline.check_data_availability(report)
    reported = pipeline.data_drift_report(report).outputs
    retrain = pipeline.open_run(pipeline.RETRAIN_DAG_ID, "manual__same", settings=settings)
    measured = pipeline.detect_drift(retrain).outputs
    assert measured["unlabelled_rows"] == 2_000 and measured["n_rows"] == 3_200
    for key in ("drift_status", "feature_drift_share", "features_drifted", "prediction_drift_score", "label_drift_score"):
        assert measured[key] == reported[key], key
    assert measured["reference"]["sha256"] == reported["reference"]["sha256"]


def test_baseline_and_current_rows_never_share_a_prediction_id_on_any_path(home: dict) -> None:
    settings = home["settings"]
    current_ids = set(home["labelled_ids"]) | set(home["unlabelled_ids"])
    # The champion's training data does hold current rows: leaving them out is what this test is about.
    assert _ids(Store.from_settings(settings).snapshot_frame(home["snapshot_id"])) & current_ids

    # 1. the reporting run: its quality and drift reports, and the figures of its notebook
    report = pipeline.open_run(pipeline.REPORTING_DAG_ID, "manual__ids", settings=settings)
    pipeline.check_data_availability(report)
    pipeline.data_quality_report(report)
    pipeline.data_drift_report(report)
    # 2. the retrain run's drift trigger
    retrain = pipeline.open_run(pipeline.RETRAIN_DAG_ID, "manual__ids", settings=settings)
    pipeline.detect_drift(retrain)
    for run in (report, retrain):
        current = pd.read_parquet(run.dir / "current_data.parquet")
        assert _ids(current) == current_ids
        for name in ("reference_data.parquet", "reference_scored.parquet"):
            assert not _ids(pd.read_parquet(run.dir / name)) & _ids(current), (run.dir, name)
    # 3. without a run folder, and 4. the evidence helper's drift inputs
    baseline, described = sources.drift_baseline(settings, sources.monitored_predictions(settings)[0])
    assert not _ids(baseline) & current_ids and described["current_rows_left_out"] > 0
    reference, current = sources.drift_frames(settings, sources.monitored_predictions(settings)[0])
    assert not _ids(reference) & _ids(current)
    # 5. with too few rows left, the reference data (no prediction ids at all)
    small = settings.model_copy(update={"drift_baseline_min_rows": 100_000})
    fallback, about = sources.drift_baseline(small, sources.monitored_predictions(small)[0])
    assert about["source"].startswith("reference data") and not _ids(fallback)


def _as_executed(run: pipeline.Run, step: str, outputs: dict) -> None:
    """The step's notebook as Papermill leaves it: its glued outputs (what decide_retrain reads)."""
    cells = [{"output_type": "display_data", "metadata": {},
              "data": {"application/scrapbook.scrap.json+json": {"name": k, "data": v, "encoder": "json", "version": 1}}}
             for k, v in outputs.items()]
    document = {"cells": [{"cell_type": "code", "metadata": {}, "source": [], "outputs": cells}], "metadata": {},
                "nbformat": 4, "nbformat_minor": 5}
    run.notebook(step).write_text(json.dumps(document))


def _retrain_checks(settings: Settings, name: str) -> tuple[pipeline.Run, pipeline.RetrainDecision]:
    run = pipeline.open_run(pipeline.RETRAIN_DAG_ID, name, settings=settings)
    _as_executed(run, "check_production_data", pipeline.check_production_data(run).outputs)
    _as_executed(run, "detect_drift", pipeline.detect_drift(run).outputs)
    decision = pipeline.decide_retrain(run.dir, min_rows=settings.retrain_min_rows, force=False,
                                       feature_drift_threshold=settings.feature_drift_threshold,
                                       prediction_drift_threshold=settings.prediction_drift_threshold,
                                       min_new_labels=settings.outcome_request_rows)
    return run, decision


def test_drift_without_new_outcomes_asks_for_them_and_their_return_retrains(home: dict, tmp_path_factory) -> None:
    """The shifted cohort, unlabelled: no copy of the champion is trained; 50 outcomes are asked for, stratified;
    once they are recorded, drift plus labels retrains."""
    import shutil

    from mindpulse import runs, synthetic

    original = home["settings"]
    folder = tmp_path_factory.mktemp("ask-home")  # a copy: this test records outcomes
    for name in ("data", "artifacts"):
        shutil.copytree(original.home / name, folder / name)
    settings = original.model_copy(update={"home": folder, "data_dir": folder / "data", "artifacts_dir": folder / "artifacts",
                                           "reports_dir": folder / "reports",
                                           "database_url": f"sqlite:///{folder / 'data' / 'mindpulse.db'}"})
    registry = ModelRegistry.from_settings(settings)
    versions = len(registry.versions())

    run, decision = _retrain_checks(settings, "scheduled__drift-no-labels")
    assert decision.proceed is False and decision.outcomes_needed is True
    assert any("would only copy the champion" in reason for reason in decision.reasons)
    request = json.loads((run.dir / "outcome_request.json").read_text())
    asked = pd.DataFrame(request["predictions"])
    assert request["rows"] == len(asked) == settings.outcome_request_rows == 50
    assert set(asked["prediction_id"]) <= set(home["unlabelled_ids"])  # the drifted cohort, never labelled rows
    assert asked["stratum"].nunique() >= 3  # both issued labels and several risk bands, not only the commonest answer
    text = pipeline.finish_retrain(run).message  # the notification's text
    summary = runs.read_summary(run.dir)
    assert summary["outcome"] == "skipped" and summary["outcome_request"]["prediction_ids"] == sorted(asked["prediction_id"])
    assert "Outcomes that would tell us most: 50 predictions of the drifted cohort" in text
    assert len(registry.versions()) == versions  # no copy of the champion registered

    from dashboard.stores.feedback import FeedbackStore
    from dashboard.views.feedback import FeedbackView

    page = FeedbackView(store=FeedbackStore(settings=settings))  # the Feedback page lists them
    assert page.asked.visible and sorted(page.asked.value["prediction_id"]) == sorted(asked["prediction_id"])
    assert "50" in page.asked_note.object and run.run_id in page.asked_note.object

    store = Store.from_settings(settings)
    cohort = store.recent_predictions(limit=5_000).set_index("prediction_id").loc[asked["prediction_id"]]
    outcomes = (synthetic.true_probability(cohort.reset_index()) >= 0.5).astype(int)
    for pid, outcome in zip(asked["prediction_id"], outcomes):
        store.record_feedback(int(pid), int(outcome))
    assert FeedbackStore(settings=settings).requested_outcomes().empty  # all recorded: nothing left to ask
    after, decision = _retrain_checks(settings, "scheduled__drift-with-labels")
    assert decision.proceed is True and not decision.outcomes_needed
    assert "drift plus 50 new labelled rows >= 50 (outcome_request_rows)" in decision.reasons


def test_a_long_figure_title_is_wrapped_to_the_figure_not_cut() -> None:
    """The confusion matrix's title ("...of 5581 labelled predi") ran past a 4.4-inch figure's edges."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from mindpulse import plots

    figure, axes = plots._figure(4.4, 3.8)
    axes.imshow([[1, 2], [3, 4]])
    axes.set_title("Confusion matrix of 5,581 labelled predictions by v0001-20261206T200641Z")
    renderer = FigureCanvasAgg(figure).get_renderer()
    before = axes.title.get_window_extent(renderer)
    assert before.x0 < 0 or before.x1 > figure.bbox.width  # the defect: the title does not fit
    plots._fit_titles(figure)
    after = axes.title.get_window_extent(renderer)
    assert 0 <= after.x0 and after.x1 <= figure.bbox.width
    assert axes.title.get_text().replace("\n", " ").endswith("predictions by v0001-20261206T200641Z")
