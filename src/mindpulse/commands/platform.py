"""``mindpulse platform``: run the platform on its embedded default."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Run MindPulse on its embedded default (used by 'make run').", no_args_is_help=True)
    group.command("prepare")(prepare)
    app.add_typer(group, name="platform")


def prepare(seed: int = typer.Option(None, help="Seed for the synthetic reference data (default MINDPULSE_SEED).")) -> None:
    """Make sure reference data exists (synthetic when none was ingested) and say what was done."""
    from mindpulse import data as d
    from mindpulse.settings import get_settings

    settings = get_settings()
    if settings.reference_path.is_file():
        typer.echo(f"Reference data already present: {settings.reference_path} (kept as it is)")
    else:
        summary = d.generate_reference(settings, seed=settings.seed if seed is None else seed)
        typer.echo(summary.describe())
