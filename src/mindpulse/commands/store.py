"""``mindpulse feedback`` and ``mindpulse store stats|migrate|release|quarantine|quarantined``: the production data store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from mindpulse.commands import fail

if TYPE_CHECKING:
    from mindpulse.store import Store

store_app = typer.Typer(
    name="store",
    help="The production data store: logged predictions, feedback and retrain snapshots.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add this group's commands to ``app``."""
    app.command("feedback")(feedback)
    store_app.command("stats")(stats)
    store_app.command("migrate")(migrate)
    store_app.command("release")(release)
    store_app.command("quarantine")(quarantine)
    store_app.command("quarantined")(quarantined)
    app.add_typer(store_app, name="store")


def open_store(*, check: bool = True) -> "Store":
    """The store from the settings, its schema checked (``check``); one clear line when the database
    cannot be reached or is not migrated."""
    import sqlalchemy as sa

    from mindpulse.settings import get_settings
    from mindpulse.store import Store

    try:
        settings = get_settings()
    except Exception as exc:  # pydantic names the variable and the value
        fail(f"settings: {exc}")
    try:
        return Store.from_settings(settings, check=check)
    except ValueError as exc:  # an unusable URL, or a schema behind (SchemaOutOfDateError)
        fail(str(exc))
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        fail(f"database {settings.database_url!r} (MINDPULSE_DATABASE_URL): cannot open it: {reason}")


def migrate_store() -> tuple[str | None, str]:
    """Bring the settings' store to the newest schema (a deploy step), saying from and to which revision."""
    import sqlalchemy as sa

    store = open_store(check=False)
    try:
        before = store.schema_revision()
        after = store.migrate()
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        fail(f"database {store.describe_url()} (MINDPULSE_DATABASE_URL): cannot migrate it: {reason}")
    finally:
        store.close()
    if before == after:
        typer.echo(f"{store.describe_url()}: schema at revision {after}, the newest (nothing to migrate)")
    else:
        typer.echo(f"{store.describe_url()}: schema migrated from revision {before or 'none (empty database)'} to {after}")
    return before, after


def feedback(
    prediction_id: Optional[str] = typer.Option(None, "--prediction-id", help="Id of a logged prediction (shown with each prediction)."),
    outcome: Optional[str] = typer.Option(None, "--outcome", help="The true outcome for --prediction-id: 1 (depression) or 0."),
    correct: bool = typer.Option(False, "--correct", help="Replace an outcome already recorded (only while no retrain has claimed it)."),
    row: Optional[str] = typer.Option(None, "--row", help="One labelled row as a JSON object (real header or canonical names, with Depression)."),
    csv: Optional[Path] = typer.Option(None, "--csv", help="A CSV of outcomes (prediction_id, Depression) or of labelled rows in the real file's format; - reads standard input."),
    strict: bool = typer.Option(False, "--strict", help="With --csv: store nothing if any row is bad (default: store the good rows, report the bad ones)."),
) -> None:
    """Record true outcomes: one (--prediction-id and --outcome), a labelled row (--row) or a CSV (--csv).

    A second, different outcome for the same prediction is refused unless --correct; the same outcome again changes nothing.

    Exit code 1 when a CSV had rejected rows (the good ones are stored unless --strict).
    """
    from mindpulse.contract import ContractError
    from mindpulse.store import StoreError

    modes = [name for name, given in (("--prediction-id", prediction_id is not None), ("--row", row is not None),
                                      ("--csv", csv is not None)) if given]
    if len(modes) != 1:
        fail("feedback: give exactly one of --prediction-id ID --outcome 0/1, --row JSON or --csv PATH"
             + (f" (got {', '.join(modes)})" if modes else ""))
    if prediction_id is not None and outcome is None:
        fail("--outcome: missing, expected 0 or 1 (the true outcome of the prediction)")
    if outcome is not None and prediction_id is None:
        fail("--outcome: goes with --prediction-id ID")
    store = open_store()
    try:
        if prediction_id is not None:
            result = store.record_feedback(prediction_id, outcome, correct=correct)
            words = {"recorded": "recorded", "unchanged": "already recorded (unchanged)",
                     "corrected": f"corrected (was {result.previous})"}[result.status]
            typer.echo(f"Prediction {result.prediction_id}: outcome {result.depression} {words}.")
        elif row is not None:
            stored = store.add_labelled(_row_frame(row))
            typer.echo(f"Stored {stored} labelled row; {store.pending_count()} labelled row(s) wait for the next retrain.")
        else:
            report = store.import_feedback_csv(csv, correct=correct, strict=strict)
            typer.echo(report.describe())
            if report.rejected:
                raise typer.Exit(1)
    except (ContractError, StoreError, FileNotFoundError) as exc:
        fail(str(exc))
    finally:
        store.close()


