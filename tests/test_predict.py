"""Predictions: no train/serve skew, the contract's rules for records, risk bands and factors."""

import time

import numpy as np
import pandas as pd
import pytest

from fixtures_models import synthetic
from mindpulse import contract as c
from mindpulse.data import read_canonical
from mindpulse.io import atomic_write_csv
from mindpulse.predict import DISCLAIMER, Predictor, canonical_record, risk_band
from mindpulse.registry import ModelRegistry
from mindpulse.train import train_register_and_judge


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A champion trained with XGBoost and calibration candidates (the in-memory model kept)."""
    root = tmp_path_factory.mktemp("predict") / "artifacts"
    registry = ModelRegistry(root)
    frame = synthetic(3000, seed=61).canonical()
    train_register_and_judge(frame, registry, seed=42, margin=0.005, data_source="test", folds=3)
    return registry, Predictor.load(registry)


@pytest.mark.parametrize("candidate", ["logistic_regression", "xgboost", "random_forest"])
def test_training_and_serving_give_the_same_probabilities(tmp_path, candidate):
    from mindpulse.train import train_candidates

    frame = synthetic(1500, seed=62).canonical()
    trained = train_candidates(frame, seed=1, folds=3, candidates=(candidate,))
    registry = ModelRegistry(tmp_path / "artifacts")
    version = registry.register(trained.model, {}).version
    predictor = Predictor.load(registry, version)

    fresh = synthetic(400, seed=63)
    path = tmp_path / "fresh.csv"
    atomic_write_csv(path, fresh.raw)
    rows = c.read_csv(path).valid  # what a user's file becomes
    in_training = trained.model.predict_proba_training_path(rows)  # sklearn ColumnTransformer path
    in_memory = trained.model.predict_proba(rows)
    served = predictor.predict_frame(rows)["probability"].to_numpy()
    np.testing.assert_array_equal(in_memory, served)
    np.testing.assert_array_equal(in_training, served)
    # One record at a time, with the real header's keys, gives the same numbers.
    records = [predictor.predict_record(fresh.raw.iloc[i].to_dict()).probability for i in range(0, 400, 37)]
    np.testing.assert_allclose(records, served[::37], rtol=0, atol=1e-12)
    # A canonical CSV round trip (as the store and notebooks do) changes nothing either.
    canonical_path = tmp_path / "canonical.csv"
    atomic_write_csv(canonical_path, rows)
    np.testing.assert_array_equal(predictor.predict_frame(read_canonical(canonical_path))["probability"], served)


def test_records_follow_the_contract_exactly():
    data = synthetic(120, seed=64)  # 50 rows or more: every quirk of the real file appears
    for i in range(len(data.raw)):
        raw = data.raw.iloc[i].to_dict()
        assert canonical_record(raw) == c.validate_record(raw), raw
    canonical = data.canonical().iloc[3].to_dict()
    assert canonical_record(canonical) == c.validate_record(canonical)
    minimal = {k: v for k, v in data.raw.iloc[4].to_dict().items()
               if k not in ("id", "Profession", "Work Pressure", "Job Satisfaction", "Depression")}
    minimal["Financial Stress"] = "?"
    minimal["City"] = "Gotham"
    minimal["Dietary Habits"] = "  'unhealthy' "
    assert canonical_record(minimal) == c.validate_record(minimal)
    assert canonical_record(minimal)["city"] == c.OTHER_CITY


@pytest.mark.parametrize("field, value", [
    ("Age", "old"), ("Age", 7), ("Academic Pressure", 2.5), ("Sleep Duration", "9 hours"),
    ("Financial Stress", 9), ("Have you ever had suicidal thoughts ?", "Maybe"), ("CGPA", "1_0"),
    ("Gender", None), ("Age", "nan"), ("Age", "٣٣"),
])
def test_bad_records_get_the_contracts_error(field, value):
    record = synthetic(60, seed=65).raw.iloc[0].to_dict()
    record[field] = value
    with pytest.raises(c.ContractError) as fast:
        canonical_record(record)
    with pytest.raises(c.ContractError) as slow:
        c.validate_record(record)
    assert str(fast.value) == str(slow.value) and field in str(fast.value)


def test_a_missing_field_is_named(served):
    _, predictor = served
    record = synthetic(60, seed=66).raw.iloc[0].to_dict()
    del record["Sleep Duration"]
    with pytest.raises(c.ContractError, match="Sleep Duration"):
        predictor.predict_record(record)


def test_risk_bands_at_their_documented_boundaries():
    assert [risk_band(p) for p in (0.0, 0.3499, 0.35, 0.6499, 0.65, 1.0)] == [
        "low", "low", "moderate", "moderate", "high", "high"]


def test_a_prediction_carries_band_label_factors_and_version(served):
    registry, predictor = served
    worried = {"Gender": "Female", "Age": 19, "City": "Pune", "Academic Pressure": 5, "CGPA": 6.1,
               "Study Satisfaction": 1, "Sleep Duration": "'Less than 5 hours'", "Dietary Habits": "Unhealthy",
               "Degree": "'Class 12'", "Have you ever had suicidal thoughts ?": "Yes", "Work/Study Hours": 11,
               "Financial Stress": 5, "Family History of Mental Illness": "Yes"}
    high = predictor.predict_record(worried)
    assert high.risk_band == "high" and high.label == 1 and high.probability > 0.9
    assert high.model_version == registry.champion().version == predictor.version
    assert high.threshold == registry.champion().metadata["model"]["threshold"]
    assert len(high.factors) == 3 and all("raises risk" in f for f in high.factors)
    assert any("suicidal thoughts" in f for f in high.factors)
    assert high.disclaimer == DISCLAIMER
    calm = dict(worried, **{"Academic Pressure": 1, "Have you ever had suicidal thoughts ?": "No", "Age": 33,
                            "Financial Stress": 1, "Dietary Habits": "Healthy", "Study Satisfaction": 5})
    low = predictor.predict_record(calm)
    assert low.risk_band == "low" and low.label == 0
    assert any("Has never had suicidal thoughts (lowers risk)" == f for f in low.factors)
    # Contributions are ordered by size and the factors are the first three.
    effects = [abs(e["effect"]) for e in low.contributions]
    assert effects == sorted(effects, reverse=True) and low.factors == [e["words"] for e in low.contributions[:3]]
    for text in high.factors + low.factors:
        assert "diagnos" not in text.lower()


def test_predict_frame_adds_the_four_columns_and_keeps_the_rest(served):
    _, predictor = served
    frame = synthetic(300, seed=67).canonical()
    frame["note"] = "kept"
    out = predictor.predict_frame(frame, factors=True)
    assert list(out.columns[: len(frame.columns)]) == list(frame.columns) and (out["note"] == "kept").all()
    assert set(out["risk_band"]) <= {"low", "moderate", "high"}
    assert ((out["probability"] >= predictor.threshold).astype(int) == out["prediction"]).all()
    assert (out["model_version"] == predictor.version).all()
    one = predictor.predict_record(frame.iloc[5].drop("note").to_dict())
    assert out["factors"].iloc[5] == "; ".join(one.factors)
    assert out["probability"].iloc[5] == pytest.approx(one.probability, abs=1e-12)
    with pytest.raises(c.ContractError, match="Degree"):
        predictor.predict_frame(frame.drop(columns=["degree"]))


def test_single_predictions_are_fast(served):
    """The benchmark measures the target (5 ms); this only catches a gross regression."""
    _, predictor = served
    records = [r.to_dict() for _, r in synthetic(60, seed=68).raw.iterrows()]
    predictor.predict_record(records[0])
    times = []
    for record in records:
        start = time.perf_counter()
        predictor.predict_record(record)
        times.append(time.perf_counter() - start)
    assert np.median(times) < 0.025, np.median(times)


def test_factor_effects_of_a_logistic_model_are_coefficient_times_distance():
    from mindpulse.train import build_model, labels_of

    frame = synthetic(1500, seed=69).canonical()
    y = labels_of(frame)
    model = build_model("logistic_regression", frame, y, seed=1, calibration="none", oof=np.full(len(y), 0.5),
                        threshold=0.5)
    matrix = model.features.transform(frame.head(20))
    _, contributions = model.contributions(matrix)
    coef = model.estimator.coef_[0]
    for j, name in enumerate(c.FEATURES):
        block = model.features.blocks[name]
        values, weights = model.background[name]
        columns = {f: np.array([frame[f].iloc[0]] * len(values), dtype=object) for f in c.FEATURES}
        columns[name] = np.array(values, dtype=object)
        typical = weights @ model.features.transform(columns)[:, block]
        expected = (matrix[:, block] - typical) @ coef[block]
        np.testing.assert_allclose(contributions[:, j], expected, atol=1e-6)
