"""The end of a retrain run: the snapshot it trained on archived, and the run closed (summary, notification)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from mindpulse.pipeline.records import (
    PREVIEW_NOTE,
    RETRAIN_STEPS,
    Run,
    StepResult,
    close_run,
    current_champion,
    glues,
    step_statuses,
    utc_now,
)
from mindpulse.pipeline.training import describe_snapshot_scores, version_trained_for
from mindpulse.pipeline.trigger import OUTCOME_REQUEST_NAME
from mindpulse.steps import TRAINING_SET_KEYS


def _first(*values: Any) -> Any:
    """The first value that is not None (a glued value is never None: None is not glued)."""
    return next((value for value in values if value is not None), None)


@glues("archive_production_data")
def archive_production_data(run: Run, *, commit: bool = False) -> StepResult:
    """Export the snapshot this run trained on and mark its rows as used (only once its model is registered).

    An empty snapshot writes no file: its claim is released instead. With ``commit=False`` (a
    notebook run by hand) it only says what it would archive.
    """
    store = run.store
    snapshots = [s for s in store.snapshots() if s.run_id == run.run_id and s.state in ("claimed", "archived")]
    if snapshots and snapshots[0].n_rows == 0:
        snapshot = snapshots[0]
        if snapshot.state == "claimed" and commit:
            store.release_snapshot(snapshot.id)
        outputs = {"committed": bool(commit), "archived": False, "rows": 0, "snapshot_id": snapshot.id}
        return StepResult(outputs, pd.DataFrame([outputs]),
                          f"Nothing archived: snapshot {snapshot.id} holds no rows, so no file is written.")
    trained = version_trained_for(run.registry, run)
    if not snapshots or trained is None:
        missing = "no snapshot was claimed" if not snapshots else "no model was trained on it"
        outputs = {"committed": bool(commit), "archived": False, "rows": 0}
        return StepResult(outputs, pd.DataFrame([outputs]),
                          f"Nothing archived: in this run {missing}, so its rows stay where they are.")
    snapshot = snapshots[0]
    if not commit:
        outputs = {"committed": False, "archived": False, "rows": snapshot.n_rows, "snapshot_id": snapshot.id,
                   "model_version": trained.version}
        return StepResult(outputs, pd.DataFrame([outputs]),
                          f"Would archive snapshot {snapshot.id} ({snapshot.n_rows} rows, trained into "
                          f"{trained.version}). " + PREVIEW_NOTE)
    path = store.archive_snapshot(snapshot.id, run.settings.archive_dir)
    from mindpulse.audit import AuditTrail

    AuditTrail(store).record(f"airflow:{run.dag_id}"[:64], "pipeline", "snapshot_archived", target=f"snapshot {snapshot.id}",
                             details={"run_id": run.run_id, "rows": snapshot.n_rows, "model_version": trained.version})
    outputs = {"committed": True, "archived": True, "archive_path": str(path), "rows": snapshot.n_rows,
               "snapshot_id": snapshot.id,
               "model_version": trained.version}
    return StepResult(outputs, pd.DataFrame([outputs]),
                      f"Snapshot {snapshot.id} ({snapshot.n_rows} rows, trained into {trained.version}) archived to {path}.")


@glues("notify")
def finish_retrain(run: Run, *, force: bool = False) -> StepResult:
    """Close a retrain run: release a snapshot training did not use, write run_summary.json, notify."""
    statuses = step_statuses(run, RETRAIN_STEPS, own="notify")
    decision = run.decision("decide_retrain")
    sweep = run.decision("sweep_stale_claims")
    check = run.outputs("check_production_data")
    drift = run.outputs("detect_drift")
    backup = run.outputs("backup_model")
    merged = run.outputs("merge_training_data")
    trained = run.outputs("train_and_gate")
    archived = run.outputs("archive_production_data")

    failed = [name for name, step in statuses.items() if step["status"] in ("failed", "incomplete")]
    # A forced run goes on without a drift figure: its drift step's failure is listed, and the
    # Airflow run fails, but the outcome is what happened to the model.
    forced_past = {"detect_drift"} if decision and decision.proceed and decision.drift_not_measured else set()
    if set(failed) - forced_past:
        outcome = "failed"
    elif trained.promoted is not None:
        outcome = "promoted" if trained.promoted else "refused"
    else:  # the gate said no (or, run by hand, there was no gate and nothing was trained)
        outcome = "skipped"

    snapshot = {"id": _first(trained.snapshot_id, merged.snapshot_id), "rows": merged.production_rows,
                "archived_to": archived.archive_path, "released": False}
    if outcome == "failed" and trained.snapshot_id is None:
        snapshot.update(_release_snapshot(run))

    registry_champion = current_champion(run)
    trained_record = trained.as_dict()
    summary = {
        "dag_id": run.dag_id, "run_id": run.run_id, "run_dir": str(run.dir), "created_at": utc_now(),
        "outcome": outcome, "failed_steps": failed,
        "trigger": decision.as_dict() if decision else {
            "proceed": False, "force": bool(force),
            "reasons": ["no gate decision in this run folder (the checks did not finish, or run by hand)"]},
        "rows": check.rows, "drift_status": drift.drift_status,
        "feature_drift_share": drift.feature_drift_share, "prediction_drift_score": drift.prediction_drift_score,
        "prediction_drifted": drift.prediction_drifted,
        "model_before": _first(trained.champion_before, backup.champion, registry_champion),
        "model_after": _first(trained.champion_after, registry_champion),
        "challenger": trained.version, "gate_reason": trained.reason,
        "metrics": trained.metrics or {}, "snapshot": snapshot,
        "reports": {"data_drift": drift.report_html},
        "swept_claims": (sweep.swept if sweep else None) or [],
        "reference": drift.reference,
        "outcome_request": _requested_outcomes(run) if decision and decision.outcomes_needed else None,
        "lineage": trained.lineage,
        "training_set": {k: trained_record[k] for k in TRAINING_SET_KEYS if k in trained_record} or None,
        "same_as": trained.same_as,
        # When the challenger was refused: the champion's ROC-AUC on each snapshot it was trained with.
        "snapshot_scores": trained.snapshot_scores,
        "steps": statuses,
    }
    from mindpulse.pipeline.approval import add_approval

    extra = add_approval(run, summary)  # the approval's answer, when the challenger waited for one
    return close_run(run, summary, _retrain_text(summary) + extra)



def _release_snapshot(run: Run) -> dict[str, Any]:
    """Give the rows a failed run claimed back to the pending pool (nothing to do when none were claimed).

    Decided from the registry, not from glued outputs: when this run's model was registered
    (training's kernel died before its glue cell), its rows were used, so they are archived.
    """
    try:
        store = run.store
        claimed = [s for s in store.snapshots() if s.run_id == run.run_id and s.state == "claimed"]
        trained = version_trained_for(run.registry, run) if claimed else None
        if trained is not None:
            path = store.archive_snapshot(claimed[0].id, run.settings.archive_dir)
            return {"id": claimed[0].id, "rows": claimed[0].n_rows, "released": False, "archived_to": str(path),
                    "model_version": trained.version}
        for snapshot in claimed:
            store.release_snapshot(snapshot.id)
    except Exception as exc:  # the summary must still be written; the failure is reported in it
        return {"released": False, "release_error": f"{type(exc).__name__}: {exc}"}
    if not claimed:
        return {"released": False}
    return {"id": claimed[0].id, "rows": claimed[0].n_rows, "released": True}


def _requested_outcomes(run: Run) -> dict[str, Any] | None:
    """The outcome request the drift step wrote (ids, rows, file), or None when it wrote none."""
    import json

    path = run.dir / OUTCOME_REQUEST_NAME
    try:
        request = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return {"rows": request.get("rows"), "prediction_ids": [p["prediction_id"] for p in request.get("predictions") or []],
            "file": OUTCOME_REQUEST_NAME}


def _retrain_text(summary: dict[str, Any]) -> str:
    """The notification's text: outcome, trigger, challenger, champion before and after, failures."""
    lines = [f"Retrain run {summary['run_id']}: {summary['outcome']}."]
    reasons = summary["trigger"].get("reasons") or []
    lines.append(("Triggered: " if summary["trigger"].get("proceed") else "Not triggered: ") + "; ".join(reasons) + ".")
    from mindpulse.gate import in_words

    request = summary.get("outcome_request")
    if request and request.get("rows"):
        lines.append(f"Outcomes that would tell us most: {request['rows']} predictions of the drifted cohort, prediction ids "
                     + ", ".join(map(str, request["prediction_ids"])) + " (also on the dashboard's Feedback page). Once "
                     "they are recorded, the next retrain run retrains on them (drift plus labels).")
    if summary["challenger"]:
        promoted = summary["model_after"] == summary["challenger"]
        lines.append(f"Challenger {summary['challenger']} {in_words(promoted, summary['gate_reason'] or '')}")
    elif summary.get("same_as"):
        lines.append(f"No challenger: {summary['gate_reason']}.")
    if summary.get("snapshot_scores"):
        lines.append(describe_snapshot_scores(summary["model_after"], summary["snapshot_scores"]))
    lines.append(f"Champion before: {summary['model_before']}; after: {summary['model_after']}.")
    if summary["failed_steps"]:
        lines.append("Failed step(s): " + ", ".join(summary["failed_steps"]) + " (executed notebooks in the run folder).")
    if summary["snapshot"].get("released"):
        lines.append(f"Snapshot {summary['snapshot'].get('id')} released: its rows wait for the next retrain.")
    lines.append(f"Audit record: {summary['run_dir']}")
    return "\n".join(lines)
