"""Monitoring: the drift decision, the three Evidently reports, and the index and retention of report runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from cli_support import invoke
from mindpulse import contract as c
from mindpulse import monitoring
from mindpulse import synthetic as s
from mindpulse.settings import Settings
from shared_support import migrated

GENERIC_COLUMNS = ("age", "cgpa", "academic_pressure", "work_study_hours", "financial_stress")
EXAM_COLUMNS = {"academic_pressure", "work_study_hours", "sleep_duration"}


def with_outputs(frame: pd.DataFrame, *, noise: float = 0.0, threshold: float = 0.5, seed: int = 0) -> pd.DataFrame:
    """The frame scored by the generator's own model (the best model there is), optionally blurred."""
    out = frame.copy()
    proba = s.true_probability(out)
    if noise:
        proba = np.clip(proba + np.random.default_rng(seed).normal(0, noise, len(proba)), 0, 1)
    out["probability"] = proba
    out["prediction"] = (proba >= threshold).astype(int)
    return out


@pytest.fixture(scope="module")
def cfg(tmp_path_factory) -> Settings:
    return migrated(Settings(home=tmp_path_factory.mktemp("home")))


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return with_outputs(s.generate(10_000, seed=1).canonical())


@pytest.fixture(scope="module")
def undrifted() -> pd.DataFrame:
    return with_outputs(s.generate(1_500, seed=13).canonical())


@pytest.fixture(scope="module")
def exam() -> pd.DataFrame:
    return with_outputs(s.generate(1_500, seed=11, scenario="exam_season").canonical())


@pytest.fixture(scope="module")
def generic() -> pd.DataFrame:
    return s.generate(1_500, seed=12, scenario="generic", strength=2, columns=GENERIC_COLUMNS).canonical()


def features_only(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["depression", "prediction", "probability"], errors="ignore")


# --- the drift decision ---------------------------------------------------------------------------

def test_exam_season_is_drift_when_both_frames_carry_the_model_outputs(reference, exam, cfg):
    decision = monitoring.detect_drift(reference, exam, settings=cfg)
    assert decision.status == "drift" and decision.drifted
    # Counts and shares are over the 13 model features alone; the outputs and the label have their own lines.
    assert EXAM_COLUMNS == set(decision.drifted_columns)
    assert decision.n_features == 13 and decision.n_drifted == 3 and decision.n_rows == 1_500
    assert decision.share == pytest.approx(3 / 13) and not decision.feature_drifted
    assert decision.prediction_drift["drifted"] and decision.prediction_drift["score"] >= cfg.prediction_drift_threshold
    assert decision.label_drift["score"] is not None
    assert "3 of 13 model features" in decision.reason
    lines = decision.lines()
    assert [line.split(":")[0] for line in lines] == ["Feature drift", "Prediction drift", "Label drift"]


def test_exam_season_moves_exactly_its_three_features(reference, exam, cfg):
    # On the 13 features alone the scenario is 3/13 = 0.23, under the 0.3 threshold: the model
    # outputs are what make it a retrain-worthy drift (see the module docstring).
    decision = monitoring.detect_drift(features_only(reference), features_only(exam), settings=cfg)
    assert set(decision.drifted_columns) == EXAM_COLUMNS
    assert decision.feature_share == pytest.approx(3 / 13) and decision.status == "no_drift"


def test_strong_generic_shift_is_drift_on_features_alone(reference, generic, cfg):
    decision = monitoring.detect_drift(features_only(reference), features_only(generic), settings=cfg)
    assert decision.status == "drift" and decision.n_features == 13
    assert set(GENERIC_COLUMNS) <= set(decision.drifted_columns)
    assert decision.share == pytest.approx(decision.n_drifted / 13) and decision.share > 0.3


def test_undrifted_data_from_another_seed_is_not_drift(reference, undrifted, cfg):
    decision = monitoring.detect_drift(reference, undrifted, settings=cfg)
    assert decision.status == "no_drift" and decision.share <= 0.1, decision.reason
    assert monitoring.detect_drift(features_only(reference), features_only(undrifted), settings=cfg).status == "no_drift"


