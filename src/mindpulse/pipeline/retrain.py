"""The retrain DAG's steps: checks, the trigger rule, backup, merge, train-and-gate, archive, notify."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mindpulse import runs
from mindpulse.pipeline.records import (
    RETRAIN_STEPS,
    Run,
    StepResult,
    _close_run,
    _current_champion,
    _decision_record,
    _glued,
    _json_ready,
    _now,
    _read_decision,
    _relative,
    _step_statuses,
)
from mindpulse.pipeline.sources import _drift_frames, _reference, _registry, _store


# --- retrain: checks and the gate ---------------------------------------------------------------
def check_production_data(run: Run, *, min_rows: int | None = None) -> StepResult:
    """Count the labelled production rows waiting for a retrain, per model version."""
    min_rows = run.settings.retrain_min_rows if min_rows is None else int(min_rows)
    frame = _store(run.settings).production_frame()
    rows = len(frame)
    table = _production_table(frame)
    positive_rate = float(frame["depression"].astype(float).mean()) if rows else None
    outputs = {"rows": rows, "min_rows": min_rows, "enough_rows": rows >= min_rows, "positive_rate": positive_rate}
    verdict = "enough for a retrain" if rows >= min_rows else "not enough on their own for a retrain"
    return StepResult(_json_ready(outputs), table, f"{rows} labelled production rows waiting (min_rows {min_rows}): {verdict}.")


def _production_table(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame({"model_version": [], "rows": [], "depression_rate": [], "mean_probability": []})
    grouped = frame.assign(model_version=frame["model_version"].fillna("(none)")).groupby("model_version")
    return pd.DataFrame({
        "rows": grouped.size(),
        "depression_rate": grouped["depression"].apply(lambda s: s.astype(float).mean()).round(3),
        "mean_probability": grouped["probability"].mean().round(3),
    }).reset_index()


def detect_drift(run: Run, *, threshold: float | None = None, min_rows: int | None = None) -> StepResult:
    """Share of features whose production distribution drifted from the reference; HTML report in the run folder."""
    from mindpulse import monitoring

    settings = run.settings
    threshold = settings.drift_share_threshold if threshold is None else float(threshold)
    reference, current = _drift_frames(settings, _store(settings).production_frame())
    html = None
    if current.empty:  # nothing to show; the decision alone needs no Evidently run
        decision = monitoring.detect_drift(reference, current, threshold=threshold, min_rows=min_rows,
                                           settings=settings).to_dict()
    else:  # one Evidently run gives both the HTML and the decision
        report = monitoring.data_drift_report(reference, current, run.dir, threshold=threshold,
                                              min_rows=min_rows, settings=settings)
        decision, html = report.summary, _relative(report.html_path, run.dir)
    outputs = {
        "drift_status": decision["status"], "drift_share": decision["share"], "drift_threshold": threshold,
        "drifted": decision["status"] == "drift", "n_rows": decision["n_rows"], "n_drifted": decision["n_drifted"],
        "n_features": decision["n_features"], "drifted_columns": list(decision.get("drifted_columns") or []),
        "reason": decision["reason"], "report_html": html,
    }
    table = pd.DataFrame([{k: outputs[k] for k in ("drift_status", "drift_share", "drift_threshold", "n_rows",
                                                    "n_drifted", "n_features")}])
    return StepResult(_json_ready(outputs), table, decision["reason"])


@dataclass
class RetrainDecision:
    """Whether a retrain run goes on, and why (or why not)."""

    proceed: bool
    reasons: list[str]
    force: bool
    rows: int
    min_rows: int
    drift_status: str | None
    drift_share: float | None
    drift_threshold: float


def retrain_reasons(*, rows: int, min_rows: int, drift_status: str | None, drift_share: float | None,
                    drift_threshold: float, force: bool) -> RetrainDecision:
    """The trigger rule: rows >= min_rows OR drifted share > drift_threshold OR force."""
    drift_measured = drift_status not in (None, "not_enough_data") and drift_share is not None
    met, unmet = [], []
    if force:
        met.append("forced by the run's conf (force=true)")
    (met if rows >= min_rows else unmet).append(
        f"{rows} labelled production rows {'>=' if rows >= min_rows else '<'} min_rows {min_rows}")
    if drift_measured:
        drifted = drift_share > drift_threshold
        (met if drifted else unmet).append(
            f"drifted share {drift_share:.2f} {'>' if drifted else '<='} drift_threshold {drift_threshold:.2f}")
    else:
        unmet.append("drift not measured (not enough production rows)")
    if not force:
        unmet.append("not forced")
    proceed = bool(met)
    return RetrainDecision(proceed=proceed, reasons=met if proceed else unmet, force=bool(force), rows=int(rows),
                           min_rows=int(min_rows), drift_status=drift_status, drift_share=drift_share,
                           drift_threshold=float(drift_threshold))


def decide_retrain(run_dir: str | Path, *, min_rows: int, drift_threshold: float, force: bool) -> RetrainDecision:
    """The gate: read what the two check notebooks glued, decide, and keep the decision in the run folder."""
    run_dir = Path(run_dir)
    with _decision_record(run_dir, "decide_retrain") as record:
        check = _glued(run_dir, "check_production_data", "rows")
        drift = _glued(run_dir, "detect_drift", "drift_status")
        decision = retrain_reasons(rows=check["rows"], min_rows=min_rows, drift_status=drift["drift_status"],
                                   drift_share=drift.get("drift_share"), drift_threshold=drift_threshold, force=force)
        record.update(asdict(decision))
    return decision


# --- retrain: the steps that change something ---------------------------------------------------
def _versions_table(registry: Any) -> pd.DataFrame:
    rows = [{"version": v.version, "status": v.status, "holdout_roc_auc": v.metric("holdout"),
             "created_at": v.created_at, "data_source": (v.metadata.get("data") or {}).get("source")}
            for v in registry.versions()]
    return pd.DataFrame(rows, columns=["version", "status", "holdout_roc_auc", "created_at", "data_source"])


def backup_model(run: Run) -> StepResult:
    """Show the champion and its backup (the previous champion, the one a rollback returns to).

    Nothing changes here: only a promotion moves the backup, to the champion it replaces, so a
    refused challenger leaves champion and backup as they were.
    """
    registry = _registry(run.settings)
    champion, backup = registry.champion(), registry.backup()
    outputs = {"champion": champion.version if champion else None, "backup": backup.version if backup else None}
    if champion is None:
        message = "No champion yet: the challenger will become the first champion."
    elif backup is None:
        message = (f"Champion {champion.version} is the only model that has been champion: no backup yet "
                   "(a promotion makes the champion it replaces the backup).")
    else:
        message = f"Champion {champion.version}; backup {backup.version} (the previous champion, what a rollback returns to)."
    return StepResult(outputs, _versions_table(registry), message)


def training_frame(reference: pd.DataFrame, production: pd.DataFrame) -> pd.DataFrame:
    """Reference rows followed by the snapshot's production rows, in the canonical columns."""
    from mindpulse.contract import CANONICAL_COLUMNS

    columns = list(CANONICAL_COLUMNS)
    return pd.concat([reference[columns], production[columns]], ignore_index=True)


