"""Training: quality against the oracle, the gate against a worse challenger, seeds, metadata."""

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from fixtures_models import quick_train, synthetic
from mindpulse import contract as c
from mindpulse.data import frame_sha256
from mindpulse.predict import Predictor
from mindpulse.registry import ModelRegistry
from mindpulse.synthetic import true_probability
from mindpulse.train import (CANDIDATES, choose_calibration, choose_threshold, train_register_and_judge,
                             train_candidates)

pytestmark = pytest.mark.slow  # trains all three candidates


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """All three candidates trained through the gate on 5,000 generated rows."""
    root = tmp_path_factory.mktemp("train") / "artifacts"
    registry = ModelRegistry(root)
    frame = synthetic(5000, seed=7).canonical()
    messages: list[str] = []
    outcome = train_register_and_judge(frame, registry, seed=42, margin=0.005, data_source="synthetic 5000/7",
                             progress=messages.append)
    return registry, frame, outcome, messages


def test_champion_reaches_99_percent_of_the_oracle_auc(trained):
    registry, _, outcome, _ = trained
    holdout = registry.holdout()
    y = holdout[c.TARGET].astype(int)
    oracle = roc_auc_score(y, true_probability(holdout))
    champion = Predictor.load(registry).predict_frame(holdout)["probability"]
    auc = roc_auc_score(y, champion)
    assert outcome.promoted and outcome.champion_after == outcome.version
    assert auc >= 0.99 * oracle, (auc, oracle)
    assert outcome.metrics["holdout_roc_auc"] == pytest.approx(auc)


def test_metadata_records_what_an_auditor_needs(trained):
    registry, frame, outcome, _ = trained
    version = registry.get(outcome.version)
    meta = json.loads((version.path / "metadata.json").read_text())
    training = registry.exclude_holdout(frame)
    assert meta["version"] == outcome.version and meta["created_at"].endswith("Z")
    assert meta["data"]["sha256"] == frame_sha256(training) and meta["data"]["rows"] == len(training) == 4000
    assert meta["data"]["source"] == "synthetic 5000/7" and meta["data"]["holdout_rows_excluded"] == 1000
    assert set(meta["cv"]["candidates"]) == set(CANDIDATES)
    for scores in meta["cv"]["candidates"].values():
        assert {"roc_auc", "accuracy", "f1", "precision", "recall", "brier"} <= set(scores["mean"])
    assert {"roc_auc", "accuracy", "f1", "precision", "recall", "brier"} <= set(meta["holdout"])
    assert meta["model"]["name"] == meta["cv"]["best"] and 0.05 <= meta["model"]["threshold"] <= 0.95
    assert meta["model"]["calibration"] in ("none", "sigmoid", "isotonic")
    assert meta["parameters"]["seed"] == 42 and meta["parameters"]["estimator"]
    assert meta["parent"] is None and meta["status"] == "champion" and meta["gate"]["promoted"] is True
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True)
    if head.returncode == 0:
        assert meta["code"]["git_commit"] == head.stdout.strip()
    assert meta["code"]["package_version"]
    assert len(meta["model_sha256"]) == 64


def test_progress_is_reported(trained):
    *_, messages = trained
    text = "\n".join(messages)
    for name in CANDIDATES:
        assert name in text
    assert "Fixed holdout" in text and "Promoted" in text


def test_a_worse_challenger_is_refused_and_kept_with_its_reason(trained, tmp_path):
    import shutil

    registry, frame, outcome, _ = trained
    root = tmp_path / "artifacts"
    shutil.copytree(registry.root, root)
    registry = ModelRegistry(root)
    shuffled = frame.copy()
    shuffled[c.TARGET] = shuffled[c.TARGET].sample(frac=1.0, random_state=3).to_numpy()
    refused = quick_train(shuffled, registry)
    assert not refused.promoted
    assert refused.champion_before == refused.champion_after == outcome.version
    assert "wholly below -margin" in refused.reason and "vs champion" in refused.reason
    assert registry.champion().version == outcome.version
    kept = registry.get(refused.version)
    assert kept.status == "refused" and kept.metadata["refusal_reason"] == refused.reason
    assert Predictor.load(registry).version == outcome.version