def test_too_few_rows_give_not_enough_data_never_a_share(reference, exam, cfg):
    decision = monitoring.detect_drift(reference, exam.head(50), settings=cfg)
    assert decision.status == "not_enough_data" and decision.share is None and not decision.drifted
    assert "50 rows" in decision.reason and "500" in decision.reason
    small_reference = monitoring.detect_drift(reference.head(100), exam, min_rows=200, settings=cfg)
    assert small_reference.status == "not_enough_data" and "reference has 100 rows" in small_reference.reason


def test_constant_columns_are_left_out_and_a_frame_with_nothing_to_compare_is_not_decided(reference, undrifted, cfg):
    ref, cur = features_only(reference).head(800).copy(), features_only(undrifted).head(600).copy()
    ref["gender"], cur["gender"] = "Male", "Male"
    decision = monitoring.detect_drift(ref, cur, min_rows=100, settings=cfg)
    assert "gender" in decision.skipped_columns and "gender" not in decision.compared_columns
    assert decision.n_features == 12 and decision.status == "no_drift" and not np.isnan(decision.share)
    # The same single value is no drift; two different single values are.
    cur["gender"] = "Female"
    assert "gender" in monitoring.detect_drift(ref, cur, min_rows=100, settings=cfg).drifted_columns
    for name in c.FEATURES:
        ref[name] = cur[name] = 1.0 if name in c.NUMERIC_FEATURES else "x"
    nothing = monitoring.detect_drift(ref, cur, min_rows=100, settings=cfg)
    assert nothing.status == "not_enough_data" and nothing.share is None and "no column" in nothing.reason


def test_missing_columns_are_named(reference, cfg):
    with pytest.raises(ValueError, match="current: missing column.*cgpa"):
        monitoring.detect_drift(reference, reference.drop(columns=["cgpa"]), settings=cfg)


# --- the reports ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def scored(undrifted) -> pd.DataFrame:
    # A blurred model whose labels are cut at 0.45, so they differ from Evidently's own 0.5 cut.
    frame = with_outputs(features_only(undrifted).join(undrifted["depression"]), noise=0.15, threshold=0.45, seed=3)
    frame.loc[frame.index[:7], "depression"] = pd.NA  # no feedback yet: left out
    return frame


