"""The contract between the pipeline's steps: what each step glues, what the gates decide, what
``run_summary.json`` holds.

Each executed notebook glues its step's outputs (see :func:`mindpulse.runs.glue`); the gates
(Python tasks) and the final step read them back as the models here, through :func:`read_step`,
and the gates keep their decisions as :class:`RetrainDecisionRecord` / :class:`ReportsDecisionRecord`.
The final step writes :class:`RunSummary`, which the dashboard, the trends and the run index read
through :func:`read_run_summary`.

Tolerant by design: every figure a step may leave out is optional, and unknown keys are kept
(``extra="allow"``), so a record written before a field existed still reads, and a field added
by a newer step still validates. Records that carry no ``schema_version`` (written before it
existed) are version 1. Importing this module is cheap (pydantic only).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mindpulse import runs

#: The version of the records written now. 1: before the version was written (same shape, no field).
SCHEMA_VERSION = 2

Outcome = Literal["promoted", "refused", "skipped", "failed", "reported"]


class Record(BaseModel):
    """A tolerant record: optional figures, unknown keys kept."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def as_dict(self) -> dict[str, Any]:
        """What was read or set (unknown keys included), as JSON-ready values; defaults not read are left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


# --- what each step glues ---------------------------------------------------------------------
class CheckProductionOutputs(Record):
    """``check_production_data``: labelled production rows waiting for a retrain."""

    rows: int | None = None
    min_rows: int | None = None
    enough_rows: bool | None = None
    positive_rate: float | None = None


class DriftOutputs(Record):
    """``detect_drift`` (and the figures the drift report glues under the same names)."""

    drift_status: str | None = None
    n_rows: int | None = None
    reason: str | None = None
    labelled_rows: int | None = None
    unlabelled_rows: int | None = None
    feature_drift_share: float | None = None
    feature_drift_threshold: float | None = None
    feature_drifted: bool | None = None
    features_drifted: list[str] | None = None
    n_features_drifted: int | None = None
    n_features: int | None = None
    prediction_drift_score: float | None = None
    prediction_drift_threshold: float | None = None
    prediction_drifted: bool | None = None
    prediction_label_drift_score: float | None = None
    label_drift_score: float | None = None
    label_drifted: bool | None = None
    report_html: str | None = None
    reference: dict[str, Any] | None = None
    current: dict[str, Any] | None = None
    reference_model: str | None = None
    reference_model_reason: str | None = None
    current_rows_rescored: int | None = None
    outcome_request: list[int] | None = None
    outcome_request_rows: int | None = None


class BackupOutputs(Record):
    """``backup_model``: the champion and its backup (``has_champion`` is always glued)."""

    has_champion: bool | None = None
    champion: str | None = None
    backup: str | None = None


class TrainingSetOutputs(Record):
    """What a training set holds, per source, and what is held out of it."""

    training_rows: int | None = None
    fitted_rows: int | None = None
    holdout_rows_excluded: int | None = None
    recent_rows: int | None = None
    recent_snapshots: list[int] | None = None
    rows_by_source: list[dict[str, Any]] | None = None
    quarantined_snapshots: list[int] | None = None


#: The :class:`TrainingSetOutputs` fields, kept in the run summary as ``training_set``.
TRAINING_SET_KEYS = tuple(TrainingSetOutputs.model_fields)


class MergeOutputs(TrainingSetOutputs):
    """``merge_training_data``: the snapshot this run claimed and the data trained on."""

    committed: bool | None = None
    snapshot_id: int | None = None
    production_rows: int | None = None
    reference_rows: int | None = None
    archived_snapshots: list[int] | None = None
    archived_rows: int | None = None
    positive_rate: float | None = None
    window_days: int | None = None


class GateVerdict(Record):
    """The promotion gate's record (slices compared, the decision); newer gates add keys (per group, say)."""

    reason: str | None = None
    comparisons: list[dict[str, Any]] | None = None
    groups: Any = None
    largest_gap: Any = None


class TrainOutputs(TrainingSetOutputs):
    """``train_and_gate``: the challenger, the gate's verdict, and what it was trained on."""

    committed: bool | None = None
    version: str | None = None
    skipped: bool | None = None
    same_as: str | None = None
    promoted: bool | None = None
    reason: str | None = None
    metrics: dict[str, Any] | None = None
    champion_before: str | None = None
    champion_after: str | None = None
    snapshot_id: int | None = None
    snapshot_rows: int | None = None
    lineage: dict[str, Any] | None = None
    seed: int | None = None
    margin: float | None = None
    candidates: list[str] | None = None
    snapshot_scores: list[dict[str, Any]] | None = None
    gate: GateVerdict | None = None


class ArchiveOutputs(Record):
    """``archive_production_data``: the snapshot exported (or why not)."""

    committed: bool | None = None
    archived: bool | None = None
    rows: int | None = None
    snapshot_id: int | None = None
    model_version: str | None = None
    archive_path: str | None = None


class FinishOutputs(Record):
    """``notify`` / ``send_summary``: the run's outcome and where its summary is."""

    outcome: Outcome | None = None
    summary_path: str | None = None
    notifications: Any = None


