"""``mindpulse train``, ``models``, ``promote``, ``rollback`` and ``predict``: the model's life."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from mindpulse.commands import fail


#: Rows per transaction of ``predict --log``: large enough to be fast, small enough not to hold
#: SQLite's write lock (other writers wait for it) for more than a moment.
LOG_CHUNK_ROWS = 5_000

models_app = typer.Typer(name="models", help="List the registered versions; 'models card VERSION' shows one's model card.")


def register(app: typer.Typer) -> None:
    """Add this group's commands to ``app``."""
    app.command("train")(train)
    models_app.callback(invoke_without_command=True)(models)
    models_app.command("card")(card)
    app.add_typer(models_app, name="models")
    app.command("promote")(promote)
    app.command("rollback")(rollback)
    app.command("predict")(predict)


def _registry():
    from mindpulse.registry import ModelRegistry
    from mindpulse.settings import get_settings

    return ModelRegistry.from_settings(get_settings())


def _user_errors() -> tuple[type[BaseException], ...]:
    from mindpulse.contract import ContractError
    from mindpulse.registry import RegistryError

    return (RegistryError, ContractError, FileNotFoundError, ValueError)


def train(
    extra: Optional[Path] = typer.Option(None, "--extra", help="A labelled CSV (real file's format) added to the reference data."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed for folds, models and the first holdout (default: MINDPULSE_SEED)."),
    margin: Optional[float] = typer.Option(None, "--margin", min=0.0, max=1.0, help="Gate margin on holdout ROC-AUC (default: MINDPULSE_PROMOTION_MARGIN)."),
    folds: int = typer.Option(5, "--folds", min=2, max=10, help="Folds of the stratified cross-validation."),
    candidates: Optional[str] = typer.Option(None, "--candidates", help="Comma-separated candidates to compare "
                                             "(default: all three), e.g. logistic_regression for a fast first model."),
) -> None:
    """Train the three candidates on the reference data, register the best, and gate its promotion."""
    import pandas as pd

    from mindpulse import contract as c
    from mindpulse import lineage
    from mindpulse.data import frame_sha256, load_reference
    from mindpulse.io import atomic_write_csv
    from mindpulse.settings import get_settings
    from mindpulse.train import train_register_and_judge

    settings = get_settings()
    try:
        frame = load_reference(settings)
        source = f"reference {settings.reference_path}"
        record = {"run": None, "reference": lineage.reference_record(settings, frame), "snapshots": [],
                  "window": None, "seed": None, "recent": {"snapshots": [], "rows": 0}}
        if extra is not None:
            result = c.read_csv(extra, require_target=True)
            if result.n_valid == 0:
                raise c.ContractError(result.problems, str(extra))
            if result.n_rejected:
                rejects = settings.rejects_dir / f"{extra.stem}_train_rejects.csv"
                atomic_write_csv(rejects, result.rejected)
                typer.echo(f"{result.n_rejected} row(s) of {extra} set aside in {rejects}, each with its problems")
            frame = pd.concat([frame, result.valid], ignore_index=True)
            source += f" + {result.n_valid} rows of {extra}"
            record["extra"] = {"path": str(extra.resolve()), "rows": result.n_valid,
                               "sha256": frame_sha256(result.valid.reindex(columns=list(c.CANONICAL_COLUMNS)))}
        outcome = train_register_and_judge(
            frame, _registry(), seed=settings.seed if seed is None else seed,
            margin=settings.promotion_margin if margin is None else margin,
            data_source=source, progress=typer.echo, folds=folds, lineage=record,
            **({"candidates": [name.strip() for name in candidates.split(",") if name.strip()]} if candidates else {}),
        )
    except _user_errors() as exc:
        fail(str(exc))
    typer.echo(outcome.describe())


def models(ctx: typer.Context) -> None:
    """List the registered versions with their metrics; '*' marks the champion."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        registry = _registry()
        versions = registry.versions()
        holdout = registry.holdout()
    except _user_errors() as exc:
        fail(str(exc))
    if not versions:
        problems = registry.check()
        if problems:
            fail(f"{registry.pointer_path}: " + "; ".join(problems), code=1)
        typer.echo(f"No model registered in {registry.root} yet; run 'mindpulse train'.")
        return
    rows = [("", "VERSION", "CREATED", "ROWS", "CV AUC", "HOLDOUT AUC", "MODEL", "STATUS")]
    for v in versions:
        rows.append((
            "*" if v.status == "champion" else "", v.version, v.created_at,
            str((v.metadata.get("data") or {}).get("rows", "")),
            _fmt(v.metric("cv")), _fmt(v.metric("holdout")),
            str((v.metadata.get("model") or {}).get("name", "")), v.status,
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    if holdout is not None:
        typer.echo(f"Holdout AUC: on the fixed holdout of {len(holdout)} rows ({registry.holdout_path}).")
    from mindpulse.gate import in_words

    for v in versions:
        if v.status == "refused":
            typer.echo(f"{v.version} {in_words(False, v.metadata.get('refusal_reason', ''))}")
    problems = registry.check()
    if problems:
        fail(f"{registry.pointer_path}: " + "; ".join(problems) + " (see 'mindpulse rollback --to VERSION')", code=1)


def card(
    version: str = typer.Argument(..., help="The version, e.g. v0003-20261126T071500Z."),
    html: bool = typer.Option(False, "--html", help="Print the path of the HTML page instead of the JSON record."),
) -> None:
    """Print a version's model card (JSON), written first if it is missing or out of date."""
    from mindpulse.model_card import read_card

    try:
        paths = read_card(_registry(), version)
    except _user_errors() as exc:
        fail(str(exc))
    typer.echo(str(paths["html"]) if html else paths["json"].read_text(encoding="utf-8").rstrip("\n"))


def _fmt(value: float | None) -> str:
    from mindpulse.figures import format_auc

    return format_auc(value)


def promote(
    version: str = typer.Argument(..., help="The version to make champion, e.g. v0003-20261126T071500Z."),
    force: bool = typer.Option(False, "--force", help="Bypass the gate (needs --reason, which is recorded)."),
    reason: Optional[str] = typer.Option(None, "--reason", help="Why the gate is bypassed."),
    margin: Optional[float] = typer.Option(None, "--margin", min=0.0, max=1.0, help="Gate margin (default: MINDPULSE_PROMOTION_MARGIN)."),
) -> None:
    """Put a version through the promotion gate (same fixed holdout as the champion)."""
    try:
        from mindpulse.approval import promotion_blocked

        blocked = None if force else promotion_blocked(_registry(), version)
        if blocked:
            fail(blocked)
        decision = _registry().promote(version, margin=margin, force=force, reason=reason)
    except _user_errors() as exc:
        fail(str(exc))
    from mindpulse.audit import record_cli

    record_cli("model_promoted" if decision.promoted else "model_refused", target=version, forced=force,
               reason=(reason if force else decision.reason), champion_before=decision.champion_before)
    if decision.promoted:
        typer.echo(f"{version} is champion (backup: {decision.champion_before or 'none'}): {decision.reason}")
    else:
        from mindpulse.gate import in_words

        typer.echo(f"{version} {in_words(False, decision.reason)} (champion stays {decision.champion_before})")
        raise typer.Exit(1)


def rollback(
    to: Optional[str] = typer.Option(None, "--to", help="A former champion to return to (default: the backup)."),
) -> None:
    """Make the backup (or a named former champion) the champion again."""
    try:
        registry = _registry()
        before = registry.champion()
        now = registry.rollback(to)
    except _user_errors() as exc:
        fail(str(exc))
    was = before.version if before else "none"
    from mindpulse.audit import record_cli

    record_cli("rollback", target=now.version, champion_before=was)
    typer.echo(f"Champion is now {now.version} (was {was}, now the backup; 'mindpulse rollback' undoes this)")


def predict(
    input: Optional[Path] = typer.Option(None, "--input", "-i", help="CSV in the real file's format (or canonical names); - reads standard input."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Where to write the scored CSV (with --input)."),
    record: Optional[str] = typer.Option(None, "--record", help="One record as JSON, real-header or canonical keys."),
    factors: bool = typer.Option(False, "--factors", help="Add the top 3 factors of each row to the CSV."),
    log: bool = typer.Option(False, "--log", help="Log each scored row in the production store and give its prediction_id "
                             "(first column of the output), so outcomes known later can be fed back with 'feedback --csv'."),
    log_chunk_rows: int = typer.Option(LOG_CHUNK_ROWS, "--log-chunk-rows", min=1,
                                       help="With --log: rows stored per transaction."),
    with_outcomes: bool = typer.Option(False, "--with-outcomes",
                                       help="With --log, on input that has a 'Depression' column: store those values as "
                                            "the rows' true outcomes (they count toward the retrain trigger). Without "
                                            "it, --log refuses such input."),
) -> None:
    """Screen students with the champion model (a screening aid, not a diagnosis)."""
    from mindpulse.commands import json_object

    if (input is None) == (record is None):
        fail("give either --input CSV (with --output CSV) or --record JSON")
    if input is not None and output is None:
        fail("--output: a file to write the scored rows to is needed with --input")
    if with_outcomes and not log:
        fail("--with-outcomes: only with --log (outcomes are stored with the logged predictions)")
    # What the user typed is checked before the model is loaded (scikit-learn and all: ~1.5 s).
    mapping = json_object(record, "--record", "'{\"Gender\": \"Male\", \"Age\": 21, ...}'") if record is not None else None
    from mindpulse.predict import Predictor

    try:
        predictor = Predictor.load(_registry())
        if mapping is not None:
            typer.echo(json.dumps(_score_record(predictor, mapping, log=log, with_outcomes=with_outcomes), indent=2))
        else:
            typer.echo(_score_file(predictor, input, output, factors, log_chunk_rows=log_chunk_rows if log else None,
                                   with_outcomes=with_outcomes))
    except _user_errors() as exc:
        fail(str(exc))


def _refuse_unasked_outcomes(source: str, rows: int) -> None:
    """``--log`` on input with outcomes stores them as outcomes: only when asked (``--with-outcomes``)."""
    fail(f"{source}: {rows} row(s) have a 'Depression' value; --log would store them as true outcomes, which count "
         "toward the retrain trigger. Add --with-outcomes to store them, or drop the 'Depression' column to log "
         "predictions only")


def _score_record(predictor: Any, mapping: dict[str, Any], *, log: bool = False,
                  with_outcomes: bool = False) -> dict[str, Any]:
    from mindpulse import contract as c

    prediction = predictor.predict_record(mapping)
    keys = ("probability", "label", "risk_band", "factors", "model_version", "threshold", "disclaimer")
    payload = {k: getattr(prediction, k) for k in keys}
    outcome = c.canonical_record(mapping)[c.TARGET] if log else None
    if outcome is not None and not with_outcomes:
        _refuse_unasked_outcomes("--record", 1)
    if log:
        from mindpulse.settings import get_settings
        from mindpulse.store import Store

        with Store.from_settings(get_settings()) as store:
            payload = {"prediction_id": store.log_prediction(mapping, probability=prediction.probability,
                                                             label=prediction.label, model_version=prediction.model_version),
                       **({"outcome_stored": int(outcome)} if outcome is not None else {}), **payload}
    return payload


def _log_scored(scored: Any, chunk_rows: int) -> tuple[list[int], str]:
    """Log scored rows in the store, one transaction per chunk, with a progress bar on stderr; their ids and the store."""
    import sys

    from mindpulse.settings import get_settings
    from mindpulse.store import Store

    with Store.from_settings(get_settings()) as store, typer.progressbar(
            length=len(scored), label="Logging predictions", file=sys.stderr, show_pos=True) as bar:
        ids = store.log_predictions(scored, chunk_rows=chunk_rows, progress=bar.update)
        where = store.describe_url()
    return ids, where


def _score_file(predictor: Any, source: Path, output: Path, factors: bool, *, log_chunk_rows: int | None = None,
                with_outcomes: bool = False) -> str:
    from mindpulse import contract as c
    from mindpulse.io import atomic_write_csv

    result = c.read_csv(source, require_target=False)
    if result.n_valid == 0:
        raise c.ContractError(result.problems or [c.Problem("header", "(file)", "(no rows)", "at least one row")], str(source))
    outcomes = int(result.valid[c.TARGET].notna().sum())
    if log_chunk_rows is not None and outcomes and not with_outcomes:
        _refuse_unasked_outcomes(c.input_name(source), outcomes)
    scored = predictor.predict_frame(result.valid, factors=factors)
    added = [col for col in ("probability", "prediction", "risk_band", "model_version", "factors") if col in scored]
    table = c.to_raw(scored)
    for col in added:
        table[col] = scored[col].to_numpy()
    logged = None
    if log_chunk_rows is not None:
        ids, store = _log_scored(scored, log_chunk_rows)
        table.insert(0, "prediction_id", ids)
        logged = f"Logged {len(ids)} prediction(s) in {store} (ids {min(ids)}-{max(ids)})"
        if outcomes:
            logged += (f"; stored {outcomes} outcome(s) from the 'Depression' column (--with-outcomes): they wait for "
                       "the next retrain and count toward its trigger")
        if outcomes < len(ids):
            logged += (f"; for the {len(ids) - outcomes} without an outcome, 'mindpulse feedback --csv FILE' with "
                       "columns prediction_id,Depression records them when they are known")
    atomic_write_csv(output, table)
    bands = scored["risk_band"].value_counts()
    lines = [f"Scored {len(scored)} row(s) with {predictor.version} into {output} "
             f"(low {bands.get('low', 0)}, moderate {bands.get('moderate', 0)}, high {bands.get('high', 0)}); "
             "a screening aid, not a diagnosis"]
    if logged:
        lines.append(logged)
    if result.n_rejected:
        rejects = output.with_name(f"{output.stem}.rejects.csv")
        atomic_write_csv(rejects, result.rejected)
        lines.append(f"{result.n_rejected} row(s) set aside in {rejects}, each with its problems; first: {result.problems[0]}")
    return "\n".join(lines)
