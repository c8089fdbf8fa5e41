"""Training through the gate: train the candidates (:mod:`mindpulse.candidates`) on the data
minus the fixed holdout, register the best, and put it through the registry's promotion gate.

Also what makes two trainings the same (:func:`training_record`, :func:`same_training_as`), so
the same data and settings are never trained twice into copies of one model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from mindpulse import model_card
# Re-exported: callers import the training API from here.
from mindpulse.candidates import (CALIBRATION_MAX_AUC_LOSS, CALIBRATION_MIN_GAIN, CANDIDATES, MAX_TRAINING_ROWS,
                                  CandidateResult, Progress, Threads, TrainingResult, choose_calibration,
                                  build_model, capped_rows, make_estimator, train_candidates)
from mindpulse.evaluation import choose_threshold, classification_metrics, evaluate, labels_of
from mindpulse.features import DEFAULT_MIN_FREQUENCY
# Re-exported: pickles written before the model had its own module name mindpulse.train.ScreeningModel.
from mindpulse.model import CALIBRATION_METHODS, PlattCalibrator, ScreeningModel, make_calibrator

if TYPE_CHECKING:
    from mindpulse.registry import ModelRegistry

__all__ = ["CANDIDATES", "CALIBRATION_MAX_AUC_LOSS", "CALIBRATION_METHODS", "CALIBRATION_MIN_GAIN", "MAX_TRAINING_ROWS",
           "AlreadyTrainedError", "CandidateResult", "GateOutcome", "PlattCalibrator", "ScreeningModel", "Threads",
           "TrainingResult", "build_model", "capped_rows", "choose_threshold", "classification_metrics", "evaluate",
           "labels_of", "make_calibrator", "make_estimator", "same_training_as", "train_candidates",
           "train_register_and_judge", "training_record"]


# --- Training through the gate ----------------------------------------------------------------

class AlreadyTrainedError(ValueError):
    """A model of the same training data and settings is registered already: training again would copy it."""

    def __init__(self, version: Any, message: str):
        super().__init__(message)
        self.version = version


def training_record(lineage: dict[str, Any] | None, *, seed: int, folds: int, candidates: Sequence[str],
                    max_rows: Mapping[str, int | None] | None = None) -> dict[str, Any]:
    """The data and the settings that decide a trained model (see :func:`mindpulse.lineage.training_key`)."""
    caps = {**MAX_TRAINING_ROWS, **(max_rows or {})}
    return {"lineage": lineage, "settings": {"seed": int(seed), "folds": int(folds), "candidates": sorted(candidates),
                                             "max_rows": {name: caps.get(name) for name in sorted(candidates)}}}


def recorded_training(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The training record of a registered model (from its metadata; older versions from their CV record)."""
    if metadata.get("training"):
        return {"lineage": metadata.get("lineage"), "settings": metadata["training"]}
    cv = metadata.get("cv") or {}
    parameters = metadata.get("parameters") or {}
    candidates = cv.get("candidates") or {}
    if not candidates or parameters.get("seed") is None:
        return {"lineage": metadata.get("lineage"), "settings": None}
    return {"lineage": metadata.get("lineage"),
            "settings": {"seed": parameters.get("seed"), "folds": parameters.get("folds", cv.get("folds")),
                         "candidates": sorted(candidates),
                         "max_rows": {n: (r.get("training") or {}).get("max_rows") for n, r in sorted(candidates.items())}}}


def same_training_as(registry: "ModelRegistry", record: dict[str, Any]) -> Any:
    """The registered version trained on the same data with the same settings as ``record``, or None.

    Any version counts, whatever its status (champion, backup, refused, a champion rolled back
    away from): training it again would give a copy of it.
    """
    from mindpulse import lineage as lineage_module

    for version in reversed(registry.versions()):
        if lineage_module.same_training(recorded_training(version.metadata), record):
            return version
    return None