def _claimed_training_frame(run: Run) -> tuple[Any, pd.DataFrame, pd.DataFrame]:
    store = _store(run.settings)
    snapshot = store.claim_snapshot(run.run_id)  # the same snapshot on every call of this run
    production = store.snapshot_frame(snapshot.id)
    reference = _reference(run.settings)
    return snapshot, reference, production


def merge_training_data(run: Run) -> StepResult:
    """Claim this run's snapshot of pending production rows and merge it with the reference data."""
    snapshot, reference, production = _claimed_training_frame(run)
    frame = training_frame(reference, production)
    table = pd.DataFrame({
        "source": ["reference", "production snapshot", "training data"],
        "rows": [len(reference), len(production), len(frame)],
        "depression_rate": [_rate(reference), _rate(production), _rate(frame)],
    })
    outputs = {"snapshot_id": snapshot.id, "production_rows": len(production), "reference_rows": len(reference),
               "training_rows": len(frame), "positive_rate": _rate(frame)}
    return StepResult(_json_ready(outputs), table,
                      f"Snapshot {snapshot.id}: {len(production)} production rows + {len(reference)} reference rows.")


def _rate(frame: pd.DataFrame) -> float | None:
    return round(float(frame["depression"].astype(float).mean()), 4) if len(frame) else None


