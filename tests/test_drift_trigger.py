"""The retrain pipeline's drift step measures its two triggers on the recent logged predictions: the
share of the 13 features that drifted (more than 30 %) and prediction drift (the predicted
probability). Exam-season traffic triggers a retrain through prediction drift, undrifted traffic
does not, 50 rows are too few."""

from __future__ import annotations

import pandas as pd
import pytest

from fixtures.homes import HomeFactory
from mindpulse import data, pipeline
from mindpulse.registry import ModelRegistry
from mindpulse.settings import Settings
from mindpulse.store import Store
from mindpulse.predict import Predictor
from mindpulse.synthetic import generate
from mindpulse.train import train_register_and_judge
from shared_support import migrated


def log_scored(settings: Settings, frame, *, labelled: bool = True) -> list[int]:
    """Serve ``frame`` with the champion and log the predictions (with their outcomes when ``labelled``)."""
    scored = Predictor.load(ModelRegistry.from_settings(settings)).predict_frame(frame)
    if not labelled:
        scored["depression"] = scored["depression"].astype("Int64").where(False)
    return Store.from_settings(settings).log_predictions(scored)


@pytest.fixture(scope="module")
def home(make_module_home: HomeFactory) -> Settings:
    settings = make_module_home(name="drift-home")
    data.generate_reference(settings, rows=6_000, seed=3)
    registry = ModelRegistry.from_settings(settings)
    train_register_and_judge(data.load_reference(settings), registry, seed=3, margin=settings.promotion_margin,
                   data_source="reference", candidates=("logistic_regression",), folds=3)
    assert registry.champion() is not None
    return settings


def drift_of(settings: Settings, rows: int, seed: int, **shift) -> dict:
    """Fresh store holding `rows` logged, labelled predictions; the drift step's glued outputs."""
    store_path = settings.data_dir / f"store-{rows}-{seed}-{'-'.join(map(str, shift.values()))}.db"
    run_settings = migrated(settings.model_copy(update={"database_url": f"sqlite:///{store_path}"}))
    log_scored(run_settings, generate(rows, seed=seed, id_start=500_000, **shift).canonical())
    run = pipeline.open_run("ml_retrain_pipeline", f"drift-{seed}-{rows}", settings=run_settings)
    return pipeline.detect_drift(run).outputs


def test_exam_season_triggers_a_retrain_through_prediction_drift_not_the_feature_share(home: Settings) -> None:
    out = drift_of(home, 1_200, seed=11, scenario="exam_season")
    assert out["drift_status"] == "drift", out
    # Three of the 13 features move (pressure, study hours, sleep): 23 %, not more than 30 %, so the
    # feature trigger does not fire; the champion's predicted probability moves far, so prediction drift does.
    assert sorted(out["features_drifted"]) == ["academic_pressure", "sleep_duration", "work_study_hours"]
    assert out["n_features"] == 13 and out["feature_drift_share"] == 3 / 13
    assert out["feature_drifted"] is False and out["feature_drift_threshold"] == home.feature_drift_threshold == 0.3
    assert out["prediction_drifted"] is True and out["prediction_drift_score"] >= home.prediction_drift_threshold
    decision = pipeline.retrain_reasons(rows=out["n_rows"], min_rows=home.retrain_min_rows, drift_status=out["drift_status"],
                                        feature_drift_share=out["feature_drift_share"],
                                        feature_drift_threshold=out["feature_drift_threshold"],
                                        prediction_drift_score=out["prediction_drift_score"],
                                        prediction_drift_threshold=out["prediction_drift_threshold"], force=False)
    assert decision.proceed
    assert [r for r in decision.reasons if "drift" in r] == [
        f"prediction drift score {out['prediction_drift_score']:.3f} >= prediction_drift_threshold 0.10"]


def test_undrifted_traffic_does_not(home: Settings) -> None:
    out = drift_of(home, 1_200, seed=12)
    assert out["drift_status"] == "no_drift", out
    assert out["feature_drift_share"] <= 0.1 and out["feature_drifted"] is False
    assert out["prediction_drifted"] is False


def test_fifty_rows_are_not_enough_data(home: Settings) -> None:
    out = drift_of(home, 50, seed=13, scenario="exam_season")
    assert out["drift_status"] == "not_enough_data"
    assert out.get("feature_drift_share") is None and out.get("prediction_drifted") is None  # None is not glued


def test_after_a_drift_retrain_the_baseline_is_the_new_champions_training_data_without_the_current_rows(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """Exam season: drift triggers a retrain, it is promoted; the next day's baseline is the new champion's
    training data, and the rows it trained on that are still current rows are left out of it."""
    settings = migrated(Settings(home=tmp_path_factory.mktemp("exam-home")))
    data.generate_reference(settings, rows=6_000, seed=3)
    pipeline.train_first_champion(settings, seed=3, candidates=["logistic_regression"])
    day_one_ids = log_scored(settings, generate(1_200, seed=11, scenario="exam_season", id_start=500_000).canonical())

    day_one = pipeline.open_run(pipeline.RETRAIN_DAG_ID, "scheduled__day-one", settings=settings)
    drift = pipeline.detect_drift(day_one).outputs
    assert drift["drift_status"] == "drift" and "reference data" in drift["reference"]["source"]
    decision = pipeline.retrain_reasons(rows=1_200, min_rows=5_000, drift_status=drift["drift_status"],
                                        feature_drift_share=drift["feature_drift_share"],
                                        feature_drift_threshold=settings.feature_drift_threshold,
                                        prediction_drift_score=drift["prediction_drift_score"],
                                        prediction_drift_threshold=settings.prediction_drift_threshold, force=False)
    assert decision.proceed and decision.reasons[0].startswith("prediction drift score")
    pipeline.merge_training_data(day_one, commit=True)
    trained = pipeline.train_and_gate(day_one, seed=3, candidates=["logistic_regression"], commit=True).outputs
    assert trained["promoted"], trained["reason"]
    pipeline.archive_production_data(day_one, commit=True)

    log_scored(settings, generate(1_200, seed=12, scenario="exam_season", id_start=600_000).canonical())
    day_two = pipeline.open_run(pipeline.RETRAIN_DAG_ID, "scheduled__day-two", settings=settings)
    again = pipeline.detect_drift(day_two).outputs
    baseline = again["reference"]
    assert baseline["model_version"] == trained["version"] and baseline["snapshots"] == [trained["snapshot_id"]]
    assert again["n_rows"] == 2_400  # both days are within the monitoring window
    # The champion trained on the reference and most of day one's rows; day one's rows are current rows,
    # so every one of them is left out of the baseline, which is the reference alone.
    assert baseline["current_rows_left_out"] == trained["training_rows"] - 6_000 > 0
    assert baseline["population_rows"] == baseline["rows"] == 6_000
    frozen = pd.read_parquet(day_two.dir / "reference_data.parquet")
    assert not set(frozen["prediction_id"].dropna().astype(int)) & set(day_one_ids)
