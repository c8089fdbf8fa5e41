"""Training data that accumulates, and the record of exactly what each model was trained on.

A retrain trains on everything labelled so far: the reference data, every archived production
snapshot (those of refused retrains too: their rows are not lost) and the run's own snapshot,
optionally limited to the snapshots claimed within ``training_window_days``. Each snapshot
gives up its recent slice (:func:`mindpulse.holdout.recent_slice`): those rows are never trained
on, and the newest of them are the gate's recent production data.

The lineage record kept in each model's metadata (``metadata["lineage"]``)::

    {"run": {"dag_id": ..., "run_id": ...} or None,
     "reference": {"path": ..., "sha256": ..., "rows": ...},
     "snapshots": [{"id": ..., "rows": ..., "sha256": ..., "trained_rows": ..., "recent_rows": ...}, ...],
     "window": {"days": ...} or None,
     "seed": ...,                       # the seed of the recent slices
     "recent": {"snapshots": [...], "rows": ...},
     "extra": {"path": ..., "sha256": ..., "rows": ...}}   # only from 'mindpulse train --extra FILE'

``rows`` and ``sha256`` of a snapshot describe all its rows (canonical columns, in id order);
from them and the seed, the training frame of any model can be rebuilt and checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd

from mindpulse import contract as c
from mindpulse.holdout import recent_slice

#: The gate's recent slice takes the held-out rows of the newest snapshots until it has this many.
RECENT_TARGET_ROWS = 200


@dataclass
class SnapshotPart:
    """One production snapshot's rows, split into what is trained on and the recent slice."""

    id: int
    claimed_at: datetime | None
    rows: pd.DataFrame
    trained: pd.DataFrame
    recent: pd.DataFrame

    def record(self) -> dict[str, Any]:
        from mindpulse.data import frame_sha256

        return {"id": self.id, "rows": len(self.rows), "sha256": frame_sha256(self.rows),
                "trained_rows": len(self.trained), "recent_rows": len(self.recent),
                "claimed_at": self.claimed_at.isoformat(timespec="seconds") if self.claimed_at else None}


@dataclass
class TrainingData:
    """What a retrain trains on, what the gate scores on, and the lineage that records it."""

    reference: pd.DataFrame
    parts: list[SnapshotPart]
    lineage: dict[str, Any]
    frame: pd.DataFrame = field(repr=False)
    recent: pd.DataFrame = field(repr=False)

    def table(self) -> pd.DataFrame:
        """One row per source: rows, rows trained on, rows held out as recent data, depression rate."""
        rows = [{"source": "reference", "rows": len(self.reference), "trained_rows": len(self.reference),
                 "recent_rows": 0, "depression_rate": _rate(self.reference)}]
        rows += [{"source": f"snapshot {p.id}", "rows": len(p.rows), "trained_rows": len(p.trained),
                  "recent_rows": len(p.recent), "depression_rate": _rate(p.rows)} for p in self.parts]
        rows.append({"source": "training data", "rows": len(self.frame), "trained_rows": len(self.frame),
                     "recent_rows": len(self.recent), "depression_rate": _rate(self.frame)})
        return pd.DataFrame(rows)


def _rate(frame: pd.DataFrame) -> float | None:
    return round(float(frame[c.TARGET].astype(float).mean()), 4) if len(frame) else None


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.reindex(columns=list(c.CANONICAL_COLUMNS)).reset_index(drop=True)


def reference_record(settings: Any, reference: pd.DataFrame) -> dict[str, Any]:
    from mindpulse.data import frame_sha256

    return {"path": str(settings.reference_path), "sha256": frame_sha256(_canonical(reference)), "rows": len(reference)}


def snapshot_part(store: Any, snapshot: Any, *, seed: int) -> SnapshotPart:
    """A snapshot's rows from the store, split the same way every time."""
    rows = _canonical(store.snapshot_frame(snapshot.id))
    trained, recent = recent_slice(rows, snapshot_id=snapshot.id, seed=seed)
    return SnapshotPart(snapshot.id, snapshot.claimed_at, rows, trained, recent)


