"""``mindpulse store erase`` and ``mindpulse store expire``: forgetting a student, and old unanswered predictions."""

from __future__ import annotations

from typing import Any, Optional

import typer

from mindpulse.commands import fail


def register(app: typer.Typer) -> None:
    from mindpulse.commands.store import store_app  # the ``store`` group, registered before this module

    store_app.command("erase")(erase)
    store_app.command("expire")(expire)


def _store_and_settings() -> tuple[Any, Any]:
    from mindpulse.commands.store import open_store
    from mindpulse.settings import get_settings

    return open_store(), get_settings()


def erase(
    student_id: str = typer.Option(..., "--student-id", help="The student's id (the data's 'id' column)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Erase a student's predictions, outcomes and archived rows (recorded in the audit trail without them)."""
    from mindpulse.audit import cli_actor
    from mindpulse.contract import ContractError
    from mindpulse.registry import ModelRegistry
    from mindpulse.store.erasure import erase_student, parse_student_id

    try:
        parse_student_id(student_id)
    except ContractError as exc:
        fail(str(exc))
    if not yes and not typer.confirm(f"Erase every production row of student {student_id}? This cannot be undone.",
                                     default=False):
        typer.echo("Nothing erased.")
        raise typer.Exit(1)
    store, settings = _store_and_settings()
    try:
        erasure = erase_student(store, student_id, registry=ModelRegistry.from_settings(settings),
                                reference_path=settings.reference_path, actor=cli_actor(), via="cli")
    finally:
        store.close()
    typer.echo(erasure.describe())


def expire(days: Optional[int] = typer.Option(None, "--days", min=1,
                                               help="Delete unanswered predictions older than this (default "
                                                    "MINDPULSE_PREDICTION_RETENTION_DAYS).")) -> None:
    """Delete predictions that received no outcome within the retention period."""
    from mindpulse.audit import cli_actor
    from mindpulse.store.erasure import delete_stale_predictions

    store, settings = _store_and_settings()
    days = days or settings.prediction_retention_days
    if days is None:
        fail("--days: no retention period given and MINDPULSE_PREDICTION_RETENTION_DAYS is not set")
    try:
        deleted = delete_stale_predictions(store, days, actor=cli_actor(), via="cli")
    finally:
        store.close()
    typer.echo(f"Deleted {deleted} prediction(s) without an outcome logged more than {days} day(s) ago.")