@pytest.fixture(scope="module")
def written(reference, exam, scored, cfg, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    return out, {
        "data_quality": monitoring.data_quality_report(reference, exam, out, settings=cfg),
        "data_drift": monitoring.data_drift_report(reference, exam, out, settings=cfg),
        "model_performance": monitoring.model_performance_report(scored, out, reference=reference, settings=cfg),
    }


def test_each_report_is_a_self_contained_html_and_a_json_summary(written):
    out, results = written
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{k}.{ext}" for k in results for ext in ("html", "json"))
    for kind, result in results.items():
        assert result.kind == kind and result.html_path == out / f"{kind}.html"
        html = result.html_path.read_text(encoding="utf-8")
        assert len(html.encode()) > 1_000_000  # Evidently's scripts are inlined
        assert "<script src=" not in html and 'src="http' not in html
        assert json.loads(result.json_path.read_text()) == result.summary
        assert result.summary["rows"] > 0 and result.summary["sampled"] is False
    assert "academic_pressure" in results["data_drift"].html_path.read_text(encoding="utf-8")
    assert "depression" in results["model_performance"].html_path.read_text(encoding="utf-8")


def test_drift_report_summary_matches_the_decision(written, reference, exam, cfg):
    summary = written[1]["data_drift"].summary
    decision = monitoring.detect_drift(reference, exam, settings=cfg)
    assert summary["status"] == decision.status == "drift" and summary["share"] == pytest.approx(decision.share)
    assert summary["columns"]["academic_pressure"]["drifted"] is True
    assert summary["columns"]["gender"]["drifted"] is False
    assert set(summary["drifted_columns"]) == set(decision.drifted_columns)


def test_quality_summary_holds_the_current_and_reference_figures(written, reference, exam):
    summary = written[1]["data_quality"].summary
    assert summary["rows"] == len(exam) and summary["reference_rows"] == len(reference)
    pressure = summary["columns"]["academic_pressure"]
    assert pressure["mean"] == pytest.approx(exam["academic_pressure"].mean())
    assert pressure["reference_mean"] == pytest.approx(reference["academic_pressure"].mean())
    stress = summary["columns"]["financial_stress"]
    assert stress["missing_share"] == pytest.approx(exam["financial_stress"].isna().mean())
    assert summary["columns"]["depression"]["positive_share"] == pytest.approx(exam["depression"].astype(float).mean())
    assert summary["dataset"]["rows"] == len(exam)


def test_performance_figures_equal_scikit_learns(written, scored):
    summary = written[1]["model_performance"].summary
    rows = scored[scored["depression"].notna()]
    y, pred, proba = rows["depression"].astype(int), rows["prediction"], rows["probability"]
    assert summary["labelled_rows"] == len(rows) and summary["unlabelled_rows_left_out"] == 7
    assert summary["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
    assert summary["precision"] == pytest.approx(skm.precision_score(y, pred), abs=1e-12)
    assert summary["recall"] == pytest.approx(skm.recall_score(y, pred), abs=1e-12)
    assert summary["f1"] == pytest.approx(skm.f1_score(y, pred), abs=1e-12)
    assert summary["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba), abs=1e-12)
    assert summary["confusion"]["matrix"] == skm.confusion_matrix(y, pred).tolist()
    # The labels the model issued, not the probabilities cut at 0.5.
    assert summary["accuracy"] != pytest.approx(skm.accuracy_score(y, (proba >= 0.5).astype(int)), abs=1e-6)


def test_performance_per_group_figures(written, scored):
    groups = written[1]["model_performance"].summary["groups"]
    rows = scored[scored["depression"].notna()]
    assert set(groups["gender"]["groups"]) == {"Female", "Male"}
    assert set(groups["age_band"]["groups"]) <= {"15-20", "21-25", "26-30", "31+"}
    women = rows[rows["gender"] == "Female"]
    female = groups["gender"]["groups"]["Female"]
    assert female["rows"] == len(women)
    assert female["recall"] == pytest.approx(skm.recall_score(women["depression"].astype(int), women["prediction"]))
    assert female["roc_auc"] == pytest.approx(skm.roc_auc_score(women["depression"].astype(int), women["probability"]))
    band = groups["age_band"]["groups"]["26-30"]
    in_band = rows[(rows["age"] > 25) & (rows["age"] <= 30)]
    assert band["rows"] == len(in_band)
    assert band["accuracy"] == pytest.approx(skm.accuracy_score(in_band["depression"].astype(int), in_band["prediction"]))
    gap = groups["gender"]["gaps"]["recall"]
    recalls = [g["recall"] for g in groups["gender"]["groups"].values()]
    assert gap["gap"] == pytest.approx(max(recalls) - min(recalls))


def test_a_model_failing_one_group_shows_in_the_gaps(scored, cfg, tmp_path):
    bad = scored.copy()
    older = bad["age"] > 30
    bad.loc[older, "prediction"] = 1 - bad.loc[older, "prediction"]  # wrong on purpose for 31+
    bad.loc[older, "probability"] = 1 - bad.loc[older, "probability"]
    summary = monitoring.model_performance_report(bad, tmp_path, settings=cfg).summary
    gaps = summary["groups"]["age_band"]["gaps"]
    assert gaps["accuracy"]["worst_group"] == "31+" and gaps["accuracy"]["gap"] > 0.4


def test_performance_rejects_bad_labels_and_needs_labelled_rows(scored, cfg, tmp_path):
    bad = scored.copy()
    bad.loc[bad.index[10], "prediction"] = 2
    with pytest.raises(ValueError, match="'prediction' has 2 at index 10, expected 0 or 1"):
        monitoring.model_performance_report(bad, tmp_path, settings=cfg)
    with pytest.raises(ValueError, match="no labelled rows"):
        monitoring.model_performance_report(scored.assign(depression=pd.NA), tmp_path, settings=cfg)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_large_inputs_are_sampled_with_a_seed_and_it_is_recorded(reference, exam, cfg, tmp_path):
    one = monitoring.data_drift_report(reference, exam, tmp_path / "a", sample_cap=1_000, seed=5, settings=cfg).summary
    two = monitoring.data_drift_report(reference, exam, tmp_path / "b", sample_cap=1_000, seed=5, settings=cfg).summary
    assert one["sampled"] is True and one["rows"] == 1_500 and one["reference_rows"] == 10_000
    assert one["sampling"]["current"] == {"rows": 1_500, "used": 1_000, "sampled": True, "cap": 1_000, "seed": 5}
    assert one["sampling"]["reference"]["used"] == 1_000
    assert one["share"] == two["share"] and one["columns"] == two["columns"]


def test_drift_report_on_too_few_rows_still_writes_the_page_but_decides_nothing(reference, exam, cfg, tmp_path):
    result = monitoring.data_drift_report(reference, exam.head(50), tmp_path, settings=cfg)
    assert result.html_path.is_file() and result.summary["status"] == "not_enough_data"
    assert result.summary["share"] is None and result.summary["n_drifted"] == 0


def test_importing_monitoring_does_not_import_evidently():
    code = "import sys, mindpulse.monitoring; print('evidently' in sys.modules, 'sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# --- the index and retention of report runs -------------------------------------------------------

def make_run(folder: Path, *, created_at: str | None = None, mtime: float | None = None, drift_share: float | None = None,
             accuracy: float | None = None, notebook: bool = True) -> Path:
    folder.mkdir(parents=True)
    if notebook:
        (folder / "detect_drift.ipynb").write_text("{}")
    if created_at:
        (folder / "run_summary.json").write_text(json.dumps(
            {"dag_id": folder.parent.name, "run_id": f"manual__{created_at}", "created_at": created_at, "outcome": "reported"}))
    if drift_share is not None:
        (folder / "data_drift").mkdir()
        (folder / "data_drift" / "data_drift.json").write_text(json.dumps({"kind": "data_drift", "share": drift_share,
                                                                          "status": "no_drift", "rows": 1200}))
        (folder / "data_drift" / "data_drift.html").write_text("<html></html>")
    if accuracy is not None:
        (folder / "model_performance.json").write_text(json.dumps({"kind": "model_performance", "accuracy": accuracy,
                                                                  "roc_auc": 0.9, "rows": 900}))
        (folder / "model_performance.html").write_text("<html></html>")
    if mtime is not None:
        os.utime(folder, (mtime, mtime))
    return folder


@pytest.fixture
def reports_root(tmp_path: Path) -> Path:
    root = tmp_path / "reports"
    day = 1_790_000_000.0  # late 2026, as epoch seconds
    for i in range(5):  # retrain runs with a summary, written out of order
        make_run(root / "ml_retrain_pipeline" / f"run{i}", created_at=f"2026-11-0{[3, 1, 5, 2, 4][i]}T08:00:00+00:00",
                 drift_share=0.1 * i)
    for i in range(4):  # reporting runs still without a summary: their folder's time decides
        make_run(root / "evidently_reporting_pipeline" / f"rep{i}", mtime=day + 3600 * [2, 4, 1, 3][i], accuracy=0.8 + i / 100)
    return root


def test_list_report_runs_reads_the_reports_root_newest_first(reports_root):
    runs = monitoring.list_report_runs(reports_root)
    assert len(runs) == 9
    assert [r["name"] for r in runs] == ["run2", "run4", "run0", "run3", "run1", "rep1", "rep3", "rep0", "rep2"]
    first = runs[0]
    assert first["dag_id"] == "ml_retrain_pipeline" and first["outcome"] == "reported"
    assert first["created_at"] == "2026-11-05T08:00:00+00:00" and first["path"] == str(reports_root / "ml_retrain_pipeline" / "run2")
    assert first["drift_share"] == pytest.approx(0.2) and first["drift_status"] == "no_drift" and first["rows"] == 1200
    assert first["html"] == ["data_drift/data_drift.html"] and first["notebooks"] == ["detect_drift.ipynb"]
    assert first["reports"]["data_drift"] == {"json": "data_drift/data_drift.json", "html": "data_drift/data_drift.html"}
    rep1 = runs[5]
    assert rep1["dag_id"] == "evidently_reporting_pipeline" and rep1["accuracy"] == pytest.approx(0.81)
    assert rep1["roc_auc"] == 0.9 and rep1["outcome"] is None and rep1["created_at"].startswith("2026-")


def test_list_report_runs_reads_one_dag_folder(reports_root):
    runs = monitoring.list_report_runs(reports_root / "evidently_reporting_pipeline")
    assert [r["name"] for r in runs] == ["rep1", "rep3", "rep0", "rep2"]
    assert monitoring.list_report_runs(reports_root / "missing") == []


def test_rendered_notebooks_are_not_listed_as_reports(reports_root):
    run = reports_root / "ml_retrain_pipeline" / "run2"
    (run / "detect_drift.html").write_text("<html>rendered notebook</html>")
    entry = next(r for r in monitoring.list_report_runs(reports_root) if r["name"] == "run2")
    assert entry["html"] == ["data_drift/data_drift.html"]


def test_prune_keeps_exactly_the_newest_runs_of_one_dag(reports_root):
    dag = reports_root / "ml_retrain_pipeline"
    removed = monitoring.prune_report_runs(dag, keep=3)
    assert sorted(p.name for p in removed) == ["run1", "run3"]
    assert sorted(p.name for p in dag.iterdir()) == ["run0", "run2", "run4"]
    assert len(list((reports_root / "evidently_reporting_pipeline").iterdir())) == 4  # another DAG: untouched
    assert monitoring.prune_report_runs(dag, keep=3) == []


def test_prune_from_the_reports_root_keeps_the_newest_of_each_dag_and_never_a_dag_folder(reports_root):
    manual = make_run(reports_root / "manual-report", accuracy=0.7, notebook=False)  # a run right under the root
    removed = monitoring.prune_report_runs(reports_root, keep=2)
    assert sorted(p.name for p in removed) == ["rep0", "rep2", "run0", "run1", "run3"]
    assert sorted(p.name for p in (reports_root / "ml_retrain_pipeline").iterdir()) == ["run2", "run4"]
    assert sorted(p.name for p in (reports_root / "evidently_reporting_pipeline").iterdir()) == ["rep1", "rep3"]
    assert manual.is_dir() and not any(p.name.startswith(".") for p in reports_root.rglob("*"))
    with pytest.raises(ValueError, match="keep: got 0"):
        monitoring.prune_report_runs(reports_root, keep=0)


# --- the command line -----------------------------------------------------------------------------

def cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    return invoke(*args, home=home)


def test_cli_writes_a_drift_report_and_lists_it(tmp_path, reference, exam):
    ref_csv, cur_csv = tmp_path / "reference.csv", tmp_path / "exam.csv"
    features_only(reference).join(reference["depression"]).head(2_000).pipe(c.to_raw).to_csv(ref_csv, index=False)
    exam.to_csv(cur_csv, index=False)  # canonical columns plus the model outputs
    out = tmp_path / "reports" / "manual" / "first"
    done = cli("report", "drift", "--current", str(cur_csv), "--reference", str(ref_csv), "--out", str(out), home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Drift: " in done.stdout and (out / "data_drift.html").is_file() and (out / "data_drift.json").is_file()
    listing = cli("reports", home=tmp_path)
    assert listing.returncode == 0 and "first" in listing.stdout and "manual" in listing.stdout


def test_cli_errors_are_one_line(tmp_path):
    done = cli("report", "speed", "--current", "x.csv", home=tmp_path)
    assert done.returncode == 2 and "kind: got 'speed', expected one of quality, drift, performance" in done.stderr
    assert "Traceback" not in done.stderr
    missing = cli("report", "quality", "--current", str(tmp_path / "nope.csv"), home=tmp_path)
    assert missing.returncode == 2 and "no such file" in missing.stderr and "Traceback" not in missing.stderr
    assert "No report runs" in cli("reports", home=tmp_path).stdout