def _data_source_key(run: Run) -> str:
    """How a model's metadata names the run it was trained for (the start of its data source)."""
    return f"{run.dag_id}/{run.run_id}:"


def _version_trained_for(registry: Any, run: Run) -> Any:
    """The model version registered by this run's training, or None."""
    key = _data_source_key(run)
    for version in reversed(registry.versions()):
        if str((version.metadata.get("data") or {}).get("source", "")).startswith(key):
            return version
    return None


def train_and_gate(run: Run, *, seed: int | None = None, candidates: list[str] | None = None,
                   margin: float | None = None) -> StepResult:
    """Train a challenger on reference + this run's snapshot and promote it only if it passes the gate.

    A retry after the model was registered does not train again: it puts the same version
    through the gate once more (promoting the champion again is a no-op).
    """
    from mindpulse import train

    settings = run.settings
    seed = settings.seed if seed is None else int(seed)
    margin = settings.promotion_margin if margin is None else float(margin)
    registry = _registry(settings)
    snapshot, reference, production = _claimed_training_frame(run)
    frame = training_frame(reference, production)
    existing = _version_trained_for(registry, run)
    if existing is None:
        data_source = (f"{_data_source_key(run)} reference ({len(reference)} rows) + snapshot {snapshot.id} "
                       f"({len(production)} rows)")
        kwargs: dict[str, Any] = {"candidates": list(candidates)} if candidates else {}
        gate = train.train_and_gate(frame, registry, seed=seed, margin=margin, data_source=data_source,
                                    progress=print, **kwargs)
        version, promoted, reason, metrics = gate.version, gate.promoted, gate.reason, gate.metrics
        champion_before, champion_after = gate.champion_before, gate.champion_after
    else:
        print(f"{existing.version} was already trained for this run: gating it again instead of retraining")
        decision = registry.promote(existing.version, margin=margin)
        version, promoted, reason = existing.version, decision.promoted, decision.reason
        metrics = {f"holdout_{k}": v for k, v in (existing.metadata.get("holdout") or {}).items()}
        champion_before, champion_after = existing.metadata.get("parent"), decision.champion_after
    outputs = {"version": version, "promoted": promoted, "reason": reason, "metrics": metrics,
               "champion_before": champion_before, "champion_after": champion_after, "snapshot_id": snapshot.id,
               "snapshot_rows": len(production), "training_rows": len(frame)}
    shown = {k: v for k, v in (metrics or {}).items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
    table = pd.DataFrame([{"version": version, "promoted": promoted, **shown}])
    verdict = "promoted to champion" if promoted else "refused"
    return StepResult(outputs, table, f"Challenger {version} {verdict}: {reason}")


def archive_production_data(run: Run) -> StepResult:
    """Export the snapshot this run trained on and mark its rows as used (only once its model is registered)."""
    store = _store(run.settings)
    snapshots = [s for s in store.snapshots() if s.run_id == run.run_id and s.state in ("claimed", "archived")]
    trained = _version_trained_for(_registry(run.settings), run)
    if not snapshots or trained is None:
        missing = "no snapshot was claimed" if not snapshots else "no model was trained on it"
        outputs = {"archived": False, "rows": 0}
        return StepResult(outputs, pd.DataFrame([outputs]),
                          f"Nothing archived: in this run {missing}, so its rows stay where they are.")
    snapshot = snapshots[0]
    path = store.archive_snapshot(snapshot.id, run.settings.archive_dir)
    outputs = {"archived": True, "archive_path": str(path), "rows": snapshot.n_rows, "snapshot_id": snapshot.id,
               "model_version": trained.version}
    return StepResult(outputs, pd.DataFrame([outputs]),
                      f"Snapshot {snapshot.id} ({snapshot.n_rows} rows, trained into {trained.version}) archived to {path}.")


def finish_retrain(run: Run, *, force: bool = False) -> StepResult:
    """Close a retrain run: release a snapshot training did not use, write run_summary.json, notify."""
    steps = _step_statuses(run, RETRAIN_STEPS, own="notify")
    decision = _read_decision(run.dir, "decide_retrain")
    check = runs.read_outputs(run.notebook("check_production_data"))
    drift = runs.read_outputs(run.notebook("detect_drift"))
    backup = runs.read_outputs(run.notebook("backup_model"))
    merged = runs.read_outputs(run.notebook("merge_training_data"))
    trained = runs.read_outputs(run.notebook("train_and_gate"))
    archived = runs.read_outputs(run.notebook("archive_production_data"))

    failed = [name for name, step in steps.items() if step["status"] in ("failed", "incomplete")]
    if failed:
        outcome = "failed"
    elif "promoted" in trained:
        outcome = "promoted" if trained["promoted"] else "refused"
    else:  # the gate said no (or, run by hand, there was no gate and nothing was trained)
        outcome = "skipped"

    snapshot = {"id": trained.get("snapshot_id", merged.get("snapshot_id")), "rows": merged.get("production_rows"),
                "archived_to": archived.get("archive_path"), "released": False}
    if outcome == "failed" and "snapshot_id" not in trained:
        snapshot.update(_release_snapshot(run))

    registry_champion = _current_champion(run.settings)
    summary = {
        "dag_id": run.dag_id, "run_id": run.run_id, "run_dir": str(run.dir), "created_at": _now(),
        "outcome": outcome, "failed_steps": failed,
        "trigger": decision or {"proceed": False, "force": bool(force),
                                "reasons": ["no gate decision in this run folder (the checks did not finish, or run by hand)"]},
        "rows": check.get("rows"), "drift_share": drift.get("drift_share"), "drift_status": drift.get("drift_status"),
        "model_before": trained.get("champion_before", backup.get("champion", registry_champion)),
        "model_after": trained.get("champion_after", registry_champion),
        "challenger": trained.get("version"), "gate_reason": trained.get("reason"),
        "metrics": trained.get("metrics") or {}, "snapshot": snapshot,
        "reports": {"data_drift": drift.get("report_html")},
        "steps": steps,
    }
    return _close_run(run, summary, _retrain_text(summary))


def _release_snapshot(run: Run) -> dict[str, Any]:
    """Give the rows a failed run claimed back to the pending pool (nothing to do when none were claimed)."""
    try:
        store = _store(run.settings)
        claimed = [s for s in store.snapshots() if s.run_id == run.run_id and s.state == "claimed"]
        for snapshot in claimed:
            store.release_snapshot(snapshot.id)
    except Exception as exc:  # the summary must still be written; the failure is reported in it
        return {"released": False, "release_error": f"{type(exc).__name__}: {exc}"}
    if not claimed:
        return {"released": False}
    return {"id": claimed[0].id, "rows": claimed[0].n_rows, "released": True}


def _retrain_text(summary: dict[str, Any]) -> str:
    lines = [f"Retrain run {summary['run_id']}: {summary['outcome']}."]
    reasons = summary["trigger"].get("reasons") or []
    lines.append(("Triggered: " if summary["trigger"].get("proceed") else "Not triggered: ") + "; ".join(reasons) + ".")
    if summary["challenger"]:
        lines.append(f"Challenger {summary['challenger']}: {summary['gate_reason']}")
    lines.append(f"Champion before: {summary['model_before']}; after: {summary['model_after']}.")
    if summary["failed_steps"]:
        lines.append("Failed step(s): " + ", ".join(summary["failed_steps"]) + " (executed notebooks in the run folder).")
    if summary["snapshot"].get("released"):
        lines.append(f"Snapshot {summary['snapshot'].get('id')} released: its rows wait for the next retrain.")
    lines.append(f"Audit record: {summary['run_dir']}")
    return "\n".join(lines)


