"""``mindpulse feedback`` and ``mindpulse store`` as a user runs them (the app the binary calls, in this
process: :mod:`cli_support`), one-line errors."""

import json
from pathlib import Path

import pandas as pd
import pytest

from cli_support import invoke
from mindpulse import contract as c
from mindpulse import synthetic
from mindpulse.settings import Settings
from mindpulse.store import Store
from shared_support import migrated

def run(*args, home: Path, database_url: str | None = None):
    return invoke(*args, home=home, env={"MINDPULSE_DATABASE_URL": database_url} if database_url else None)


def one_line_error(result) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:") and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.fixture
def home(make_home, tmp_path):
    """A project home whose store holds 3 logged predictions (ids 1, 2, 3), no outcome yet."""
    with Store.from_settings(make_home.at(tmp_path)) as store:
        records = synthetic.generate(3, seed=2).canonical().drop(columns=[c.TARGET]).to_dict("records")
        ids = [store.log_prediction(r, probability=0.7, label=1, model_version="v0001") for r in records]
    assert ids == [1, 2, 3]
    return tmp_path


def pending(home: Path) -> int:
    with Store.from_settings(Settings(home=home)) as store:
        return store.pending_count()


def test_help_lists_the_store_commands(tmp_path):
    assert "feedback" in run("--help", home=tmp_path).stdout
    out = run("store", "--help", home=tmp_path).stdout
    assert "stats" in out and "migrate" in out
    options = run("feedback", "--help", home=tmp_path).stdout
    for option in ("--prediction-id", "--outcome", "--correct", "--row", "--csv", "--strict"):
        assert option in options


def test_single_outcome_and_the_second_outcome_rule(home):
    assert "outcome 1 recorded" in run("feedback", "--prediction-id", "2", "--outcome", "1", home=home).stdout
    assert "unchanged" in run("feedback", "--prediction-id", "2", "--outcome", "1", home=home).stdout
    refused = one_line_error(run("feedback", "--prediction-id", "2", "--outcome", "0", home=home))
    assert "prediction_id 2: already has outcome 1" in refused and "--correct" in refused
    fixed = run("feedback", "--prediction-id", "2", "--outcome", "0", "--correct", home=home)
    assert "corrected (was 1)" in fixed.stdout
    assert "prediction_id 99" in one_line_error(run("feedback", "--prediction-id", "99", "--outcome", "1", home=home))
    assert "Depression" in one_line_error(run("feedback", "--prediction-id", "1", "--outcome", "yes", home=home))
    assert pending(home) == 1


def test_a_labelled_row_as_json(home):
    record = synthetic.generate(1, seed=3, id_start=50).raw.iloc[0].to_dict()
    stored = run("feedback", "--row", json.dumps({k: str(v) for k, v in record.items()}), home=home)
    assert stored.returncode == 0 and "Stored 1 labelled row" in stored.stdout
    bad = {**{k: str(v) for k, v in record.items()}, "id": "51", "CGPA": "12"}
    assert "CGPA" in one_line_error(run("feedback", "--row", json.dumps(bad), home=home))
    assert "not valid JSON" in one_line_error(run("feedback", "--row", "{Gender: Male", home=home))
    assert pending(home) == 1


def test_a_csv_of_outcomes_reports_each_rejection(home, tmp_path):
    csv = tmp_path / "outcomes.csv"
    pd.DataFrame({"prediction_id": [1, 2, 77, 3], "Depression": [1, 0, 1, 5]}).to_csv(csv, index=False)
    strict = run("feedback", "--csv", str(csv), "--strict", home=home)
    assert "77" in one_line_error(strict) and pending(home) == 0
    result = run("feedback", "--csv", str(csv), home=home)
    assert result.returncode == 1, result.stderr
    assert "2 of 4 outcomes accepted, 2 rejected" in result.stdout
    assert "row 4, field 'prediction_id'" in result.stdout and "row 5, field 'Depression'" in result.stdout
    assert pending(home) == 2
    assert "no such file" in one_line_error(run("feedback", "--csv", str(tmp_path / "nope.csv"), home=home))