def test_later_training_excludes_the_fixed_holdout(tmp_path):
    registry = ModelRegistry(tmp_path / "artifacts")
    first = synthetic(1500, seed=31).canonical()
    quick_train(first, registry)
    holdout = registry.holdout()
    more = synthetic(600, seed=32).canonical()
    combined = first.sample(frac=1.0, random_state=1)  # reordered, ids dropped: matched by content
    combined["id"] = pd.array([pd.NA] * len(combined), dtype="Int64")
    outcome = quick_train(pd.concat([combined, more], ignore_index=True), registry)
    meta = registry.get(outcome.version).metadata
    assert meta["data"]["holdout_rows_excluded"] == len(holdout) == 300
    assert meta["data"]["rows"] == 1500 - 300 + 600
    assert registry.holdout().equals(holdout)  # the holdout never moves


def test_training_that_raises_leaves_the_registry_unchanged(tmp_path):
    registry = ModelRegistry(tmp_path / "artifacts")
    quick_train(synthetic(1000, seed=41).canonical(), registry)
    before = (registry.pointer(), [v.version for v in registry.versions()])
    one_class = synthetic(400, seed=42).canonical()
    one_class[c.TARGET] = 1
    with pytest.raises(ValueError, match="depression=0"):
        quick_train(one_class, registry)
    unlabelled = synthetic(400, seed=43).canonical()
    unlabelled.loc[unlabelled.index[:3], c.TARGET] = None
    with pytest.raises(ValueError, match="3 row"):
        quick_train(unlabelled, registry)
    with pytest.raises(ValueError, match="candidate"):
        quick_train(synthetic(400, seed=44).canonical(), registry, candidates=("svm",))
    assert (registry.pointer(), [v.version for v in registry.versions()]) == before


def test_training_is_seeded():
    frame = synthetic(1200, seed=51).canonical()
    first = train_candidates(frame, seed=5, folds=3, candidates=("logistic_regression", "xgboost"))
    again = train_candidates(frame, seed=5, folds=3, candidates=("logistic_regression", "xgboost"))
    other = train_candidates(frame, seed=6, folds=3, candidates=("logistic_regression", "xgboost"))
    for name in ("logistic_regression", "xgboost"):
        assert np.array_equal(first.candidates[name].oof_probability, again.candidates[name].oof_probability)
    assert not np.array_equal(first.candidates["xgboost"].oof_probability, other.candidates["xgboost"].oof_probability)
    assert np.array_equal(first.model.predict_proba(frame), again.model.predict_proba(frame))


def test_calibration_is_kept_only_where_it_helps():
    rng = np.random.default_rng(0)
    true = rng.uniform(0.02, 0.98, 6000)
    y = (rng.random(6000) < true).astype(int)
    splits = [(np.setdiff1d(np.arange(6000), idx), idx) for idx in np.array_split(rng.permutation(6000), 5)]
    well = choose_calibration(true, y, splits)[0]
    assert well["method"] == "none"
    squashed = true ** 3  # same ranking, badly calibrated
    bad = choose_calibration(squashed, y, splits)[0]
    assert bad["method"] in ("sigmoid", "isotonic") and bad["brier"][bad["method"]] < bad["brier"]["none"] - 0.01


def test_threshold_maximises_f1():
    y = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.35, 0.6, 0.7, 0.8, 0.9])
    assert choose_threshold(y, p) == pytest.approx(0.31)


def test_model_files_written_before_the_model_module_still_load(trained):
    """Older pickles name mindpulse.train.ScreeningModel/PlattCalibrator; the alias keeps them loading."""
    import pickle

    from mindpulse.model import ScreeningModel

    registry, frame, outcome, _ = trained
    model = registry.load_model(outcome.version)
    payload = pickle.dumps(model)
    assert b"mindpulse.model" in payload
    old = pickle.loads(payload.replace(b"mindpulse.model", b"mindpulse.train"))  # same length: a valid pickle
    assert isinstance(old, ScreeningModel)
    sample = frame.head(20)
    assert (old.predict_proba(sample) == model.predict_proba(sample)).all()


