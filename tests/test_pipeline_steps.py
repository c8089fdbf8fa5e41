"""The pipeline's pieces without Airflow: run folders, the trigger rule, and the step functions on a
small home (3,000 reference rows, a champion, 1,200 labelled production rows in a SQLite store),
some run through Papermill exactly as the DAG runs them."""

from __future__ import annotations

import json
from pathlib import Path

import papermill as pm
import pytest

from airflow_support import WebhookReceiver
from fixtures.homes import HomeFactory
from home_support import home_state as _state
from mindpulse import pipeline, runs
from mindpulse.kernels import IPCKernelManager
from mindpulse.registry import ModelRegistry
from mindpulse.settings import Settings
from mindpulse.store import Store

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"


# --- run folders ------------------------------------------------------------------------------------
@pytest.mark.parametrize("run_id, expected", [
    ("manual__2026-11-26T07:30:13.241978+00:00", "manual__2026-11-26T07-30-13.241978-00-00"),
    ("scheduled__2026-11-26T00:00:00+00:00", "scheduled__2026-11-26T00-00-00-00-00"),
    ("my run/with spaces", "my-run-with-spaces"),
    ("../../etc", "etc"),
])
def test_safe_run_id(run_id: str, expected: str) -> None:
    assert runs.safe_run_id(run_id) == expected


def test_safe_run_id_refuses_a_name_with_no_letter_or_digit() -> None:
    with pytest.raises(ValueError, match="run_id='/..'"):
        runs.safe_run_id("/..")


def test_run_folder_is_a_function_of_dag_run_and_step(tmp_path: Path) -> None:
    folder = runs.run_dir(tmp_path, "ml_retrain_pipeline", "manual__2026-11-26T07:30:13+00:00")
    assert folder == tmp_path / "ml_retrain_pipeline" / "manual__2026-11-26T07-30-13-00-00"
    assert runs.notebook_path(folder, "train_and_gate") == folder / "train_and_gate.ipynb"


def test_run_summary_is_written_whole_and_names_a_known_outcome(tmp_path: Path) -> None:
    runs.write_summary(tmp_path, {"outcome": "skipped", "run_id": "r"})
    from mindpulse.steps import SCHEMA_VERSION

    assert runs.read_summary(tmp_path) == {"outcome": "skipped", "run_id": "r", "schema_version": SCHEMA_VERSION}
    with pytest.raises(ValueError, match="outcome='maybe': expected one of promoted, refused, skipped, failed, reported"):
        runs.write_summary(tmp_path, {"outcome": "maybe"})
    assert runs.read_summary(tmp_path)["outcome"] == "skipped"  # the old summary is intact
    assert [p.name for p in tmp_path.iterdir()] == [runs.SUMMARY_NAME]  # no temporary file left


def test_glue_is_read_back_by_scrapbook_exactly_like_its_own_glue(tmp_path: Path) -> None:
    import nbformat
    import scrapbook as sb

    values = {"text": "no_drift", "json_like_text": "42", "number": 1200, "share": 0.214, "flag": True,
              "names": ["age", "sleep_duration"], "figures": {"roc_auc": 0.92, "model": "xgboost"}}
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(
        f"import scrapbook as sb\nfrom mindpulse import runs\nvalues = {values!r}\n"
        "for name, value in values.items():\n    sb.glue('sb_' + name, value)\n    runs.glue('mp_' + name, value)")]
    nbformat.write(notebook, tmp_path / "glue.ipynb")
    pm.execute_notebook(str(tmp_path / "glue.ipynb"), str(tmp_path / "glued.ipynb"), kernel_name="python3", progress_bar=False)
    scraps = sb.read_notebook(str(tmp_path / "glued.ipynb")).scraps
    for name, value in values.items():
        ours, theirs = scraps[f"mp_{name}"], scraps[f"sb_{name}"]
        assert ours.data == theirs.data == value and ours.encoder == theirs.encoder, name
    assert runs.read_outputs(tmp_path / "glued.ipynb") == scraps.data_dict


def test_glue_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(ValueError):
        runs.glue("share", float("nan"))


