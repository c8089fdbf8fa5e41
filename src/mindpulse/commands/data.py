"""``mindpulse generate``, ``ingest`` and ``info``: the reference and production data."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from mindpulse.commands import fail


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
    app.command("ingest")(ingest)
    app.command("info")(info)


def generate(
    kind: str = typer.Argument("reference", help="'reference' (replaces the reference data) or 'production' (writes a CSV of labelled traffic)."),
    rows: int = typer.Option(27_901, "--rows", "-n", min=1, help="Number of rows."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (default: MINDPULSE_SEED, 42)."),
    scenario: str = typer.Option("none", "--scenario", help="Drift scenario: none, exam_season or generic."),
    strength: float = typer.Option(1.0, "--strength", help="Strength of the shift (0 to 5)."),
    columns: Optional[str] = typer.Option(None, "--columns", help="Comma-separated canonical columns for the generic shift, e.g. age,cgpa."),
    label_shift: float = typer.Option(0.0, "--label-shift", help="Added to the true logit: more (>0) or fewer (<0) positives."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Where to write the CSV (production; default data/raw/production_<seed>.csv)."),
) -> None:
    """Generate synthetic survey rows in the real CSV's exact format (quirks included)."""
    from mindpulse import data as d
    from mindpulse.settings import get_settings

    settings = get_settings()
    seed = settings.seed if seed is None else seed
    if kind not in ("reference", "production"):
        fail(f"kind: got {kind!r}, expected 'reference' or 'production'")
    try:
        cols = tuple(c.strip() for c in columns.split(",")) if columns else ()
        if kind == "reference":
            summary = d.generate_reference(settings, rows=rows, seed=seed)
            typer.echo(summary.describe())
        else:
            path = d.generate_production(settings, rows=rows, seed=seed, scenario=scenario, strength=strength,
                                         columns=cols, label_shift=label_shift, output=output)
            typer.echo(f"Wrote {rows} production rows ({scenario}) to {path}")
    except ValueError as exc:
        fail(str(exc))


def ingest(
    path: Path = typer.Argument(..., help="Your copy of the Student Depression Dataset CSV (unchanged); - (or /dev/stdin) reads standard input."),
    strict: bool = typer.Option(False, "--strict", help="Reject the whole file if any row is bad (default: set bad rows aside)."),
) -> None:
    """Validate a real CSV and make it the reference data; bad rows go to data/rejects/."""
    from mindpulse import data as d
    from mindpulse.contract import ContractError
    from mindpulse.settings import get_settings

    try:
        summary = d.ingest_reference(get_settings(), path, strict=strict)
    except FileNotFoundError as exc:
        fail(str(exc))
    except ContractError as exc:
        fail(str(exc))
    typer.echo(summary.describe())


def info() -> None:
    """Show the settings in force and the state of the data."""
    from mindpulse import data as d
    from mindpulse.settings import get_settings

    try:
        settings = get_settings()
    except Exception as exc:  # pydantic reports the variable and the value
        fail(f"settings: {exc}")
    typer.echo(d.describe_state(settings))
