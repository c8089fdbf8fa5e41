"""Screening a cohort with logged predictions: ``predict --input … --log``, then ``feedback --csv``
with ``prediction_id,Depression`` when the outcomes are known."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from fixtures_models import run_cli
from mindpulse import contract as c
from mindpulse import pipeline
from mindpulse.data import generate_reference
from mindpulse.settings import Settings
from mindpulse.store import Store
from mindpulse.synthetic import generate
from shared_support import migrated

pytestmark = pytest.mark.slow  # trains a model (logistic regression, seconds) and starts the CLI


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A home with 2,500 reference rows and a logistic-regression champion, no production rows."""
    home = tmp_path_factory.mktemp("predict-log-home")
    settings = migrated(Settings(home=home))
    generate_reference(settings, rows=2_500, seed=71)
    pipeline.train_first_champion(settings, candidates=["logistic_regression"])
    return home


@pytest.fixture
def home(make_home, template):
    return make_home(template).home


def _cohort(rows: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    raw = generate(rows, seed=seed).raw
    return raw.drop(columns=["Depression"]), raw["Depression"].astype(int)


def test_predict_log_stores_every_scored_row_and_writes_its_id(home, tmp_path):
    cohort, _ = _cohort(1_200, seed=5)
    cohort = cohort.astype(object)
    cohort.loc[7, "Age"] = "twenty"  # set aside, neither scored nor logged
    source, output = tmp_path / "cohort.csv", tmp_path / "scored.csv"
    cohort.to_csv(source, index=False)

    result = run_cli("predict", "--input", str(source), "--output", str(output), "--log", "--log-chunk-rows", "500",
                     home=home, check=True)

    scored = pd.read_csv(output)
    assert len(scored) == 1_199 and list(scored.columns[:1]) == ["prediction_id"]
    assert scored["prediction_id"].is_unique
    assert "Logged 1199 prediction(s)" in result.stdout and "feedback --csv" in result.stdout
    assert "Logging predictions" in result.stderr  # progress, chunk by chunk
    with Store.from_settings(Settings(home=home)) as store:
        logged = store.recent_predictions(limit=5_000).set_index("prediction_id").loc[scored["prediction_id"]]
        assert store.stats()["predictions_logged"] == 1_199 and store.pending_count() == 0
    assert (logged["model_version"].to_numpy() == scored["model_version"].to_numpy()).all()
    assert (logged["probability"].to_numpy() == pytest.approx(scored["probability"].to_numpy()))
    assert (logged["age"].to_numpy() == scored["Age"].to_numpy()).all()
    assert set(logged["state"]) == {"unlabelled"}


def test_feedback_csv_of_prediction_ids_closes_the_loop(home, tmp_path):
    cohort, outcomes = _cohort(300, seed=6)
    source, output, feedback = tmp_path / "cohort.csv", tmp_path / "scored.csv", tmp_path / "outcomes.csv"
    cohort.to_csv(source, index=False)
    run_cli("predict", "--input", str(source), "--output", str(output), "--log", home=home, check=True)
    scored = pd.read_csv(output)
    pd.DataFrame({"prediction_id": scored["prediction_id"], "Depression": outcomes}).to_csv(feedback, index=False)

    result = run_cli("feedback", "--csv", str(feedback), home=home, check=True)

    assert "300 of 300 outcomes accepted" in result.stdout
    with Store.from_settings(Settings(home=home)) as store:
        pending = store.production_frame().set_index("prediction_id").loc[scored["prediction_id"]]
    assert len(pending) == 300 and (pending[c.TARGET].to_numpy() == outcomes.to_numpy()).all()
    again = run_cli("feedback", "--csv", str(feedback), home=home, check=True)  # a retried upload changes nothing
    assert "0 of 300 outcomes accepted, 300 already recorded (unchanged)" in again.stdout


def test_predict_without_log_stores_nothing_and_writes_no_id(home, tmp_path):
    cohort, _ = _cohort(50, seed=8)
    source, output = tmp_path / "cohort.csv", tmp_path / "scored.csv"
    cohort.to_csv(source, index=False)
    run_cli("predict", "--input", str(source), "--output", str(output), home=home, check=True)
    assert "prediction_id" not in pd.read_csv(output).columns
    with Store.from_settings(Settings(home=home)) as store:
        assert store.stats()["predictions_logged"] == 0


def test_predict_one_record_with_log_prints_its_id(home):
    record = _cohort(1, seed=9)[0].iloc[0].to_dict()
    payload = json.loads(run_cli("predict", "--record", json.dumps(record, default=str), "--log", home=home,
                                 check=True).stdout)
    with Store.from_settings(Settings(home=home)) as store:
        logged = store.recent_predictions(limit=1)
    assert payload["prediction_id"] == int(logged["prediction_id"].iloc[0])
    assert payload["probability"] == pytest.approx(float(logged["probability"].iloc[0]))


def test_log_predictions_commits_chunk_by_chunk_after_validating_the_whole_frame(tmp_path):
    frame = generate(1_200, seed=4).canonical().assign(probability=0.4, prediction=0, model_version="v0001-test")
    with Store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        store.migrate()
        bad = frame.copy()
        bad.loc[1_150, "probability"] = 1.5  # in the last chunk: nothing at all is stored
        with pytest.raises(c.ContractError, match="probability"):
            store.log_predictions(bad, chunk_rows=500)
        assert store.stats()["predictions_logged"] == 0

        progress: list[int] = []
        ids = store.log_predictions(frame, chunk_rows=500, progress=progress.append)
        assert progress == [500, 500, 200]
        assert ids == sorted(ids) and len(set(ids)) == 1_200
        assert store.pending_count() == 1_200  # the rows carried their outcome


def test_log_refuses_a_labelled_file_unless_outcomes_are_asked_for(home, tmp_path):
    """A cohort file that still has its 'Depression' column: --log alone stores nothing and says why;
    --with-outcomes stores the outcomes (they count toward the retrain trigger) and says how many."""
    cohort, outcomes = _cohort(200, seed=12)
    labelled = cohort.assign(Depression=outcomes.astype(object))
    labelled.loc[5, "Depression"] = ""  # one outcome not known yet
    source, output = tmp_path / "labelled.csv", tmp_path / "scored.csv"
    labelled.to_csv(source, index=False)

    refused = run_cli("predict", "--input", str(source), "--output", str(output), "--log", home=home)
    assert refused.returncode == 2 and not output.exists()
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("Error: ") and "199 row(s) have a 'Depression' value" in line and "--with-outcomes" in line
    with Store.from_settings(Settings(home=home)) as store:
        assert store.stats()["predictions_logged"] == 0 and store.pending_count() == 0

    stored = run_cli("predict", "--input", str(source), "--output", str(output), "--log", "--with-outcomes",
                     home=home, check=True)
    assert "Logged 200 prediction(s)" in stored.stdout
    assert "stored 199 outcome(s) from the 'Depression' column" in stored.stdout
    assert "for the 1 without an outcome, 'mindpulse feedback --csv FILE'" in stored.stdout
    with Store.from_settings(Settings(home=home)) as store:
        assert store.stats()["predictions_logged"] == 200 and store.pending_count() == 199


def test_log_of_one_labelled_record_needs_with_outcomes(home):
    record = _cohort(1, seed=13)[0].iloc[0].to_dict()
    record["Depression"] = 1
    refused = run_cli("predict", "--record", json.dumps(record, default=str), "--log", home=home)
    assert refused.returncode == 2 and "--record: 1 row(s) have a 'Depression' value" in refused.stderr
    with Store.from_settings(Settings(home=home)) as store:
        assert store.stats()["predictions_logged"] == 0
    payload = json.loads(run_cli("predict", "--record", json.dumps(record, default=str), "--log", "--with-outcomes",
                                 home=home, check=True).stdout)
    assert payload["outcome_stored"] == 1
    with Store.from_settings(Settings(home=home)) as store:
        assert store.pending_count() == 1


def test_with_outcomes_without_log_is_refused(home, tmp_path):
    cohort, _ = _cohort(5, seed=14)
    source = tmp_path / "cohort.csv"
    cohort.to_csv(source, index=False)
    result = run_cli("predict", "--input", str(source), "--output", str(tmp_path / "o.csv"), "--with-outcomes",
                     home=home)
    assert result.returncode == 2 and "--with-outcomes: only with --log" in result.stderr
