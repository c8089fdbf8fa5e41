"""``mindpulse report KIND`` (an Evidently report from a CSV) and ``mindpulse reports`` (the report runs)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer

from mindpulse.commands import fail

REPORT_KINDS = {"quality": "data_quality", "drift": "data_drift", "performance": "model_performance"}


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("reports")(reports)


def report(
    kind: str = typer.Argument(..., help="quality, drift or performance."),
    current: Path = typer.Option(..., "--current", "-c", help="CSV of the current rows: the real format, or canonical "
                                 "columns (performance needs canonical columns plus prediction and probability)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for <kind>.html and <kind>.json "
                                       "(default: REPORTS_DIR/manual/<UTC time>)."),
    reference: Optional[Path] = typer.Option(None, "--reference", "-r", help="Reference CSV (default: the reference data)."),
) -> None:
    """Write an Evidently report (self-contained HTML plus a JSON summary) for a CSV of current rows."""
    from mindpulse import monitoring
    from mindpulse.settings import get_settings

    if kind not in REPORT_KINDS:
        fail(f"kind: got {kind!r}, expected one of {', '.join(REPORT_KINDS)}")
    settings = get_settings()
    out = out or settings.reports_dir / "manual" / datetime.now(timezone.utc).strftime("%Y-%m-%dT%H-%M-%SZ")
    current_frame = _read(current, "--current")
    try:
        if kind == "performance":
            reference_frame = _read(reference, "--reference") if reference else None
            result = monitoring.model_performance_report(current_frame, out, reference=reference_frame, settings=settings)
        else:
            reference_frame = _read(reference, "--reference") if reference else _reference(settings)
            make = monitoring.data_quality_report if kind == "quality" else monitoring.data_drift_report
            result = make(reference_frame, current_frame, out, settings=settings)
    except ValueError as exc:
        fail(str(exc))
    typer.echo(_describe(result.summary))
    typer.echo(f"HTML: {result.html_path}\nJSON: {result.json_path}")


def reports(
    root: Optional[Path] = typer.Option(None, "--root", help="Reports root or one DAG's folder (default: REPORTS_DIR)."),
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="Show at most this many runs."),
) -> None:
    """List report runs, newest first, with their key figures; hand runs (``interactive__...``) apart."""
    from mindpulse.monitoring import list_report_runs
    from mindpulse.settings import get_settings

    root = root or get_settings().reports_dir
    runs = list_report_runs(root)
    if not runs:
        typer.echo(f"No report runs under {root}")
        return
    pipeline_runs = [run for run in runs if not run["hand_run"]]
    hand_runs = [run for run in runs if run["hand_run"]]
    if pipeline_runs:
        _print_runs(pipeline_runs, limit)
    else:
        typer.echo(f"No pipeline runs under {root}")
    if hand_runs:
        typer.echo(f"\nHand runs (notebooks run by hand, not by the pipeline): {len(hand_runs)}")
        _print_runs(hand_runs, limit)


def _print_runs(runs: list[dict], limit: int) -> None:
    fmt = lambda v, spec=".3f": "-" if v is None else format(v, spec)  # noqa: E731
    typer.echo(f"{'created_at':<26} {'dag':<28} {'run':<48} {'outcome':<9} {'rows':>7} {'drift':>6} {'acc':>6} {'auc':>6} html")
    for run in runs[:limit]:
        typer.echo(f"{run['created_at'][:25]:<26} {run['dag_id'][:28]:<28} {run['name'][:48]:<48} "
                   f"{(run['outcome'] or '-'):<9} {fmt(run['rows'], 'd'):>7} {fmt(run['drift_share'], '.2f'):>6} "
                   f"{fmt(run['accuracy']):>6} {fmt(run['roc_auc']):>6} {len(run['html'])}")
    if len(runs) > limit:
        typer.echo(f"... {len(runs) - limit} older runs not shown (--limit)")


def _reference(settings):
    from mindpulse.data import load_reference

    try:
        return load_reference(settings)
    except FileNotFoundError as exc:
        fail(str(exc))


def _read(path: Path, option: str):
    """A CSV in the canonical form (extra columns kept) or the real format (validated), read by the
    contract's hardened reader: a file that is not a UTF-8 CSV, or a bad cell, is one line naming it."""
    from mindpulse import contract as c

    try:
        raw, source = c.read_table(path)
    except FileNotFoundError:
        fail(f"{option}: {path}: no such file")
    except c.ContractError as exc:
        fail(f"{option}: {exc}")
    if set(c.FEATURES) <= {str(name).strip() for name in raw.columns}:
        return _typed(raw, option, source)
    result = c.validate_frame(raw, require_target=False, source=source)
    if result.n_valid == 0 and result.problems:
        fail(f"{option}: {c.ContractError(result.problems, source)}")
    if result.n_rejected:
        typer.echo(f"{option}: {result.n_rejected} rows of {path} break the data contract and were left out", err=True)
    return result.valid


def _typed(raw, option: str, source: str):
    """The cells of a canonical CSV in the contract's types; any other column becomes numbers when
    every cell is one (prediction, probability), else stays text. Empty cells are missing."""
    import numpy as np
    import pandas as pd

    from mindpulse import contract as c

    frame = pd.DataFrame(index=raw.index)
    for column in raw.columns:
        name = str(column).strip()
        text = raw[column].str.strip()
        spec = c.FIELD_BY_NAME.get(name)
        if spec is not None and spec.kind in ("category", "text"):
            frame[name] = text.where(text != "", np.nan)
            continue
        numbers = pd.to_numeric(text.where(text != ""), errors="coerce")
        bad = ((text != "") & numbers.isna()) | (np.isinf(numbers) if spec is not None else False)
        if spec is not None and spec.kind != "number":
            bad = bad | (numbers.notna() & (numbers % 1 != 0))
        if spec is None:
            frame[name] = text.where(text != "", np.nan) if bad.any() else numbers
        elif bad.any():
            line = bad.idxmax()
            fail(f"{option}: {source}: line {line}, {name}: got {c.echo(raw.at[line, column])}; expected {spec.accepted}")
        else:
            frame[name] = numbers if spec.kind == "number" else numbers.astype("Int64")
    return frame.reset_index(drop=True)


def _describe(summary: dict) -> str:
    kind = summary["kind"]
    sampled = ""
    if summary.get("sampled"):
        s = summary["sampling"]
        sampled = " (sampled: " + ", ".join(f"{k} {v['used']} of {v['rows']}" for k, v in s.items() if v and v["sampled"]) + ")"
    if kind == "data_drift":
        return f"Drift: {summary['status']} - {summary['reason']}{sampled}"
    if kind == "model_performance":
        auc = "-" if summary.get("roc_auc") is None else f"{summary['roc_auc']:.3f}"
        return (f"Performance on {summary['labelled_rows']} labelled rows: accuracy {summary['accuracy']:.3f}, "
                f"precision {summary['precision']:.3f}, recall {summary['recall']:.3f}, F1 {summary['f1']:.3f}, "
                f"ROC-AUC {auc}{sampled}")
    dataset = summary["dataset"]
    return (f"Data quality of {summary['rows']} rows: {dataset['missing_cells']} missing cells, "
            f"{dataset['duplicated_rows']} duplicated rows, new categories in: "
            f"{', '.join(summary['new_category_columns']) or 'none'}{sampled}")