def test_exactly_one_kind_of_feedback(home):
    assert "exactly one of" in one_line_error(run("feedback", home=home))
    assert "exactly one of" in one_line_error(run("feedback", "--prediction-id", "1", "--row", "{}", home=home))
    assert "--outcome" in one_line_error(run("feedback", "--prediction-id", "1", home=home))


def test_store_stats(home):
    run("feedback", "--prediction-id", "3", "--outcome", "0", home=home)
    text = run("store", "stats", home=home)
    assert text.returncode == 0, text.stderr
    assert "sqlite" in text.stdout and "Predictions logged:        3" in text.stdout
    assert "Labelled, pending retrain: 1" in text.stdout and "Last archive: none yet" in text.stdout
    figures = json.loads(run("store", "stats", "--json", home=home).stdout)
    assert figures["rows_by_state"] == {"unlabelled": 2, "pending": 1, "claimed": 0, "archived": 0}


def test_an_unreachable_database_is_one_clear_line(tmp_path):
    error = one_line_error(run("store", "stats", home=tmp_path, database_url="postgresql://postgres@127.0.0.1:1/none"))
    assert "MINDPULSE_DATABASE_URL" in error and "cannot open it" in error
    assert "mysql" in one_line_error(run("store", "stats", home=tmp_path, database_url="mysql://root@127.0.0.1/x"))


def test_quarantine_and_release_a_snapshot_with_one_line_errors(home, tmp_path):
    run("feedback", "--prediction-id", "1", "--outcome", "1", home=home)
    with Store.from_settings(Settings(home=home)) as store:
        claimed = store.claim_snapshot("manual__q")
        assert "it is claimed" in one_line_error(run("store", "quarantine", str(claimed.id), "--reason", "x", home=home))
        store.archive_snapshot(claimed.id, tmp_path)
    assert "snapshot_id: got '7'" in one_line_error(run("store", "quarantine", "7", "--reason", "flipped", home=home))
    assert "reason: got ' '" in one_line_error(run("store", "quarantine", "1", "--reason", " ", home=home))
    done = run("store", "quarantine", "1", "--reason", "labels flipped", "--by", "ana", home=home)
    assert done.returncode == 0 and "Snapshot 1 (1 rows) quarantined by ana at " in done.stdout
    assert "'mindpulse store release 1'" in done.stdout
    assert "already quarantined" in one_line_error(run("store", "quarantine", "1", "--reason", "again", home=home))
    assert "Snapshots in quarantine:   1" in run("store", "stats", home=home).stdout
    listed = run("store", "quarantined", home=home).stdout
    assert "snapshot 1: quarantined by ana at" in listed and "(labels flipped); in force" in listed

    assert "either SNAPSHOT" in one_line_error(run("store", "release", home=home))
    assert "either SNAPSHOT" in one_line_error(run("store", "release", "1", "--run-id", "manual__q", home=home))
    lifted = run("store", "release", "1", "--by", "bo", home=home)
    assert lifted.returncode == 0 and "Snapshot 1 released from quarantine by bo" in lifted.stdout
    assert "not quarantined" in one_line_error(run("store", "release", "1", home=home))
    history = json.loads(run("store", "quarantined", "--json", home=home).stdout)
    assert [(q["id"], q["by"], q["released_by"], q["in_force"]) for q in history] == [(1, "ana", "bo", False)]
    trail = [json.loads(line) for line in run("audit", "--json", home=home).stdout.splitlines()]
    assert [(e["action"], e["target"]) for e in trail] == [("quarantine_released", "snapshot 1"),
                                                          ("snapshot_quarantined", "snapshot 1")]
    assert trail[1]["details"]["reason"] == "labels flipped"