def describe_version(registry: "ModelRegistry", version: Any) -> str:
    """A version with what became of it, in words: champion, backup, refused (why), rolled back away from."""
    status = version.status
    rolled = registry.rolled_back_from(version.version)
    if rolled is not None:
        return (f"{version.version} (rolled back away from at {rolled.get('at')}, to {rolled.get('champion_after')}; "
                f"a retrain does not bring it back: 'mindpulse rollback --to {version.version}' or "
                f"'mindpulse promote {version.version} --force --reason ...' returns to it)")
    if status == "refused":
        return f"{version.version} (refused by the gate: {version.metadata.get('refusal_reason', '')})"
    return f"{version.version} ({status})"


@dataclass
class GateOutcome:
    """What :func:`train_register_and_judge` did: the new version, and whether it became champion."""

    version: str
    promoted: bool
    reason: str
    metrics: dict[str, Any]
    champion_before: str | None
    champion_after: str | None

    def describe(self) -> str:
        from mindpulse.gate import in_words

        kept = "" if self.promoted else " (kept as a version, not serving)"
        return f"{self.version}{kept}: {in_words(self.promoted, self.reason)}"


def train_register_and_judge(
    frame: pd.DataFrame,
    registry: "ModelRegistry",
    *,
    seed: int,
    margin: float,
    data_source: str,
    progress: Progress | None = None,
    folds: int = 5,
    candidates: Sequence[str] = CANDIDATES,
    recent: pd.DataFrame | None = None,
    lineage: dict[str, Any] | None = None,
    protect: Sequence[str] = (),
    max_rows: Mapping[str, int | None] | None = None,
    hold_for_approval: bool = False,
) -> GateOutcome:
    """Train on ``frame`` minus the fixed holdout, register the model, and gate its promotion (the
    retrain DAG's step :func:`mindpulse.pipeline.train_and_gate` calls this).

    The fixed holdout is drawn from the first frame ever trained on (stratified, seeded) and
    scores every later challenger and champion; ``recent`` (production rows held out of
    ``frame`` by the caller) scores both too. ``lineage`` records exactly which data ``frame``
    is (see :mod:`mindpulse.lineage`); without one, ``frame`` is recorded as reference data.
    ``protect``: versions the prune after the gate must keep. If anything raises before the
    model is registered, the registry (and its champion) is unchanged. ``hold_for_approval``: a
    challenger that passes the gate is held for a person's approval instead of promoted.
    """
    from mindpulse.data import frame_sha256

    say = progress or (lambda message: None)
    labels_of(frame)
    frame = frame.reset_index(drop=True)
    if lineage is None:
        lineage = {"run": None, "reference": {"path": None, "sha256": frame_sha256(frame), "rows": len(frame)},
                   "snapshots": [], "window": None}
    record = training_record(lineage, seed=seed, folds=folds, candidates=candidates, max_rows=max_rows)
    same = same_training_as(registry, record)
    if same is not None:
        raise AlreadyTrainedError(same, f"training data and settings: the same as {describe_version(registry, same)}; "
                                        "nothing trained, no version registered")
    holdout = registry.ensure_holdout(frame, seed=seed)
    training = registry.exclude_holdout(frame)
    say(f"Fixed holdout: {len(holdout):,} rows; training on {len(training):,} of {len(frame):,} rows "
        f"({len(frame) - len(training):,} holdout row(s) excluded)")
    if recent is not None and len(recent):
        say(f"Recent slice: {len(recent):,} production rows held out of training, scored by both models")
    champion_before = registry.champion()
    result = train_candidates(training, seed=seed, folds=folds, progress=progress, candidates=candidates,
                              max_rows=max_rows)
    holdout_metrics = evaluate(result.model, holdout)
    recent_metrics = evaluate(result.model, recent) if recent is not None and len(recent) else None
    say(f"Holdout ROC-AUC {holdout_metrics['roc_auc']:.4f} ({len(holdout):,} rows)")
    metadata = {
        "data": {
            "sha256": frame_sha256(training),
            "rows": len(training),
            "rows_offered": len(frame),
            "holdout_rows_excluded": len(frame) - len(training),
            "positive_rate": float(labels_of(training).mean()),
            "source": data_source,
        },
        "lineage": lineage,
        "training": record["settings"],
        "model": {"name": result.best, "calibration": result.calibration["method"],
                  "threshold": result.threshold, "threshold_method": result.threshold_method,
                  "fitted_rows": result.refit_rows,
                  "max_rows": result.candidates[result.best].training.get("max_rows")},
        "parameters": {"estimator": result.model.parameters, "seed": seed, "folds": folds,
                       "min_frequency": DEFAULT_MIN_FREQUENCY},
        "cv": result.summary(),
        "holdout": holdout_metrics,
        "recent": recent_metrics,
        "training_seconds": round(result.seconds, 2),
        "parent": champion_before.version if champion_before else None,
    }
    version = registry.register(result.model, metadata, recent=recent)
    say(f"Registered {version.version}")
    if hold_for_approval:  # passes the gate, then waits for a person (mindpulse.approval)
        from mindpulse import approval

        decision = approval.hold(registry, version.version, margin=margin, run=(lineage or {}).get("run"))
    else:
        decision = registry.promote(version.version, margin=margin)
    say(f"{'Promoted' if decision.promoted else 'Refused'}. Gate: {decision.reason}")
    model_card.try_write_card(registry, version.version, training=training, progress=say)
    pruned = registry.prune(protect=protect)
    if pruned:
        say(f"Pruned {len(pruned)} old version(s): {', '.join(pruned)}")
    metrics = {
        "model": result.best,
        "rows": len(training),
        "threshold": result.threshold,
        "calibration": result.calibration["method"],
        **{f"cv_{k}": v for k, v in result.cv_metrics.items() if k not in ("rows", "positive_rate")},
        **{f"holdout_{k}": v for k, v in holdout_metrics.items()},
        **gate_metrics(decision),
        "training_seconds": round(result.seconds, 2),
    }
    return GateOutcome(
        version=version.version, promoted=decision.promoted, reason=decision.reason, metrics=metrics,
        champion_before=decision.champion_before, champion_after=decision.champion_after,
    )