def included_snapshots(store: Any, current: Any | None, *, window_days: int | None,
                       now: datetime | None = None) -> list[Any]:
    """Archived snapshots (within the window) and ``current``, oldest first."""
    now = now or datetime.now(timezone.utc)
    since = now - timedelta(days=window_days) if window_days else None
    chosen = []
    for snapshot in store.snapshots():
        if current is not None and snapshot.id == current.id:
            chosen.append(snapshot)
        elif snapshot.state == "archived" and (since is None or _aware(snapshot.claimed_at) >= since):
            chosen.append(snapshot)
    return sorted(chosen, key=lambda s: s.id)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def assemble(settings: Any, store: Any, reference: pd.DataFrame, current: Any | None, *,
             run: dict[str, str] | None, seed: int, window_days: int | None = None) -> TrainingData:
    """The reference plus every included snapshot's trained rows, the recent slice, and the lineage."""
    parts = [snapshot_part(store, s, seed=seed) for s in included_snapshots(store, current, window_days=window_days)]
    reference = _canonical(reference)
    frame = pd.concat([reference, *[p.trained for p in parts]], ignore_index=True)
    recent_parts, recent_ids = [], []
    for part in reversed(parts):  # newest first
        if sum(len(r) for r in recent_parts) >= RECENT_TARGET_ROWS:
            break
        if len(part.recent):
            recent_parts.append(part.recent)
            recent_ids.append(part.id)
    recent = pd.concat(recent_parts, ignore_index=True) if recent_parts else reference.iloc[0:0]
    lineage = {
        "run": run,
        "reference": reference_record(settings, reference),
        "snapshots": [p.record() for p in parts],
        "window": {"days": window_days} if window_days else None,
        "seed": seed,
        "recent": {"snapshots": recent_ids, "rows": len(recent)},
    }
    return TrainingData(reference, parts, lineage, frame, recent)


def data_key(lineage: dict[str, Any] | None) -> tuple | None:
    """What identifies a training dataset: the reference's sha256 and the non-empty snapshots' ids and sha256."""
    if not lineage or not lineage.get("reference"):
        return None
    snapshots = tuple(sorted((s["id"], s["sha256"]) for s in lineage.get("snapshots") or [] if s.get("rows")))
    return (lineage["reference"].get("sha256"), snapshots, lineage.get("seed"))


def same_data(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Whether two lineage records describe the same training data."""
    key = data_key(a)
    return key is not None and key == data_key(b)


def describe(lineage: dict[str, Any] | None) -> str:
    """The lineage in one line: reference rows and sha, then each snapshot's id and rows."""
    if not lineage:
        return "no lineage record"
    ref = lineage.get("reference") or {}
    text = f"reference ({ref.get('rows')} rows, sha256 {str(ref.get('sha256'))[:12]})"
    for s in lineage.get("snapshots") or []:
        text += f" + snapshot {s['id']} ({s.get('trained_rows', s['rows'])} of {s['rows']} rows)"
    return text


def recent_training_rows(store: Any, lineage: dict[str, Any], *, min_rows: int) -> tuple[pd.DataFrame, list[int]]:
    """The trained rows of the newest snapshots in ``lineage``, newest first, until there are ``min_rows``.

    What the champion learned most recently; empty when its lineage holds fewer production rows.
    """
    from mindpulse.store.production_store import SnapshotError

    seed = int(lineage.get("seed") or 0)
    frames, ids = [], []
    for record in reversed(lineage.get("snapshots") or []):
        if not record.get("rows"):
            continue
        try:
            snapshot = store.get_snapshot(record["id"])
            part = snapshot_part(store, snapshot, seed=seed)
        except SnapshotError:
            continue
        frames.append(part.trained)
        ids.append(record["id"])
        if sum(len(f) for f in frames) >= min_rows:
            return pd.concat(frames, ignore_index=True), ids
    return pd.DataFrame(columns=list(c.CANONICAL_COLUMNS)), []