class AvailabilityOutputs(Record):
    """``check_data_availability``: whether the reporting run has enough rows to report on."""

    available: bool | None = None
    reference_rows: int | None = None
    current_rows: int | None = None
    labelled_rows: int | None = None
    unlabelled_rows: int | None = None
    enough_labels: bool | None = None
    min_labelled_rows: int | None = None
    min_rows: int | None = None
    window_days: int | None = None
    max_rows: int | None = None
    first_prediction_at: str | None = None
    last_prediction_at: str | None = None
    model_versions: dict[str, int] | None = None
    labels: str | None = None
    reason: str | None = None


class ReportOutputs(Record):
    """``data_quality_report`` (and the part every report step glues): the kind, its files and headline figures."""

    kind: str | None = None
    html: str | None = None
    json_file: str | None = Field(default=None, alias="json")
    headline: dict[str, Any] | None = None
    reference: dict[str, Any] | None = None


class DriftReportOutputs(ReportOutputs, DriftOutputs):
    """``data_drift_report``: the report beside the same figures as the retrain's drift trigger."""


class PerformanceReportOutputs(ReportOutputs):
    """``model_performance_report``: realized figures (when enough labels), the estimate, per model version."""

    realized_skipped: str | None = None
    estimated: dict[str, Any] | None = None
    model_versions: dict[str, int] | None = None
    by_model_version: dict[str, Any] | None = None


class CleanUpOutputs(Record):
    """``clean_up_reports``: run folders removed (or, in a preview, that would be)."""

    committed: bool | None = None
    keep: int | None = None
    removed: list[str] | None = None
    would_remove: list[str] | None = None


class SweepOutputs(Record):
    """``sweep_stale_claims``: stale snapshot claims settled, and predictions past their retention."""

    swept: list[dict[str, Any]] | None = None
    older_than_minutes: float | None = None
    expired_predictions: int | None = None


#: The model of each notebook step's glued outputs.
STEP_OUTPUTS: dict[str, type[Record]] = {
    "check_production_data": CheckProductionOutputs,
    "detect_drift": DriftOutputs,
    "backup_model": BackupOutputs,
    "merge_training_data": MergeOutputs,
    "train_and_gate": TrainOutputs,
    "archive_production_data": ArchiveOutputs,
    "notify": FinishOutputs,
    "check_data_availability": AvailabilityOutputs,
    "data_quality_report": ReportOutputs,
    "data_drift_report": DriftReportOutputs,
    "model_performance_report": PerformanceReportOutputs,
    "clean_up_reports": CleanUpOutputs,
    "send_summary": FinishOutputs,
}


# --- the gates' decisions ---------------------------------------------------------------------
class DecisionRecord(Record):
    """A gate's record in the run folder: whether the run goes on, why; or the error deciding stopped on."""

    schema_version: int = 1
    proceed: bool = False
    reasons: list[str] = Field(default_factory=list)
    error: str | None = None


class RetrainDecisionRecord(DecisionRecord):
    """``decide_retrain.json``: the trigger rule's verdict and the figures it was given."""

    force: bool | None = None
    rows: int | None = None
    min_rows: int | None = None
    drift_status: str | None = None
    feature_drift_share: float | None = None
    feature_drift_threshold: float | None = None
    prediction_drift_score: float | None = None
    prediction_drift_threshold: float | None = None
    drift_not_measured: str | None = None
    outcomes_needed: bool = False
    min_new_labels: int | None = None


class ReportsDecisionRecord(DecisionRecord):
    """``decide_reports.json``: whether the reporting run found enough data."""


class SweepRecord(DecisionRecord, SweepOutputs):
    """``sweep_stale_claims.json``: what the sweep before a retrain run settled."""


class ApprovalRequestRecord(DecisionRecord):
    """``await_approval.json``: the request put to an admin for a held challenger (mindpulse.pipeline.approval)."""

    version: str
    subject: str | None = None
    body: str | None = None
    asked_at: str | None = None
    requested_at: str | None = None
    timeout_hours: float | None = None


class ApprovalAppliedRecord(DecisionRecord):
    """``apply_approval.json``: the answer applied to the held challenger (approved, rejected, timed out)."""

    version: str | None = None
    status: str | None = None
    promoted: bool | None = None
    reason: str | None = None
    run_id: str | None = None
    applied_at: str | None = None


#: The model of each Python task's record file.
DECISIONS: dict[str, type[DecisionRecord]] = {
    "decide_retrain": RetrainDecisionRecord,
    "decide_reports": ReportsDecisionRecord,
    "sweep_stale_claims": SweepRecord,
    "await_approval": ApprovalRequestRecord,
    "apply_approval": ApprovalAppliedRecord,
}


# --- run_summary.json -------------------------------------------------------------------------
class StepStatus(Record):
    """One step of a run as the final step found it."""

    status: Literal["not run", "failed", "incomplete", "succeeded"]
    record: str | None = None
    error: str | None = None


class Approval(Record):
    """A promotion's human approval, when one is asked for."""

    status: str | None = None
    by: str | None = None
    comment: str | None = None
    at: str | None = None