def gate_metrics(decision: Any) -> dict[str, Any]:
    """The gate's figures, flat (for glued outputs and the run summary): both ROC-AUCs per slice and the interval."""
    out: dict[str, Any] = {
        "challenger_holdout_roc_auc": decision.challenger_auc,
        "champion_holdout_roc_auc": decision.champion_auc,
        "margin": decision.margin,
        "best_promoted_roc_auc": decision.best_promoted_auc,
        "gate_rule": decision.rule,
    }
    for item in decision.comparisons or []:
        name = item["slice"]
        out[f"gate_{name}_rows"] = item["rows"]
        out[f"gate_{name}_challenger_roc_auc"] = item["challenger_auc"]
        out[f"gate_{name}_champion_roc_auc"] = item["champion_auc"]
        if item["interval"] is not None:
            out[f"gate_{name}_difference"] = item["difference"]
            out[f"gate_{name}_interval_low"], out[f"gate_{name}_interval_high"] = item["interval"]
    groups = getattr(decision, "groups", None) or []
    if groups:
        out["gate_groups_judged"] = sum(1 for g in groups if g["judged"])
        out["gate_groups_too_small"] = [f"{g['attribute']}={g['group']}" for g in groups if not g["judged"]]
        out["gate_groups_refused"] = [f"{g['attribute']}={g['group']}" for g in groups if g["refused"]]
        out["group_margin"] = getattr(decision, "group_margin", None)
    gap = getattr(decision, "largest_gap", None)
    if gap:
        out["gate_largest_gap_group"] = f"{gap['attribute']}={gap['group']}"
        out["gate_largest_gap_difference"] = gap["difference"]
        out["gate_largest_gap_interval_low"], out["gate_largest_gap_interval_high"] = gap["interval"]
    return out
