"""The retrain's training data: this run's snapshot claimed, and every labelled row so far gathered around it."""

from __future__ import annotations

from typing import Any

import pandas as pd

from mindpulse.pipeline.records import PREVIEW_NOTE, Run, StepResult, glues, json_ready
from mindpulse.pipeline.sources import load_reference
from mindpulse.steps import TRAINING_SET_KEYS

__all__ = ["TRAINING_SET_KEYS", "describe_training_set", "merge_training_data", "positive_rate", "training_data",
           "training_frame", "training_set"]


def training_frame(reference: pd.DataFrame, production: pd.DataFrame) -> pd.DataFrame:
    """Reference rows followed by production rows, in the canonical columns."""
    from mindpulse.contract import CANONICAL_COLUMNS

    columns = list(CANONICAL_COLUMNS)
    return pd.concat([reference[columns], production[columns]], ignore_index=True)


def training_data(run: Run, *, commit: bool = True) -> tuple[Any, Any]:
    """This run's snapshot and the accumulated training data around it: the one place a training set is made.

    ``commit``: claim the snapshot (once per run id: the same one on every call of this run).
    Without it (a preview), nothing is claimed: the pending rows stand where the snapshot would,
    split the same way, so a preview counts exactly what a committed run would train on now.
    """
    from mindpulse import lineage

    settings = run.settings
    store = run.store
    snapshot = store.claim_snapshot(run.run_id) if commit else None
    data = lineage.assemble(settings, store, load_reference(settings), snapshot,
                            run={"dag_id": run.dag_id, "run_id": run.run_id}, seed=settings.seed,
                            window_days=settings.training_window_days,
                            pending=None if commit else store.production_frame())
    return snapshot, data


def training_set(registry: Any, data: Any) -> dict[str, Any]:
    """What a training set holds, per source, and what is held out of it (preview and committed run alike).

    Rows per source (reference, each snapshot, pending rows in a preview: all rows and rows
    trained on), the recent slices held out for the gate, the snapshots left out in quarantine,
    and the rows of the fixed holdout that training excludes (from the rows offered).
    """
    offered = len(data.frame)
    holdout_rows = offered - len(registry.exclude_holdout(data.frame)) if registry.holdout() is not None else 0
    sources = [{"source": "reference", "rows": len(data.reference), "trained_rows": len(data.reference), "recent_rows": 0}]
    sources += [{"source": p.source, "rows": len(p.rows), "trained_rows": len(p.trained), "recent_rows": len(p.recent)}
                for p in data.parts if len(p.rows)]
    return {"training_rows": offered, "fitted_rows": offered - holdout_rows, "holdout_rows_excluded": holdout_rows,
            "recent_rows": len(data.recent), "recent_snapshots": list(data.lineage["recent"]["snapshots"]),
            "rows_by_source": sources,
            "quarantined_snapshots": [q["id"] for q in data.lineage.get("quarantined") or []]}


def describe_training_set(counts: dict[str, Any]) -> str:
    """:func:`training_set` in one sentence."""
    parts = []
    for item in counts["rows_by_source"]:
        if item["source"] == "reference":
            parts.append(f"reference {item['rows']}")
        else:
            parts.append(f"{item['source']} {item['trained_rows']} of {item['rows']}")
    recent = counts["recent_snapshots"]
    text = (f"{counts['training_rows']} rows ({' + '.join(parts)}); held out: {counts['recent_rows']} recent rows "
            "for the gate" + (f" (snapshot {', '.join(map(str, recent))})" if recent else "")
            + f" and {counts['holdout_rows_excluded']} rows of the fixed holdout, so models fit on "
            f"{counts['fitted_rows']} rows")
    if counts["quarantined_snapshots"]:
        text += f"; left out in quarantine: snapshot {', '.join(map(str, counts['quarantined_snapshots']))}"
    return text



@glues("merge_training_data")
def merge_training_data(run: Run, *, commit: bool = False) -> StepResult:
    """Claim this run's snapshot and gather all labelled data so far: reference + archived snapshots + this one.

    With ``commit=False`` (a notebook run by hand) nothing is claimed: it shows what a claim now
    would give, counted by the same function as a committed run.
    """
    snapshot, data = training_data(run, commit=commit)
    counts = training_set(run.registry, data)
    pending = next((p for p in data.parts if p.pending), None)
    earlier = [p for p in data.parts if not p.pending and (snapshot is None or p.id != snapshot.id)]
    new_rows = snapshot.n_rows if snapshot is not None else (len(pending.rows) if pending is not None else 0)
    outputs = {"committed": bool(commit), "snapshot_id": snapshot.id if snapshot is not None else None,
               "production_rows": new_rows, "reference_rows": len(data.reference),
               "archived_snapshots": [p.id for p in earlier if len(p.rows)],
               "archived_rows": sum(len(p.rows) for p in earlier), "positive_rate": positive_rate(data.frame),
               "window_days": run.settings.training_window_days, **counts}
    if commit:
        message = f"Snapshot {snapshot.id}: {snapshot.n_rows} new production rows; training data {describe_training_set(counts)}."
    else:
        message = (f"Would claim {new_rows} pending production rows; training data would be "
                   f"{describe_training_set(counts)}. " + PREVIEW_NOTE)
    return StepResult(json_ready(outputs), data.table(), message)


def positive_rate(frame: pd.DataFrame) -> float | None:
    """The share of rows labelled depressed (4 decimals), or None for no rows."""
    return round(float(frame["depression"].astype(float).mean()), 4) if len(frame) else None