# --- the trigger rule -------------------------------------------------------------------------------
@pytest.mark.parametrize("rows, status, share, score, force, proceed, reason", [
    (1200, "no_drift", 0.1, 0.02, False, True, "1200 labelled production rows >= min_rows 1000"),
    (999, "no_drift", 0.1, 0.02, False, False, "999 labelled production rows < min_rows 1000"),
    (600, "drift", 0.46, 0.02, False, True, "feature drift share 0.46 > feature_drift_threshold 0.30"),
    (600, "no_drift", 0.30, 0.02, False, False, "feature drift share 0.30 <= feature_drift_threshold 0.30"),
    (600, "no_drift", 0.08, 0.12, False, True, "prediction drift score 0.120 >= prediction_drift_threshold 0.10"),
    (600, "no_drift", 0.08, 0.05, False, False, "prediction drift score 0.050 < prediction_drift_threshold 0.10"),
    (10, "not_enough_data", None, None, False, False, "drift not measured (not enough production rows)"),
    (0, "not_enough_data", None, None, True, True, "forced by the run's conf (force=true)"),
])
def test_retrain_trigger_rule(rows: int, status: str, share: float | None, score: float | None, force: bool,
                              proceed: bool, reason: str) -> None:
    decision = pipeline.retrain_reasons(rows=rows, min_rows=1000, drift_status=status, feature_drift_share=share,
                                        feature_drift_threshold=0.3, prediction_drift_score=score,
                                        prediction_drift_threshold=0.1, force=force)
    assert decision.proceed is proceed
    assert reason in decision.reasons


# --- the steps on a small home -----------------------------------------------------------------------
@pytest.fixture
def home(make_home: HomeFactory, demo_template: Path, kernel_zygote: dict[str, str]) -> Settings:
    """A fresh copy of the demo home, exported to the notebook kernels Papermill starts (forked from
    the session's zygote, as under the embedded Airflow)."""
    return make_home(demo_template, export=True, env=kernel_zygote)


def _execute(notebook: str, run: pipeline.Run, step: str, **parameters: object) -> Path:
    """Run a notebook into the run folder as the DAG's factory does."""
    output = run.notebook(step)
    pm.execute_notebook(str(NOTEBOOKS / notebook), str(output), kernel_name="python3", progress_bar=False,
                        parameters={"dag_id": run.dag_id, "run_id": run.run_id, "run_dir": str(run.dir), **parameters},
                        kernel_manager_class=IPCKernelManager)
    return output


def test_retrain_steps_are_transactions_a_retry_can_rerun(home: Settings) -> None:
    run = pipeline.open_run(pipeline.RETRAIN_DAG_ID, "manual__2026-11-26T08:00:00+00:00", settings=home)
    before = _state(home)

    check = pipeline.check_production_data(run)
    assert check.outputs["rows"] == 1200 and check.outputs["enough_rows"] is True
    # The backup is the previous champion; with only a first champion there is none yet (nothing changes here).
    assert pipeline.backup_model(run).outputs == {"has_champion": True, "champion": before["champion"]}  # no backup yet

    merged = pipeline.merge_training_data(run, commit=True)
    again = pipeline.merge_training_data(run, commit=True)  # a retry: the same snapshot, no new claim
    assert merged.outputs == again.outputs
    # 3,000 reference rows + 1,200 production rows, of which 240 (20 %) are held out as the recent slice.
    assert merged.outputs["production_rows"] == 1200 and merged.outputs["training_rows"] == 3960
    assert merged.outputs["recent_rows"] == 240
    assert Store.from_settings(home).pending_count() == 0

    trained = pipeline.train_and_gate(run, seed=7, candidates=["logistic_regression"], commit=True)
    retried = pipeline.train_and_gate(run, seed=7, candidates=["logistic_regression"], commit=True)
    assert retried.outputs["version"] == trained.outputs["version"]  # gated again, not trained again
    assert len(_state(home)["versions"]) == len(before["versions"]) + 1
    assert trained.outputs["champion_before"] == before["champion"]

    archived = pipeline.archive_production_data(run, commit=True)
    assert archived.outputs["archived"] is True and archived.outputs["rows"] == 1200
    assert pipeline.archive_production_data(run, commit=True).outputs["archive_path"] == archived.outputs["archive_path"]
    assert Path(archived.outputs["archive_path"]).is_file()
    assert _state(home)["snapshots"] == [(merged.outputs["snapshot_id"], "archived")]


def test_archive_refuses_a_snapshot_no_model_was_trained_on(home: Settings) -> None:
    run = pipeline.open_run(pipeline.RETRAIN_DAG_ID, "manual__untrained", settings=home)
    pipeline.merge_training_data(run, commit=True)
    result = pipeline.archive_production_data(run, commit=True)
    assert result.outputs == {"committed": True, "archived": False, "rows": 0}
    assert _state(home)["archive"] == []


def test_gate_decides_from_the_glued_outputs_of_the_executed_check_notebooks(home: Settings) -> None:
    run = pipeline.open_run(pipeline.RETRAIN_DAG_ID, "manual__gate", settings=home)
    _execute("retrain/01_check_production_data.ipynb", run, "check_production_data", min_rows=1000)
    _execute("retrain/02_detect_drift.ipynb", run, "detect_drift", feature_drift_threshold=0.3)
    assert runs.read_outputs(run.notebook("check_production_data"))["rows"] == 1200
    assert (run.dir / "data_drift.html").is_file()

    go = pipeline.decide_retrain(run.dir, min_rows=1000, feature_drift_threshold=0.3, prediction_drift_threshold=0.1, force=False)
    assert go.proceed and go.reasons[0] == "1200 labelled production rows >= min_rows 1000"
    stay = pipeline.decide_retrain(run.dir, min_rows=5000, feature_drift_threshold=0.99, prediction_drift_threshold=5.0, force=False)
    assert not stay.proceed and "not forced" in stay.reasons
    recorded = json.loads((run.dir / "decide_retrain.json").read_text())
    assert recorded["proceed"] is False and recorded["min_rows"] == 5000


