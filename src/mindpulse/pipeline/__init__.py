"""The steps of the two pipelines, as their notebooks call them.

Each step function does one thing through the package and returns a :class:`StepResult`: the
values the notebook glues (JSON-ready, checked against the step's model in
:mod:`mindpulse.steps`, read back as that model by the gate and by the final step), a table to
show, and one sentence. A step works in a :class:`Run`, its context: the run's folder, and the
store and registry, opened once, on first use. Each is a transaction a retry can rerun: reads are pure, the snapshot
of production rows is claimed per run id (claiming again returns the same one), reports and
notebooks overwrite their own files in the run folder, and nothing is archived or released
twice.

Retrain (``ml_retrain_pipeline``): check_production_data, detect_drift -> decide_retrain ->
backup_model, merge_training_data -> train_and_gate -> archive_production_data -> notify.
Reporting (``evidently_reporting_pipeline``): check_data_availability -> decide_reports ->
data_quality_report, data_drift_report, model_performance_report -> clean_up_reports ->
send_summary.
"""

from mindpulse.dag_ids import DAG_IDS, REPORTING_DAG_ID, RETRAIN_DAG_ID
from mindpulse.pipeline.demo import (
    prepare_demo_home,
    simulate_production_traffic,
    train_first_champion,
)
from mindpulse.pipeline.records import (
    CURRENT_DATA_NAME,
    DECISION_FILES,
    INTERACTIVE_PREFIX,
    INTERACTIVE_RUN_ID,
    REPORT_STEPS,
    REPORTING_STEPS,
    RETRAIN_STEPS,
    Run,
    StepResult,
    interactive_run_id,
    is_hand_run,
    open_run,
)
from mindpulse.pipeline.reporting import (
    check_data_availability,
    clean_up_reports,
    current_data,
    data_drift_report,
    data_quality_report,
    decide_reports,
    finish_reporting,
    model_performance_report,
)
from mindpulse.pipeline.retrain import (
    RetrainDecision,
    archive_production_data,
    backup_model,
    check_production_data,
    decide_retrain,
    detect_drift,
    finish_retrain,
    merge_training_data,
    retrain_reasons,
    train_and_gate,
    training_frame,
)
from mindpulse.pipeline.sweep import sweep_before_run, sweep_stale_claims

__all__ = [
    "CURRENT_DATA_NAME", "DAG_IDS", "DECISION_FILES", "INTERACTIVE_PREFIX", "INTERACTIVE_RUN_ID", "REPORTING_DAG_ID", "REPORTING_STEPS",
    "REPORT_STEPS", "RETRAIN_DAG_ID", "RETRAIN_STEPS", "RetrainDecision", "Run", "StepResult",
    "archive_production_data", "backup_model", "check_data_availability", "check_production_data",
    "clean_up_reports", "current_data", "data_drift_report", "data_quality_report", "decide_reports",
    "decide_retrain", "detect_drift", "finish_reporting", "finish_retrain", "interactive_run_id", "is_hand_run", "merge_training_data",
    "model_performance_report", "open_run", "prepare_demo_home", "retrain_reasons", "simulate_production_traffic",
    "sweep_before_run", "sweep_stale_claims", "train_and_gate", "train_first_champion", "training_frame",
]