def test_the_row_cap_fits_slow_candidates_on_a_stratified_sample_and_records_it(tmp_path):
    """A cap below the training rows: each fold and the refit fit on a sample; the metadata says so."""
    registry = ModelRegistry(tmp_path / "artifacts")
    frame = synthetic(1500, seed=9).canonical()
    caps = {"logistic_regression": 300, "xgboost": None}
    outcome = train_register_and_judge(frame, registry, seed=3, margin=0.005, data_source="synthetic 1500/9",
                             candidates=("logistic_regression", "xgboost"), folds=3, max_rows=caps)
    meta = registry.get(outcome.version).metadata
    rows = meta["data"]["rows"]
    lr, xgb = meta["cv"]["candidates"]["logistic_regression"], meta["cv"]["candidates"]["xgboost"]
    assert lr["training"] == {"max_rows": 300, "sampled": True, "fold_rows": 300}
    assert xgb["training"] == {"max_rows": None, "sampled": False, "fold_rows": rows - rows // 3}
    expected_refit = 300 if meta["model"]["name"] == "logistic_regression" else rows
    assert meta["cv"]["refit_rows"] == meta["model"]["fitted_rows"] == expected_refit
    assert meta["model"]["max_rows"] == caps[meta["model"]["name"]]


def test_a_capped_model_differs_from_the_uncapped_one_and_is_seeded():
    frame = synthetic(1200, seed=4).canonical()
    run = lambda cap: train_candidates(frame, seed=2, folds=3, candidates=("logistic_regression",),  # noqa: E731
                                       max_rows={"logistic_regression": cap})
    full, capped, again = run(None), run(200), run(200)
    assert not np.allclose(full.oof_probability, capped.oof_probability)
    assert np.array_equal(capped.oof_probability, again.oof_probability)
    assert capped.refit_rows == 200 and full.refit_rows == 1200


def test_capped_rows_keep_the_class_balance_and_leave_small_data_whole():
    from mindpulse.train import capped_rows

    y = np.array([1] * 300 + [0] * 700)
    rows = capped_rows(y, 100, seed=1)
    assert len(rows) == len(set(rows)) == 100 and list(rows) == sorted(rows)
    assert y[rows].sum() == 30
    assert capped_rows(y, 1000, seed=1) is None and capped_rows(y, None, seed=1) is None


@pytest.mark.parametrize("cap", [0, 99, 2.5, True, "1000"])
def test_a_bad_row_cap_is_named(cap):
    with pytest.raises(ValueError, match=r"max_rows\['xgboost'\]"):
        train_candidates(synthetic(200, seed=1).canonical(), seed=1, folds=3, candidates=("logistic_regression",),
                         max_rows={"xgboost": cap})


def test_thread_counts_come_from_the_settings_and_reach_the_estimators(monkeypatch) -> None:
    from mindpulse.settings import Settings, get_settings
    from mindpulse.train import Threads, make_estimator

    assert Threads.from_settings(Settings()) == Threads(forest=2, xgboost=1, blas=1)  # the defaults of before
    monkeypatch.setenv("MINDPULSE_TRAIN_N_JOBS", "3")
    monkeypatch.setenv("MINDPULSE_TRAIN_XGBOOST_N_JOBS", "2")
    get_settings.cache_clear()
    try:
        threads = Threads.from_settings()
    finally:
        get_settings.cache_clear()
    assert threads == Threads(forest=3, xgboost=2, blas=1)
    assert make_estimator("random_forest", 1, threads).n_jobs == 3
    assert make_estimator("xgboost", 1, threads).get_params()["n_jobs"] == 2
    with pytest.raises(ValueError, match=r"threads.blas: got 0, expected a whole number of threads >= 1"):
        Threads(blas=0)
