"""The contract between steps (:mod:`mindpulse.steps`): what each step glues, the gates' records and
``run_summary.json`` are checked against one set of models; records written before the models
existed still read; newer fields (a per-group gate verdict, an approval) validate; a step opens the
store and the registry once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shared_support import migrated

from mindpulse import pipeline, runs, steps, trends
from mindpulse.monitoring import list_report_runs
from mindpulse.pipeline import records
from mindpulse.settings import Settings

#: A retrain run's summary as the pipeline wrote it before the schema (no schema_version; no gate,
#: approval, training_set, lineage or swept_claims; one unknown key).
OLD_RETRAIN_SUMMARY = {
    "dag_id": "ml_retrain_pipeline", "run_id": "scheduled__2026-11-20T00:00:00+00:00",
    "run_dir": "/srv/mindpulse/reports/ml_retrain_pipeline/scheduled__2026-11-20T00-00-00-00-00",
    "created_at": "2026-11-20T00:09:41+00:00", "outcome": "refused", "failed_steps": [],
    "trigger": {"proceed": True, "reasons": ["1200 labelled production rows >= min_rows 1000"], "force": False,
                "rows": 1200, "min_rows": 1000, "drift_status": "no_drift", "feature_drift_share": 0.08,
                "feature_drift_threshold": 0.3},
    "rows": 1200, "drift_status": "no_drift", "feature_drift_share": 0.08,
    "model_before": "v0001-20261101", "model_after": "v0001-20261101", "challenger": "v0002-20261120",
    "gate_reason": "challenger ROC-AUC 0.8712 < champion 0.8790 + margin 0.005",
    "metrics": {"holdout_accuracy": 0.81, "holdout_roc_auc": 0.8712},
    "snapshot": {"id": 3, "rows": 1200, "archived_to": "/srv/archive/snapshot-3.csv", "released": False},
    "reports": {"data_drift": "data_drift/data_drift.html"},
    "steps": {"check_production_data": {"status": "succeeded", "record": "check_production_data.ipynb", "error": None},
              "decide_retrain": {"status": "succeeded", "record": "decide_retrain.json", "error": None}},
    "notifications": [{"channel": "webhook", "ok": True}],
    "operator_note": "kept from an older release",
}


def _write(folder: Path, summary: dict) -> Path:
    folder.mkdir(parents=True)
    (folder / runs.SUMMARY_NAME).write_text(json.dumps(summary), encoding="utf-8")
    return folder


def test_a_summary_written_before_the_schema_reads_as_version_1(tmp_path: Path) -> None:
    folder = _write(tmp_path / "ml_retrain_pipeline" / "scheduled__2026-11-20T00-00-00-00-00", OLD_RETRAIN_SUMMARY)
    summary = steps.read_run_summary(folder)
    assert summary is not None and summary.schema_version == 1
    assert (summary.outcome, summary.challenger, summary.rows) == ("refused", "v0002-20261120", 1200)
    assert summary.trigger.proceed is True and summary.trigger.reasons == OLD_RETRAIN_SUMMARY["trigger"]["reasons"]
    assert summary.steps["decide_retrain"].record == "decide_retrain.json"
    assert summary.gate is None and summary.approval is None and summary.training_set is None  # fields it predates
    assert summary.as_dict()["operator_note"] == "kept from an older release"  # unknown keys are kept
    assert "schema_version" not in summary.as_dict()  # what was read, not a default: the file is left as it is


def test_the_index_the_trends_and_the_dashboard_read_an_old_summary(tmp_path: Path) -> None:
    from dashboard.stores.reports import ReportStore

    _write(tmp_path / "reports" / "ml_retrain_pipeline" / "scheduled__2026-11-20T00-00-00-00-00", OLD_RETRAIN_SUMMARY)
    (entry,) = list_report_runs(tmp_path / "reports")
    assert entry["summary"].schema_version == 1
    assert (entry["outcome"], entry["run_id"]) == ("refused", OLD_RETRAIN_SUMMARY["run_id"])
    assert (entry["accuracy"], entry["roc_auc"]) == (0.81, 0.8712)  # the challenger's holdout figures
    assert entry["figures_by"] == "v0002-20261120 (holdout)"
    assert entry["run_summary"]["gate_reason"] == OLD_RETRAIN_SUMMARY["gate_reason"]  # as JSON for the API

    frame = trends.trend_frame(tmp_path / "reports")
    assert frame.loc[0, "challenger"] == "v0002-20261120" and frame.loc[0, "waiting_rows"] == 1200
    assert frame.loc[0, "champion_after"] == "v0001-20261101"

    (run,) = ReportStore(settings=Settings(home=tmp_path, reports_dir=tmp_path / "reports")).runs()
    assert run.retrain_models == "challenger v0002-20261120 · champion v0001-20261101"


def test_fields_added_by_newer_steps_validate_nested_and_unknown_keys_kept() -> None:
    summary = steps.parse_run_summary({
        **OLD_RETRAIN_SUMMARY, "schema_version": steps.SCHEMA_VERSION,
        "gate": {"reason": "refused", "groups": [{"group": "gender=Female", "gap": -0.04}], "largest_gap": 0.04,
                 "per_group_rule": "min_size 50"},
        "approval": {"status": "approved", "by": "alice", "comment": "checked the groups", "at": "2026-11-20T09:00:00+00:00",
                     "ticket": "OPS-12"},
        "model_card": {"markdown": "artifacts/models/v0002/model_card.md"},
    })
    assert summary.gate.largest_gap == 0.04 and summary.gate.as_dict()["per_group_rule"] == "min_size 50"
    assert summary.approval.by == "alice" and summary.approval.as_dict()["ticket"] == "OPS-12"
    assert summary.as_dict()["model_card"] == {"markdown": "artifacts/models/v0002/model_card.md"}
    trained = steps.check_outputs("train_and_gate", {"version": "v0002", "promoted": False,
                                                     "gate": {"groups": {"age_band": {"passed": True}}, "largest_gap": 0.01}})
    assert trained["gate"]["largest_gap"] == 0.01


@pytest.mark.parametrize("step, outputs, field, value", [
    ("check_production_data", {"rows": "many", "min_rows": 100}, "rows", "many"),
    ("train_and_gate", {"promoted": "perhaps"}, "promoted", "perhaps"),
    ("check_data_availability", {"available": True, "model_versions": {"v1": "lots"}}, "model_versions.v1", "lots"),
])
def test_outputs_of_the_wrong_type_are_refused_naming_step_field_and_value(step: str, outputs: dict, field: str,
                                                                             value: str) -> None:
    with pytest.raises(steps.RecordError) as caught:
        steps.check_outputs(step, outputs)
    assert step in str(caught.value) and field in str(caught.value) and repr(value) in str(caught.value)


def test_a_step_function_cannot_glue_what_its_model_refuses(tmp_path: Path) -> None:
    import pandas as pd

    @records.glues("backup_model")
    def backup_model(run: object) -> records.StepResult:
        return records.StepResult({"has_champion": "no idea"}, pd.DataFrame(), "")

    with pytest.raises(steps.RecordError, match="has_champion"):
        backup_model(None)


def test_every_notebook_step_has_a_model_and_every_step_function_checks_its_outputs() -> None:
    gates = set(records.DECISION_FILES)
    assert set(steps.STEP_OUTPUTS) == (set(pipeline.RETRAIN_STEPS) | set(pipeline.REPORTING_STEPS)) - gates
    functions = {"check_production_data": pipeline.check_production_data, "detect_drift": pipeline.detect_drift,
                 "backup_model": pipeline.backup_model, "merge_training_data": pipeline.merge_training_data,
                 "train_and_gate": pipeline.train_and_gate, "archive_production_data": pipeline.archive_production_data,
                 "notify": pipeline.finish_retrain, "check_data_availability": pipeline.check_data_availability,
                 "data_quality_report": pipeline.data_quality_report, "data_drift_report": pipeline.data_drift_report,
                 "model_performance_report": pipeline.model_performance_report,
                 "clean_up_reports": pipeline.clean_up_reports, "send_summary": pipeline.finish_reporting}
    assert set(functions) == set(steps.STEP_OUTPUTS)
    for step, function in functions.items():
        assert hasattr(function, "__wrapped__"), f"{step}: its outputs are not checked (no records.glues)"


def test_a_summary_without_its_outcome_or_of_an_unknown_outcome_is_not_written() -> None:
    with pytest.raises(steps.RecordError, match="outcome"):
        steps.check_summary({"dag_id": "ml_retrain_pipeline", "run_id": "r1"})
    with pytest.raises(steps.RecordError, match="'maybe'"):
        steps.check_summary({"dag_id": "ml_retrain_pipeline", "run_id": "r1", "outcome": "maybe"})
    written = steps.check_summary({"dag_id": "ml_retrain_pipeline", "run_id": "r1", "outcome": "skipped"})
    assert written["schema_version"] == steps.SCHEMA_VERSION


def test_the_summary_model_knows_every_outcome_a_run_can_have() -> None:
    from typing import get_args

    assert set(get_args(steps.Outcome)) == set(runs.OUTCOMES)


def test_gate_records_carry_the_schema_version_and_old_ones_read(tmp_path: Path) -> None:
    with records.decision_record(tmp_path, "decide_reports") as record:
        record.update({"proceed": True, "reasons": ["1200 predictions >= min_rows 200"]})
    written = json.loads((tmp_path / "decide_reports.json").read_text())
    assert written == {"schema_version": steps.SCHEMA_VERSION, "proceed": True,
                       "reasons": ["1200 predictions >= min_rows 200"]}
    (tmp_path / "decide_retrain.json").write_text(json.dumps(OLD_RETRAIN_SUMMARY["trigger"]))
    old = records.read_decision(tmp_path, "decide_retrain")
    assert (old.schema_version, old.proceed, old.rows, old.outcomes_needed) == (1, True, 1200, False)
    assert records.read_decision(tmp_path, "sweep_stale_claims") is None


def test_a_gate_whose_check_did_not_finish_says_which_step(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="check_data_availability did not finish"):
        pipeline.decide_reports(tmp_path)
    kept = json.loads((tmp_path / "decide_reports.json").read_text())
    assert kept["proceed"] is False and "did not finish" in kept["error"] and kept["schema_version"] == steps.SCHEMA_VERSION


def test_a_step_opens_the_store_and_the_registry_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened = {"store": 0, "registry": 0}
    real_store, real_registry = records.open_store, records.open_registry

    def count(kind, real):  # noqa: ANN001, ANN202
        def opener(settings):  # noqa: ANN001, ANN202
            opened[kind] += 1
            return real(settings)
        return opener

    monkeypatch.setattr(records, "open_store", count("store", real_store))
    monkeypatch.setattr(records, "open_registry", count("registry", real_registry))
    run = pipeline.open_run(pipeline.RETRAIN_DAG_ID, "manual__1", settings=migrated(Settings(home=tmp_path / "home")))
    assert opened == {"store": 0, "registry": 0}  # lazily: opening a run opens nothing
    assert run.store is run.store and run.registry is run.registry
    for _ in range(2):
        pipeline.check_production_data(run)
        pipeline.backup_model(run)
    pipeline.archive_production_data(run)
    assert opened == {"store": 1, "registry": 1}