def _row_frame(text: str) -> Any:
    import pandas as pd

    from mindpulse.commands import json_object
    from mindpulse.contract import canonical_record

    record = json_object(text, "--row", '\'{"Gender": "Male", "Age": 21, ..., "Depression": 1}\'')
    return pd.DataFrame([canonical_record(record, require_target=True)])


def stats(as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON.")) -> None:
    """Show what the store holds: rows by state, predictions logged, labelled rows pending, archives."""
    store = open_store()
    try:
        figures = store.stats()
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(figures, indent=2))
        return
    lines = [
        f"Database: {figures['database']} ({figures['backend']}, schema {figures['schema_revision']})",
        f"Predictions logged:        {figures['predictions_logged']}",
        f"  awaiting feedback:       {figures['awaiting_feedback']}",
        f"Labelled rows submitted:   {figures['labelled_rows_submitted']}",
        f"Labelled, pending retrain: {figures['labelled_pending']}",
        f"Claimed by a retrain:      {figures['claimed']}",
        f"Archived:                  {figures['archived']}",
        f"Snapshots in quarantine:   {figures['snapshots_quarantined']}"
        + (" (left out of training; see `mindpulse store quarantined`)" if figures["snapshots_quarantined"] else ""),
    ]
    if figures["last_archive_at"]:
        lines.append(f"Last archive: {figures['last_archive_at']}, {figures['last_archive_rows']} rows -> {figures['last_archive_path']}")
    else:
        lines.append("Last archive: none yet")
    typer.echo("\n".join(lines))


def migrate() -> None:
    """Create or upgrade the store's schema to the newest revision; safe to repeat.

    A deploy step: opening the store (commands, the dashboard, the API, pipeline steps) checks the
    schema but never migrates. `mindpulse platform run` and the containers' airflow-init run this.
    """
    migrate_store()


def _user() -> str:
    """Who runs the command (recorded with a quarantine): the login name, else USER."""
    import getpass
    import os

    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry)
        return os.environ.get("USER") or f"uid {os.getuid()}"


def quarantine(
    snapshot: str = typer.Argument(..., help="The id of an archived snapshot (see the refused run's summary, or `mindpulse store quarantined`)."),
    reason: str = typer.Option(..., "--reason", help="Why its rows are set aside (recorded with who and when)."),
    by: Optional[str] = typer.Option(None, "--by", help="Who sets it aside (default: your login name)."),
) -> None:
    """Keep a snapshot out of every retrain's training data until `mindpulse store release SNAPSHOT`.

    For a batch whose labels are wrong: a refused retrain's summary scores the champion on each
    snapshot, so the batch that does not fit stands out. Its rows stay archived; nothing is deleted.
    """
    from mindpulse.store import StoreError

    store = open_store()
    try:
        done = store.quarantine_snapshot(snapshot, reason=reason, by=by or _user())
        rows = store.get_snapshot(done.snapshot_id).n_rows
        from mindpulse.audit import AuditTrail, cli_actor

        AuditTrail(store).record(cli_actor(), "cli", "snapshot_quarantined", target=f"snapshot {done.snapshot_id}",
                                 details={"reason": done.reason, "by": done.quarantined_by, "rows": rows})
    except StoreError as exc:
        fail(str(exc))
    finally:
        store.close()
    typer.echo(f"Snapshot {done.snapshot_id} ({rows} rows) quarantined by {done.quarantined_by} at "
               f"{done.quarantined_at.isoformat(timespec='seconds')}: {done.reason}. Retrains leave it out until "
               f"'mindpulse store release {done.snapshot_id}'.")


