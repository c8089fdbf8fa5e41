"""In a real Airflow 3 (``airflow dags test``, isolated AIRFLOW_HOME, SQLite, no mocks): a champion, then 2,000
predictions of a shifted cohort logged without outcomes (Academic Pressure +2, half of Sleep Duration moved to
"Less than 5 hours", Financial Stress +1). The reporting DAG sees drift the day the predictions are made and
estimates their performance, naming the model that made them; the retrain DAG measures the same drift on the
same unlabelled rows and, with no new outcomes, asks for them instead of registering a copy of the champion."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import airflow_support as af
from fixtures.homes import HomeFactory
from mindpulse import data, pipeline, runs
from mindpulse.predict import Predictor
from mindpulse.registry import ModelRegistry
from mindpulse.settings import Settings
from mindpulse.store import Store
from mindpulse.synthetic import generate, school_shift
from shared_support import migrated

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def home(make_module_home: HomeFactory) -> Settings:
    settings = make_module_home(name="shifted-home")
    data.generate_reference(settings, rows=3_000, seed=7)
    pipeline.train_first_champion(settings, seed=7, candidates=["logistic_regression"])
    cohort = school_shift(generate(2_000, seed=21, id_start=800_000).canonical(), seed=21)
    scored = Predictor.load(ModelRegistry.from_settings(settings)).predict_frame(cohort)
    scored["depression"] = pd.array([pd.NA] * len(scored), dtype="Int64")  # outcomes arrive weeks later, if ever
    Store.from_settings(settings).log_predictions(scored)
    return settings


def _env(migrated: Path, airflow_home: Path, settings: Settings, zygote: dict) -> dict[str, str]:
    return af.pipeline_env(migrated, airflow_home, settings.home, settings=zygote)


def _run_folder(settings: Settings, dag_id: str) -> Path:
    folders = [p for p in (settings.reports_dir / dag_id).iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


def test_both_dags_see_the_unlabelled_shift_and_the_retrain_asks_for_outcomes(
        home: Settings, migrated_airflow: Path, kernel_zygote: dict, tmp_path: Path) -> None:
    env = _env(migrated_airflow, tmp_path / "airflow", home, kernel_zygote)
    registry = ModelRegistry.from_settings(home)
    champion = registry.champion().version
    versions = [v.version for v in registry.versions()]

    result = af.dags_test(env, pipeline.REPORTING_DAG_ID)
    assert result.returncode == 0, result.stdout[-3000:]
    assert af.last_run_states(env, pipeline.REPORTING_DAG_ID)[0] == "success"
    report = runs.read_summary(_run_folder(home, pipeline.REPORTING_DAG_ID))
    assert report["outcome"] == "reported", report["trigger"]
    assert (report["rows"], report["labelled_rows"], report["unlabelled_rows"]) == (2_000, 0, 2_000)
    assert "not enough labels" in report["labels"]
    assert report["drift_status"] == "drift"
    assert {"academic_pressure", "financial_stress", "sleep_duration"} <= set(report["drift"]["features_drifted"])
    assert report["drift"]["n_features"] == 13 and report["drift"]["prediction_drifted"] is True
    baseline = report["reference"]
    assert baseline["rows"] == 3_000 and len(baseline["sha256"]) == 64 and baseline["source"]
    estimated = report["estimated"]
    assert estimated["model_version"] == champion and estimated["rows"] == 2_000
    assert estimated["by_model_version"][champion]["roc_auc"]["estimate"] is not None
    assert report["models"]["current_rows_by_version"] == {champion: 2_000}

    result = af.dags_test(env, pipeline.RETRAIN_DAG_ID, {"candidates": ["logistic_regression"]})
    assert result.returncode == 0, result.stdout[-3000:]
    folder = _run_folder(home, pipeline.RETRAIN_DAG_ID)
    retrain = runs.read_summary(folder)
    assert retrain["outcome"] == "skipped" and retrain["trigger"]["proceed"] is False
    assert retrain["trigger"]["outcomes_needed"] is True
    assert any("would only copy the champion" in reason for reason in retrain["trigger"]["reasons"])
    assert retrain["drift_status"] == "drift"  # measured on the 2,000 unlabelled predictions
    drift = runs.read_outputs(folder / "detect_drift.ipynb")
    assert (drift["n_rows"], drift["unlabelled_rows"]) == (2_000, 2_000)
    assert drift["feature_drift_share"] == report["drift"]["feature_drift_share"]  # the same measure as the report
    asked = json.loads((folder / "outcome_request.json").read_text())
    assert asked["rows"] == 50 and retrain["outcome_request"]["rows"] == 50
    assert [v.version for v in ModelRegistry.from_settings(home).versions()] == versions  # no copy registered
