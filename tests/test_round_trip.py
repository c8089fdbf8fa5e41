"""The README's round trip on a home of its own (a temporary folder outside the checkout, data
only), as a user runs it: ingest 80 % of a dataset, train a first model, screen the other 20 %
with ``predict --log``, feed their outcomes back, then run the retrain DAG and the reporting DAG
in a real Airflow (``airflow dags test``). Small and cheap: 5,000 rows, logistic regression only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import airflow_support as af
from mindpulse import pipeline, runs
from mindpulse.registry import ModelRegistry
from mindpulse.settings import Settings
from mindpulse.store import Store
from mindpulse.synthetic import generate

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
MINDPULSE = str(Path(sys.executable).parent / "mindpulse")


def _only_run_folder(settings: Settings, dag_id: str) -> Path:
    folders = [p for p in (settings.reports_dir / dag_id).iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


def test_ingest_predict_log_feedback_retrain_and_report_on_a_home_outside_the_checkout(
        tmp_path: Path, migrated_airflow: Path, kernel_zygote: dict) -> None:
    home = tmp_path / "home"
    home.mkdir()
    assert REPO not in home.resolve().parents
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MINDPULSE_", "AIRFLOW"))}
    env.update({"MINDPULSE_HOME": str(home), "MINDPULSE_PIPELINE_RETRIES": "0"})

    def cli(*args: str) -> str:
        result = subprocess.run([MINDPULSE, *args], env=env, cwd=home, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"mindpulse {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    dataset = generate(5_000, seed=17).raw
    known, cohort = dataset.iloc[:4_000], dataset.iloc[4_000:]
    known.to_csv(tmp_path / "known.csv", index=False)
    cohort.drop(columns=["Depression"]).to_csv(tmp_path / "cohort.csv", index=False)

    cli("store", "migrate")  # the deploy step, before anything uses the store
    cli("ingest", str(tmp_path / "known.csv"))
    cli("train", "--folds", "2", "--candidates", "logistic_regression")
    first = ModelRegistry.from_settings(Settings(home=home)).champion().version
    screened = cli("predict", "--input", str(tmp_path / "cohort.csv"), "--output", str(tmp_path / "scored.csv"), "--log")
    assert "Logged 1000 prediction(s)" in screened
    scored = pd.read_csv(tmp_path / "scored.csv")
    outcomes = pd.DataFrame({"prediction_id": scored["prediction_id"], "Depression": cohort["Depression"].to_numpy()})
    outcomes.to_csv(tmp_path / "outcomes.csv", index=False)
    assert "1000 of 1000 outcomes accepted" in cli("feedback", "--csv", str(tmp_path / "outcomes.csv"))

    settings = Settings(home=home)
    airflow_home = tmp_path / "airflow"
    airflow = af.airflow_env(airflow_home, dags_folder=settings.dags_dir, extra={
        "MINDPULSE_HOME": str(home), "MINDPULSE_PIPELINE_RETRIES": "0", **kernel_zygote})
    for name in [k for k in airflow if k.startswith("MINDPULSE_") and k not in ("MINDPULSE_HOME", "MINDPULSE_PIPELINE_RETRIES", *kernel_zygote)]:
        del airflow[name]
    airflow_home.mkdir()
    shutil.copy(migrated_airflow, airflow_home / "airflow.db")  # `airflow db migrate`, done once per session

    retrain = af.dags_test(airflow, pipeline.RETRAIN_DAG_ID, {"candidates": ["logistic_regression"]})
    assert retrain.returncode == 0, retrain.stdout[-3000:]
    summary = runs.read_summary(_only_run_folder(settings, pipeline.RETRAIN_DAG_ID))
    assert summary["outcome"] in ("promoted", "refused"), summary
    assert summary["trigger"]["reasons"][0] == "1000 labelled production rows >= min_rows 1000"
    with Store.from_settings(settings) as store:
        assert store.pending_count() == 0 and [(s.state, s.n_rows) for s in store.snapshots()] == [("archived", 1000)]

    report = af.dags_test(airflow, pipeline.REPORTING_DAG_ID)
    assert report.returncode == 0, report.stdout[-3000:]
    summary = runs.read_summary(_only_run_folder(settings, pipeline.REPORTING_DAG_ID))
    assert summary["outcome"] == "reported" and summary["rows"] == 1000
    # Every row was scored by the first model, whatever the champion is now: the report says so and
    # compares the first model's outputs on both sides.
    assert summary["models"]["current_rows_by_version"] == {first: 1000}
    assert summary["models"]["reference_scored_by"] == first
    assert summary["metrics"]["model_performance"]["labelled_rows"] == 1000
    assert json.loads((_only_run_folder(settings, pipeline.REPORTING_DAG_ID) / "data_drift.json").read_text())[
        "reference_model"] == first
    assert sorted(p.name for p in home.iterdir()) == ["artifacts", "data", "reports"]  # no code in the home