def test_gate_fails_loudly_and_records_why_when_a_check_did_not_finish(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="no glued value 'rows'; the step check_production_data did not finish"):
        pipeline.decide_retrain(tmp_path, min_rows=1000, feature_drift_threshold=0.3, prediction_drift_threshold=0.1, force=False)
    assert json.loads((tmp_path / "decide_retrain.json").read_text())["error"].startswith("RuntimeError")


def test_failed_training_leaves_its_notebook_changes_no_model_and_releases_the_snapshot(home: Settings,
                                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    before = _state(home)
    run = pipeline.open_run(pipeline.RETRAIN_DAG_ID, "manual__failing", settings=home)
    (run.dir / "decide_retrain.json").write_text(json.dumps({"proceed": True, "reasons": ["forced"]}))
    _execute("retrain/04_merge_training_data.ipynb", run, "merge_training_data", commit=True)
    assert Store.from_settings(home).pending_count() == 0
    with pytest.raises(pm.PapermillExecutionError, match="candidate: got 'no_such_model'"):
        _execute("retrain/05_train_and_gate.ipynb", run, "train_and_gate", candidates=["no_such_model"], commit=True)
    assert runs.notebook_error(run.notebook("train_and_gate")).startswith("ValueError: candidate: got 'no_such_model'")

    with WebhookReceiver() as hook:
        monkeypatch.setenv("MINDPULSE_WEBHOOK_URL", hook.url)
        _execute("retrain/07_notify.ipynb", run, "notify", force=True)
    summary = runs.read_summary(run.dir)
    assert summary["outcome"] == "failed" and summary["failed_steps"] == ["train_and_gate"]
    assert summary["steps"]["train_and_gate"]["error"].startswith("ValueError")
    assert summary["snapshot"]["released"] is True and summary["model_after"] == before["champion"]
    after = _state(home)
    assert after["champion"] == before["champion"] and after["versions"] == before["versions"]
    assert after["pending"] == 1200 and after["archive"] == []
    assert [m["json"]["level"] for m in hook.received] == ["failure"]
    assert hook.received[0]["json"]["payload"]["outcome"] == "failed"


def test_reporting_steps_write_three_reports_and_prune_old_runs(home: Settings) -> None:
    dag_folder = home.reports_dir / pipeline.REPORTING_DAG_ID
    for age, name in enumerate(["old-1", "old-2"]):
        runs.write_summary(dag_folder / name, {"outcome": "reported", "created_at": f"2026-01-0{age + 1}T00:00:00+00:00"})
    run = pipeline.open_run(pipeline.REPORTING_DAG_ID, "manual__reports", settings=home)
    available = pipeline.check_data_availability(run)
    assert available.outputs["available"] is True and available.outputs["current_rows"] == 1200
    assert (run.dir / pipeline.CURRENT_DATA_NAME).is_file()
    for step in (pipeline.data_quality_report, pipeline.data_drift_report, pipeline.model_performance_report):
        result = step(run)
        assert (run.dir / result.outputs["html"]).is_file() and (run.dir / result.outputs["json"]).is_file()
    removed = pipeline.clean_up_reports(run, keep=1, commit=True)  # this run, in progress, has no summary: kept
    assert removed.outputs["removed"] == [f"{pipeline.REPORTING_DAG_ID}/old-1"]
    assert run.dir.is_dir() and (dag_folder / "old-2").is_dir()


# --- which model produced what ----------------------------------------------------------------------
def _second_champion(settings: Settings) -> str:
    """A second model, made champion by force (as after a promotion), trained on the same reference."""
    from mindpulse.data import load_reference
    from mindpulse.train import train_register_and_judge

    registry = ModelRegistry.from_settings(settings)
    outcome = train_register_and_judge(load_reference(settings), registry, seed=8, margin=1.0, data_source="test",
                             candidates=["logistic_regression"], folds=2)
    if not outcome.promoted:
        registry.promote(outcome.version, force=True, reason="a second champion for the test")
    return outcome.version


def test_reports_say_which_model_produced_what_and_judge_each_model_on_its_own_rows(home: Settings) -> None:
    from mindpulse.monitoring.performance import classification_figures, labelled_rows
    from mindpulse.pipeline.sources import drift_inputs

    first = ModelRegistry.from_settings(home).champion().version
    second = _second_champion(home)
    current = pipeline.current_data(pipeline.open_run(pipeline.REPORTING_DAG_ID, "before-traffic", settings=home))
    # After a promotion, every current row still comes from the first model: the reference is scored by it too.
    reference, compared, models = drift_inputs(home, current)
    assert (models["reference_model"], models["current_rows_rescored"]) == (first, 0)
    assert models["reference_model_reason"] == "produced 1200 of the 1200 current rows' predictions"
    assert (compared["probability"].to_numpy() == current["probability"].to_numpy()).all()

    pipeline.simulate_production_traffic(home, days=1, rows_per_day=1_500, drift_days=0, seed=21)  # by the second
    run = pipeline.open_run(pipeline.REPORTING_DAG_ID, "manual__mixed", settings=home)
    # Through Papermill, as the DAG runs them: the executed notebooks show it too.
    _execute("reporting/01_check_data_availability.ipynb", run, "check_data_availability")
    _execute("reporting/03_data_drift_report.ipynb", run, "data_drift_report")
    _execute("reporting/04_model_performance_report.ipynb", run, "model_performance_report")
    available = runs.read_outputs(run.notebook("check_data_availability"))
    assert available["model_versions"] == {second: 1500, first: 1200}
    assert f"Predictions made by {second} (1500 rows), {first} (1200 rows)" in run.notebook("check_data_availability").read_text()

    drift = runs.read_outputs(run.notebook("data_drift_report"))
    assert drift["reference_model"] == second and drift["current_rows_rescored"] == 1200
    assert json.loads((run.dir / "data_drift.json").read_text())["reference_model"] == second

    by_version = runs.read_outputs(run.notebook("model_performance_report"))["by_model_version"]
    rows, _ = labelled_rows(pipeline.current_data(run))
    for version in (first, second):
        expected = classification_figures(rows[rows["model_version"] == version])
        assert by_version[version]["rows"] == expected["rows"]
        assert by_version[version]["roc_auc"] == pytest.approx(expected["roc_auc"])
    assert json.loads((run.dir / "model_performance.json").read_text())["by_model_version"] == by_version
    assert f"Per model version: {second} ROC-AUC" in run.notebook("model_performance_report").read_text()

    _execute("reporting/06_send_summary.ipynb", run, "send_summary")
    summary = runs.read_summary(run.dir)
    assert summary["models"] == {
        "current_rows_by_version": {second: 1500, first: 1200}, "reference_scored_by": second,
        "reference_model_reason": "produced 1500 of the 2700 current rows' predictions",
        "current_rows_rescored_for_drift": 1200,
        "performance_by_version": by_version,
    }


def test_the_reference_is_scored_by_the_champion_when_no_current_row_names_a_registered_model(home: Settings) -> None:
    from mindpulse.pipeline.sources import reference_model

    registry = ModelRegistry.from_settings(home)
    champion = registry.champion().version
    current = pipeline.current_data(pipeline.open_run(pipeline.REPORTING_DAG_ID, "pruned", settings=home))
    assert reference_model(registry, current)[0] == champion
    pruned = current.assign(model_version="v0000-pruned-long-ago")
    assert reference_model(registry, pruned) == (champion, "the champion (no current row names a model still registered)")
    labelled_only = current.assign(model_version=None)
    assert reference_model(registry, labelled_only) == (champion, "the champion (no current row has a prediction)")


def test_the_reports_of_one_run_read_one_frozen_reference(home: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each report runs in its own kernel: the champion's reference is read (and scored) once per
    run, kept in the run folder, and every report and figure of the run compares with those rows."""
    import pandas as pd

    from mindpulse.pipeline import sources

    real = sources._drift_baseline
    calls: list[int] = []
    monkeypatch.setattr(sources, "_drift_baseline", lambda settings, ids, **opened: calls.append(1) or real(settings, ids, **opened))
    run = pipeline.open_run(pipeline.REPORTING_DAG_ID, "manual__frozen-reference", settings=home)
    pipeline.check_data_availability(run)
    built = [real(home, sources._prediction_ids(pipeline.current_data(run)))[0].reset_index(drop=True)]
    quality = pipeline.data_quality_report(run)
    drift = pipeline.data_drift_report(run)

    assert calls == [1]  # read once for the two reports
    frozen = pd.read_parquet(run.dir / "reference_data.parquet")
    pd.testing.assert_frame_equal(frozen, built[0])  # the same rows and dtypes as read from the source
    assert quality.outputs["reference"]["rows"] == drift.outputs["reference"]["rows"] == len(frozen)
    scored = pd.read_parquet(run.dir / "reference_scored.parquet")
    assert len(scored) == len(frozen) and {"prediction", "probability"} <= set(scored.columns)
    assert json.loads((run.dir / "reference_scored.json").read_text())["model_version"] == drift.outputs["reference_model"]
