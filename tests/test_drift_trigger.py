"""The retrain pipeline's drift step decides as the issue asks, with the model's outputs compared
too: exam-season traffic triggers a retrain, undrifted traffic does not, 50 rows are too few."""

from __future__ import annotations

import pytest

from mindpulse import data, pipeline
from mindpulse.registry import ModelRegistry
from mindpulse.settings import Settings
from mindpulse.store import Store
from mindpulse.synthetic import generate
from mindpulse.train import train_and_gate


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = Settings(home=tmp_path_factory.mktemp("drift-home"))
    data.generate_reference(settings, rows=6_000, seed=3)
    registry = ModelRegistry.from_settings(settings)
    train_and_gate(data.load_reference(settings), registry, seed=3, margin=settings.promotion_margin,
                   data_source="reference", candidates=("logistic_regression",), folds=3)
    assert registry.champion() is not None
    return settings


def drift_of(settings: Settings, rows: int, seed: int, **shift) -> dict:
    """Fresh store holding `rows` labelled production rows; the drift step's glued outputs."""
    store_path = settings.data_dir / f"store-{rows}-{seed}-{'-'.join(map(str, shift.values()))}.db"
    run_settings = settings.model_copy(update={"database_url": f"sqlite:///{store_path}"})
    store = Store.from_settings(run_settings)
    store.add_labelled(generate(rows, seed=seed, id_start=500_000, **shift).canonical())
    run = pipeline.open_run("ml_retrain_pipeline", f"drift-{seed}-{rows}", settings=run_settings)
    return pipeline.detect_drift(run).outputs


def test_exam_season_triggers_a_retrain(home: Settings) -> None:
    out = drift_of(home, 1_200, seed=11, scenario="exam_season")
    assert out["drift_status"] == "drift", out
    assert out["drift_share"] > home.drift_share_threshold
    for column in ("academic_pressure", "work_study_hours", "sleep_duration"):
        assert column in out["drifted_columns"]


def test_undrifted_traffic_does_not(home: Settings) -> None:
    out = drift_of(home, 1_200, seed=12)
    assert out["drift_status"] == "no_drift", out
    assert out["drift_share"] <= 0.1


def test_fifty_rows_are_not_enough_data(home: Settings) -> None:
    out = drift_of(home, 50, seed=13, scenario="exam_season")
    assert out["drift_status"] == "not_enough_data"
    assert out.get("drift_share") is None  # None values are not glued


def test_after_a_drift_retrain_is_promoted_the_same_shifted_traffic_does_not_trigger_again(
        tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exam season: drift triggers a retrain, it is promoted, and the next day's check stays quiet."""
    settings = Settings(home=tmp_path_factory.mktemp("exam-home"))
    data.generate_reference(settings, rows=6_000, seed=3)
    pipeline.train_first_champion(settings, seed=3, candidates=["logistic_regression"])
    store = Store.from_settings(settings)
    store.add_labelled(generate(1_200, seed=11, scenario="exam_season", id_start=500_000).canonical())

    day_one = pipeline.open_run(pipeline.RETRAIN_DAG_ID, "scheduled__day-one", settings=settings)
    drift = pipeline.detect_drift(day_one).outputs
    assert drift["drift_status"] == "drift" and "reference data" in drift["reference"]["source"]
    decision = pipeline.retrain_reasons(rows=1_200, min_rows=5_000, drift_status=drift["drift_status"],
                                        drift_share=drift["drift_share"], drift_threshold=settings.drift_share_threshold,
                                        force=False)
    assert decision.proceed and "drifted share" in decision.reasons[0]
    pipeline.merge_training_data(day_one)
    trained = pipeline.train_and_gate(day_one, seed=3, candidates=["logistic_regression"]).outputs
    assert trained["promoted"], trained["reason"]
    pipeline.archive_production_data(day_one)

    store.add_labelled(generate(1_200, seed=12, scenario="exam_season", id_start=600_000).canonical())
    day_two = pipeline.open_run(pipeline.RETRAIN_DAG_ID, "scheduled__day-two", settings=settings)
    again = pipeline.detect_drift(day_two).outputs
    assert again["reference"]["model_version"] == trained["version"]
    assert again["reference"]["snapshots"] == [trained["snapshot_id"]]
    assert again["drift_status"] == "no_drift", again
