"""``mindpulse train / models / promote / rollback / predict`` as a user runs them."""

import json

import pandas as pd
import pytest

from fixtures_models import one_line_error, run_cli
from mindpulse import contract as c
from mindpulse.synthetic import generate

RECORD = {"Gender": "Male", "Age": 20, "City": "Delhi", "Academic Pressure": 4, "CGPA": 7.2,
          "Study Satisfaction": 2, "Sleep Duration": "5-6 hours", "Dietary Habits": "Moderate", "Degree": "BSc",
          "Have you ever had suicidal thoughts ?": "Yes", "Work/Study Hours": 9, "Financial Stress": "?",
          "Family History of Mental Illness": "No"}

pytestmark = pytest.mark.slow  # trains models (and starts the CLI)


@pytest.fixture(scope="module")
def home(make_module_home):
    """A project home with 2,500 reference rows and a first champion trained by the CLI."""
    home = make_module_home(migrate=False).home
    run_cli("store", "migrate", home=home, check=True)  # the deploy step, as a user runs it
    run_cli("generate", "reference", "--rows", "2500", "--seed", "71", home=home, check=True)
    trained = run_cli("train", "--folds", "3", home=home, check=True)
    return home, trained.stdout


def test_train_shows_progress_and_makes_a_champion(home):
    _, out = home
    for text in ("logistic_regression", "random_forest", "xgboost", "Fixed holdout", "promoted to champion"):
        assert text in out


def test_models_lists_versions_with_metrics_and_the_champion(home):
    path, _ = home
    listing = run_cli("models", home=path, check=True).stdout.splitlines()
    assert listing[0].split() == ["VERSION", "CREATED", "ROWS", "CV", "AUC", "HOLDOUT", "AUC", "MODEL", "STATUS"]
    champion = [line for line in listing if line.startswith("*")]
    assert len(champion) == 1 and champion[0].split()[-1] == "champion" and "2000" in champion[0]


def test_predict_one_record(home):
    path, _ = home
    result = run_cli("predict", "--record", json.dumps(RECORD), home=path, check=True)
    payload = json.loads(result.stdout)
    assert 0 <= payload["probability"] <= 1 and payload["risk_band"] in ("low", "moderate", "high")
    assert len(payload["factors"]) == 3 and payload["model_version"].startswith("v0001-")
    assert payload["disclaimer"] == "Screening aid, not a diagnosis"


def test_predict_a_csv_reports_bad_rows(home, tmp_path):
    path, _ = home
    raw = generate(50, seed=72).raw.drop(columns=["Depression"]).astype(object)
    raw.loc[3, "Age"] = "twenty"
    source, output = tmp_path / "batch.csv", tmp_path / "scored.csv"
    raw.to_csv(source, index=False)
    result = run_cli("predict", "--input", str(source), "--output", str(output), "--factors", home=path, check=True)
    assert "Scored 49 row(s)" in result.stdout and "1 row(s) set aside" in result.stdout and "'twenty'" in result.stdout
    scored = pd.read_csv(output)
    assert list(scored.columns[:17]) == [col for col in c.RAW_COLUMNS if col != "Depression"]
    assert {"probability", "prediction", "risk_band", "model_version", "factors"} <= set(scored.columns)
    rejects = pd.read_csv(tmp_path / "scored.rejects.csv")
    assert len(rejects) == 1 and "Age" in rejects["problems"].iloc[0]


def test_user_errors_are_one_line(home, tmp_path):
    path, _ = home
    cases = [
        (("promote", "v0042-20260101T000000Z"), "registered versions"),
        (("promote", "newest"), "registry version"),
        (("rollback",), "no backup"),
        (("predict", "--record", "{not json"), "not valid JSON"),
        (("predict", "--record", json.dumps({**RECORD, "Sleep Duration": "10 hours"})), "Sleep Duration"),
        (("predict", "--input", str(tmp_path / "absent.csv"), "--output", str(tmp_path / "o.csv")), "absent.csv"),
        (("predict",), "either --input"),
    ]
    for args, expected in cases:
        assert expected in one_line_error(run_cli(*args, home=path)), args


def listed_versions(home) -> dict[str, str]:
    """version -> status, from the `models` table."""
    rows = run_cli("models", home=home, check=True).stdout.splitlines()[1:]
    return {line.lstrip("* ").split()[0]: line.split()[-1] for line in rows if line.lstrip("* ").startswith("v")}


def test_retrain_gate_promote_and_rollback(home, tmp_path):
    path, _ = home
    extra = tmp_path / "feedback.csv"
    generate(600, seed=73, id_start=900_000).raw.to_csv(extra, index=False)
    second = run_cli("train", "--folds", "3", "--extra", str(extra), home=path, check=True).stdout
    assert "training on 2,600 of 3,100 rows" in second and "v0002-" in second
    first, newer = sorted(listed_versions(path))
    record = json.loads((path / "artifacts" / "models" / newer / "metadata.json").read_text())["lineage"]
    assert record["reference"]["rows"] == 2500 and record["reference"]["path"].endswith("reference.csv")
    assert record["extra"]["path"] == str(extra.resolve()) and record["extra"]["rows"] == 600
    assert "reason" in one_line_error(run_cli("promote", newer, "--force", home=path))
    run_cli("promote", newer, "--force", "--reason", "cli test", home=path, check=True)
    assert listed_versions(path) == {first: "backup", newer: "champion"}
    back = run_cli("rollback", "--to", first, home=path, check=True).stdout
    assert f"Champion is now {first}" in back
    assert json.loads(run_cli("predict", "--record", json.dumps(RECORD), home=path).stdout)["model_version"] == first
    undo = run_cli("rollback", home=path, check=True).stdout
    assert f"Champion is now {newer}" in undo
    assert listed_versions(path) == {first: "backup", newer: "champion"}
    trail = [json.loads(line) for line in run_cli("audit", "--json", home=path, check=True).stdout.splitlines()]
    assert [(e["action"], e["target"]) for e in trail] == [("rollback", newer), ("rollback", first),
                                                          ("model_promoted", newer)]
    assert trail[-1]["details"]["forced"] is True and trail[-1]["details"]["reason"] == "cli test"
    assert all(e["via"] == "cli" and e["actor"].startswith("os:") for e in trail)


def test_training_again_on_the_same_data_and_settings_registers_no_copy(home):
    path, _ = home
    before = listed_versions(path)
    error = one_line_error(run_cli("train", "--folds", "3", home=path))
    assert "training data and settings: the same as v0001-" in error and "nothing trained, no version registered" in error
    assert listed_versions(path) == before


def test_no_reference_or_no_champion_is_explained(tmp_path):
    assert "no reference data" in one_line_error(run_cli("train", home=tmp_path))
    assert "no champion" in one_line_error(run_cli("predict", "--record", json.dumps(RECORD), home=tmp_path))
    listing = run_cli("models", home=tmp_path, check=True).stdout
    assert "No model registered" in listing


def test_a_tampered_champion_is_refused_by_predict(home, tmp_path):
    import shutil

    path, _ = home
    copy = tmp_path / "copy"
    shutil.copytree(path / "artifacts", copy / "artifacts")
    pointer = json.loads((copy / "artifacts" / "registry.json").read_text())
    model = copy / "artifacts" / "models" / pointer["champion"] / "model.pkl"
    model.write_bytes(model.read_bytes() + b"\0")
    error = one_line_error(run_cli("predict", "--record", json.dumps(RECORD), home=copy))
    assert "sha256" in error and pointer["champion"] in error
