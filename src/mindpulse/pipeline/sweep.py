"""The sweep of stale claims, first thing in every retrain run.

A retrain run claims a snapshot of pending rows and, at its end, archives it (a model was
trained on it) or releases it (training did not finish). A run that dies on the way (killed by
its timeout, a lost worker) leaves its snapshot claimed, and those rows would wait forever. A
claim older than the run timeout belongs to a run that is not running any more (Airflow stops
every run at that age), so the next run settles it: archived when the registry holds a model
that run trained (its rows were used; decided from the registry, not from glued outputs),
released otherwise.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd

from mindpulse.dag_ids import RETRAIN_DAG_ID
from mindpulse.pipeline.records import Run, StepResult, decision_record, open_run

log = logging.getLogger("mindpulse.pipeline")


def sweep_stale_claims(run: Run, *, older_than: timedelta | None = None, now: datetime | None = None) -> StepResult:
    """Archive or release every snapshot claimed longer than ``older_than`` ago by another run.

    ``older_than`` defaults to the run timeout (``MINDPULSE_PIPELINE_RUN_TIMEOUT_MINUTES``).
    Each sweep is logged and notified.
    """
    from mindpulse import notify
    from mindpulse.pipeline.training import version_trained_for

    settings = run.settings
    older_than = older_than or timedelta(minutes=settings.pipeline_run_timeout_minutes)
    now = now or datetime.now(timezone.utc)
    store = run.store
    stale = [s for s in store.snapshots()
             if s.state == "claimed" and s.run_id != run.run_id and now - _utc(s.claimed_at) > older_than]
    registry = run.registry if stale else None
    swept: list[dict[str, Any]] = []
    for snapshot in stale:
        owner = Run(settings=settings, dag_id=RETRAIN_DAG_ID, run_id=snapshot.run_id, dir=run.dir)
        trained = version_trained_for(registry, owner)
        if trained is not None:
            path = store.archive_snapshot(snapshot.id, settings.archive_dir)
            action, detail = "archived", f"its run registered {trained.version}, trained on these rows; exported to {path}"
        else:
            store.release_snapshot(snapshot.id)
            action, detail = "released", "no model of its run is registered; its rows are pending again"
        entry = {"snapshot_id": snapshot.id, "run_id": snapshot.run_id, "rows": snapshot.n_rows,
                 "claimed_at": _utc(snapshot.claimed_at).isoformat(timespec="seconds"), "action": action,
                 "model_version": trained.version if trained is not None else None}
        text = (f"Stale claim swept: snapshot {snapshot.id} ({snapshot.n_rows} rows) of run {snapshot.run_id}, "
                f"claimed {entry['claimed_at']} (more than {older_than} ago), {action}: {detail}.")
        log.warning(text)
        print(text)
        entry["notifications"] = notify.send(notify.Notification(
            subject=f"{run.dag_id}: stale claim {action}", text=text, level="info",
            payload={"dag_id": run.dag_id, "run_id": run.run_id, **entry}), settings)
        swept.append(entry)
    table = pd.DataFrame(swept, columns=["snapshot_id", "run_id", "rows", "claimed_at", "action", "model_version"])
    message = (f"Swept {len(swept)} stale claim(s)." if swept
               else f"No claim older than {older_than}: nothing to sweep.")
    expired = expire_predictions(run, store)
    if expired:
        message += (f" Deleted {expired} prediction(s) without an outcome after "
                    f"{settings.prediction_retention_days} day(s) (MINDPULSE_PREDICTION_RETENTION_DAYS).")
    return StepResult({"swept": swept, "older_than_minutes": older_than.total_seconds() / 60,
                       "expired_predictions": expired}, table, message)


def expire_predictions(run: Run, store: Any) -> int:
    """Apply the retention period (``MINDPULSE_PREDICTION_RETENTION_DAYS``, when set) to unanswered predictions."""
    from mindpulse.store.erasure import delete_stale_predictions

    days = run.settings.prediction_retention_days
    if not days:
        return 0
    return delete_stale_predictions(store, days, actor=f"airflow:{run.dag_id}"[:64], via="pipeline")


def _utc(moment: datetime) -> datetime:
    """``moment`` in UTC (a naive time is taken as UTC, as the store keeps it)."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def sweep_before_run(dag_id: str, run_id: str, run_dir: str) -> int:
    """The DAG's first task: sweep, and keep what was swept in the run folder (``sweep_stale_claims.json``)."""
    run = open_run(dag_id, run_id, run_dir)
    with decision_record(run.dir, "sweep_stale_claims") as record:
        result = sweep_stale_claims(run)
        record.update(result.outputs)
    return len(result.outputs["swept"])