class RunSummary(Record):
    """``run_summary.json``: a run's outcome and its figures, written once its last step ran.

    Common to both DAGs: the identity, the outcome, the trigger (the gate's decision), the steps,
    the models before and after, metrics, reports, the drift baseline. The retrain DAG adds the
    challenger, the snapshot and the training set; the reporting DAG the row counts, drift and
    estimate figures and the models behind them.
    """

    schema_version: int = 1
    dag_id: str | None = None
    run_id: str | None = None
    run_dir: str | None = None
    created_at: str | None = None
    outcome: Outcome | None = None
    failed_steps: list[str] = Field(default_factory=list)
    trigger: DecisionRecord | None = None
    steps: dict[str, StepStatus] = Field(default_factory=dict)
    notifications: Any = None
    model_before: str | None = None
    model_after: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    reports: dict[str, Any] = Field(default_factory=dict)
    reference: dict[str, Any] | None = None
    rows: int | None = None
    drift_status: str | None = None
    # retrain runs
    feature_drift_share: float | None = None
    prediction_drift_score: float | None = None
    prediction_drifted: bool | None = None
    challenger: str | None = None
    gate_reason: str | None = None
    gate: GateVerdict | None = None
    approval: Approval | None = None
    snapshot: dict[str, Any] | None = None
    swept_claims: list[dict[str, Any]] | None = None
    outcome_request: dict[str, Any] | None = None
    lineage: dict[str, Any] | None = None
    training_set: dict[str, Any] | None = None
    same_as: str | None = None
    snapshot_scores: list[dict[str, Any]] | None = None
    # reporting runs
    labelled_rows: int | None = None
    unlabelled_rows: int | None = None
    labels: str | None = None
    drift_share: float | None = None
    drift: dict[str, Any] | None = None
    models: dict[str, Any] | None = None
    estimated: dict[str, Any] | None = None
    removed_runs: list[str] | None = None

    @property
    def is_retrain(self) -> bool:
        """Whether the run is a retrain run (it names a challenger field, even an empty one)."""
        return "challenger" in self.model_fields_set


# --- reading and checking ---------------------------------------------------------------------
class RecordError(ValueError):
    """A record that does not match its model: names the record, the field and the value."""


def _checked(model: type[Record], values: dict[str, Any], where: str) -> Any:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(record)'}: {e['msg']} (got {e.get('input')!r:.80})"
                             for e in exc.errors())
        raise RecordError(f"{where}: does not match {model.__name__}: {problems}") from None


def check_outputs(step: str, outputs: dict[str, Any]) -> dict[str, Any]:
    """Validate what ``step`` is about to glue against its model; returns ``outputs`` unchanged."""
    if step not in STEP_OUTPUTS:
        raise KeyError(f"step={step!r}: no model of its outputs; expected one of {', '.join(STEP_OUTPUTS)}")
    _checked(STEP_OUTPUTS[step], outputs, f"step {step}'s outputs")
    return outputs


def read_step(run_dir: str | Path, step: str, *, require: str | None = None) -> Any:
    """What ``step`` glued in the run folder, as its model (all fields unset when the step never ran).

    ``require``: a field the step must have glued (it glues it last, or always), else a
    RuntimeError says the step did not finish in this run.
    """
    notebook = runs.notebook_path(run_dir, step)
    outputs = runs.read_outputs(notebook)
    if require is not None and require not in outputs:
        raise RuntimeError(f"{notebook}: no glued value {require!r}; the step {step} did not finish in this run")
    return _checked(STEP_OUTPUTS[step], outputs, str(notebook))


def check_decision(gate: str, record: dict[str, Any]) -> dict[str, Any]:
    """A gate's record stamped with the schema version and validated; returns the record to write."""
    record = {"schema_version": SCHEMA_VERSION, **record}
    _checked(DECISIONS[gate], record, f"the {gate} record")
    return record


def read_decision(path: str | Path, gate: str) -> Any:
    """A gate's record as its model, or None when the gate has not written one."""
    path = Path(path)
    if not path.is_file():
        return None
    return _checked(DECISIONS[gate], json.loads(path.read_text(encoding="utf-8")), str(path))


def check_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """A run summary stamped with the schema version and validated; returns the summary to write."""
    summary = {**summary, "schema_version": SCHEMA_VERSION}
    _checked(RunSummary, summary, runs.SUMMARY_NAME)
    if summary.get("outcome") is None:
        raise RecordError(f"{runs.SUMMARY_NAME}: outcome missing; expected one of {', '.join(runs.OUTCOMES)}")
    return summary


def parse_run_summary(values: dict[str, Any], where: str = runs.SUMMARY_NAME) -> RunSummary:
    """A run summary's values as :class:`RunSummary` (a summary without ``schema_version`` is version 1)."""
    return _checked(RunSummary, values, where)


def read_run_summary(folder: str | Path) -> RunSummary | None:
    """The run's ``run_summary.json`` as :class:`RunSummary`; None when there is none, or it is unreadable."""
    path = Path(folder) / runs.SUMMARY_NAME
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(values, dict):
        return None
    try:
        return parse_run_summary(values, str(path))
    except RecordError:
        return None