def quarantined(as_json: bool = typer.Option(False, "--json", help="Print them as JSON.")) -> None:
    """List the quarantines: those in force (left out of training) and those released."""
    store = open_store()
    try:
        records = store.quarantines()
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps([{**q.record(), "in_force": q.in_force} for q in records], indent=2))
        return
    if not records:
        typer.echo("No snapshot is or was quarantined.")
        return
    for q in records:
        state = "in force" if q.in_force else f"released by {q.released_by} at {q.released_at.isoformat(timespec='seconds')}"
        typer.echo(f"snapshot {q.snapshot_id}: quarantined by {q.quarantined_by} at "
                   f"{q.quarantined_at.isoformat(timespec='seconds')} ({q.reason}); {state}")


def release(
    snapshot: Optional[str] = typer.Argument(None, help="A quarantined snapshot's id: lift its quarantine, so retrains include it again."),
    run_id: Optional[str] = typer.Option(None, "--run-id", help="Instead: the retrain run whose claimed snapshot is freed (its Airflow run id)."),
    by: Optional[str] = typer.Option(None, "--by", help="With SNAPSHOT: who releases it (default: your login name)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="With --run-id: do not ask for confirmation."),
) -> None:
    """Release a quarantined snapshot (SNAPSHOT), or the snapshot a retrain run claimed (--run-id).

    SNAPSHOT: the next retrain trains on its rows again. --run-id: for a run that died without
    releasing its claim (the pipeline's own sweep does this for runs older than the run timeout),
    its rows return to pending; a snapshot already archived is not released: its model was trained on it.
    """
    if (snapshot is None) == (run_id is None):
        fail("release: give either SNAPSHOT (a quarantined snapshot's id) or --run-id RUN (a retrain's claimed snapshot)")
    if snapshot is not None:
        _release_quarantine(snapshot, by)
        return
    store = open_store()
    try:
        snapshots = [s for s in store.snapshots() if s.run_id == run_id]
        claimed = [s for s in snapshots if s.state == "claimed"]
        if not claimed:
            states = ", ".join(f"snapshot {s.id} {s.state}" for s in snapshots) or "no snapshot at all"
            fail(f"run_id={run_id!r}: no claimed snapshot to release ({states}); "
                 "expected the run id of a retrain that claimed one (see `mindpulse store stats`)")
        rows = sum(s.n_rows for s in claimed)
        ids = ", ".join(str(s.id) for s in claimed)
        typer.echo(f"Run {run_id}: snapshot {ids} holds {rows} rows; releasing returns them to pending.")
        if not yes and not typer.confirm("Release it?", default=False):
            typer.echo("Nothing released.")
            raise typer.Exit(1)
        for snapshot in claimed:
            store.release_snapshot(snapshot.id)
        from mindpulse.audit import AuditTrail, cli_actor

        AuditTrail(store).record(cli_actor(), "cli", "claim_released", target=f"snapshot {ids}",
                                 details={"run_id": run_id, "rows": rows})
        typer.echo(f"Snapshot {ids} released: {rows} rows returned to pending.")
    finally:
        store.close()


def _release_quarantine(snapshot: str, by: str | None) -> None:
    from mindpulse.store import StoreError

    store = open_store()
    try:
        lifted = store.release_quarantine(snapshot, by=by or _user())
        from mindpulse.audit import AuditTrail, cli_actor

        AuditTrail(store).record(cli_actor(), "cli", "quarantine_released", target=f"snapshot {lifted.snapshot_id}",
                                 details={"by": lifted.released_by})
    except StoreError as exc:
        fail(str(exc))
    finally:
        store.close()
    typer.echo(f"Snapshot {lifted.snapshot_id} released from quarantine by {lifted.released_by} (quarantined by "
               f"{lifted.quarantined_by}: {lifted.reason}); the next retrain trains on its rows again.")
