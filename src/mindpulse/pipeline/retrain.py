"""The retrain DAG's steps, in order: checks and the trigger rule (:mod:`~mindpulse.pipeline.trigger`),
the training data (:mod:`~mindpulse.pipeline.training_data`), backup and train-and-gate
(:mod:`~mindpulse.pipeline.training`), archive and notify (:mod:`~mindpulse.pipeline.finishing`).
"""

from __future__ import annotations

from mindpulse.pipeline.finishing import archive_production_data, finish_retrain
from mindpulse.pipeline.training import (
    MISFIT_AUC_GAP,
    TRAINING_FOLDS,
    backup_model,
    champion_scores_by_snapshot,
    data_source_key,
    describe_snapshot_scores,
    gate_table,
    train_and_gate,
    version_trained_for,
    versions_in_run_records,
)
from mindpulse.pipeline.training_data import (
    TRAINING_SET_KEYS,
    describe_training_set,
    merge_training_data,
    positive_rate,
    training_data,
    training_frame,
    training_set,
)
from mindpulse.pipeline.trigger import (
    OUTCOME_REQUEST_NAME,
    RetrainDecision,
    check_production_data,
    decide_retrain,
    detect_drift,
    retrain_reasons,
)

__all__ = [
    "MISFIT_AUC_GAP", "OUTCOME_REQUEST_NAME", "TRAINING_FOLDS", "TRAINING_SET_KEYS", "RetrainDecision",
    "archive_production_data", "backup_model", "champion_scores_by_snapshot", "check_production_data",
    "data_source_key", "decide_retrain", "describe_snapshot_scores", "describe_training_set", "detect_drift",
    "finish_retrain", "gate_table", "merge_training_data", "positive_rate", "retrain_reasons", "train_and_gate",
    "training_data", "training_frame", "training_set", "version_trained_for", "versions_in_run_records",
]
