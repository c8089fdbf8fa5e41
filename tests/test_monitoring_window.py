"""Monitoring looks at every recent prediction, labelled or not, against a baseline that never holds a
current row: both DAGs, the same rows, the same baseline, the same decision."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mindpulse import data, pipeline
from mindpulse.pipeline import sources
from mindpulse.predict import Predictor
from mindpulse.registry import ModelRegistry
from mindpulse.settings import Settings
from mindpulse.store import Store
from mindpulse.synthetic import generate, school_shift


def log_scored(settings: Settings, frame: pd.DataFrame, *, labelled: bool) -> list[int]:
    """Serve ``frame`` with the champion and log the predictions (with their outcomes when ``labelled``)."""
    scored = Predictor.load(ModelRegistry.from_settings(settings)).predict_frame(frame)
    if not labelled:
        scored["depression"] = pd.array([pd.NA] * len(scored), dtype="Int64")
    return Store.from_settings(settings).log_predictions(scored)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A champion retrained on 1,200 labelled predictions (still within the window), then 2,000 predictions
    of a shifted cohort, logged without outcomes."""
    settings = Settings(home=tmp_path_factory.mktemp("window-home"), drift_baseline_min_rows=500)
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
    reference, current = sources._drift_frames(settings, sources.monitored_predictions(settings)[0])
    assert not _ids(reference) & _ids(current)
    # 5. with too few rows left, the reference data (no prediction ids at all)
    small = settings.model_copy(update={"drift_baseline_min_rows": 100_000})
    fallback, about = sources.drift_baseline(small, sources.monitored_predictions(small)[0])
    assert about["source"].startswith("reference data") and not _ids(fallback)
