"""Training data that accumulates, and the record of exactly what each model was trained on.

A retrain trains on everything labelled so far: the reference data, every archived production
snapshot (those of refused retrains too: their rows are not lost) and the run's own snapshot,
optionally limited to the snapshots claimed within ``training_window_days``. A snapshot in
quarantine (``mindpulse store quarantine``) is left out until it is released. Each snapshot
gives up its recent slice (:func:`mindpulse.holdout.recent_slice`): those rows are never trained
on, and the newest of them are the gate's recent production data.

The lineage record kept in each model's metadata (``metadata["lineage"]``)::

    {"run": {"dag_id": ..., "run_id": ...} or None,
     "reference": {"path": ..., "sha256": ..., "rows": ...},
     "snapshots": [{"id": ..., "rows": ..., "sha256": ..., "trained_rows": ..., "recent_rows": ...}, ...],
     "window": {"days": ...} or None,
     "seed": ...,                       # the seed of the recent slices
     "recent": {"snapshots": [...], "rows": ...},
     "quarantined": [{"id": ..., "reason": ..., "by": ..., "at": ...}, ...],   # snapshots left out
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
    #: rows not claimed yet (a preview): ``id`` is the one the next claim is expected to get
    pending: bool = False

    @property
    def source(self) -> str:
        return f"pending rows (snapshot {self.id} once claimed)" if self.pending else f"snapshot {self.id}"

    def record(self) -> dict[str, Any]:
        from mindpulse.data import frame_sha256

        out = {"id": self.id, "rows": len(self.rows), "sha256": frame_sha256(self.rows),
               "trained_rows": len(self.trained), "recent_rows": len(self.recent),
               "claimed_at": self.claimed_at.isoformat(timespec="seconds") if self.claimed_at else None}
        return {**out, "pending": True} if self.pending else out


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
        rows += [{"source": p.source, "rows": len(p.rows), "trained_rows": len(p.trained),
                  "recent_rows": len(p.recent), "depression_rate": _rate(p.rows)} for p in self.parts if len(p.rows)]
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


def pending_part(store: Any, pending: pd.DataFrame, *, seed: int) -> SnapshotPart:
    """Rows not claimed yet, split as the next claim's snapshot would be (a preview: same counts)."""
    rows = _canonical(pending)
    next_id = max((s.id for s in store.snapshots()), default=0) + 1
    trained, recent = recent_slice(rows, snapshot_id=next_id, seed=seed)
    return SnapshotPart(next_id, None, rows, trained, recent, pending=True)


def included_snapshots(store: Any, current: Any | None, *, window_days: int | None,
                       now: datetime | None = None) -> list[Any]:
    """Archived snapshots (within the window, not in quarantine) and ``current``, oldest first."""
    now = now or datetime.now(timezone.utc)
    since = now - timedelta(days=window_days) if window_days else None
    quarantined = store.quarantined()
    chosen = []
    for snapshot in store.snapshots():
        if current is not None and snapshot.id == current.id:
            chosen.append(snapshot)
        elif (snapshot.state == "archived" and snapshot.id not in quarantined
              and (since is None or _aware(snapshot.claimed_at) >= since)):
            chosen.append(snapshot)
    return sorted(chosen, key=lambda s: s.id)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def assemble(settings: Any, store: Any, reference: pd.DataFrame, current: Any | None, *,
             run: dict[str, str] | None, seed: int, window_days: int | None = None,
             pending: pd.DataFrame | None = None) -> TrainingData:
    """The reference plus every included snapshot's trained rows, the recent slice, and the lineage.

    ``current``: the run's claimed snapshot. ``pending`` (with no ``current``): the rows a claim
    would take now, as a preview shows them; the committed run and the preview go through here
    both, so they count the same rows.
    """
    parts = [snapshot_part(store, s, seed=seed) for s in included_snapshots(store, current, window_days=window_days)]
    if current is None and pending is not None:
        parts.append(pending_part(store, pending, seed=seed))
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
        "quarantined": [q.record() for _, q in sorted(store.quarantined().items())],
    }
    return TrainingData(reference, parts, lineage, frame, recent)


def data_key(lineage: dict[str, Any] | None) -> tuple | None:
    """What identifies a training dataset: the reference's sha256, the non-empty snapshots' ids and sha256,
    the seed of their recent slices, and the sha256 of an extra file (``mindpulse train --extra``)."""
    if not lineage or not lineage.get("reference"):
        return None
    snapshots = tuple(sorted((s["id"], s["sha256"]) for s in lineage.get("snapshots") or [] if s.get("rows")))
    return (lineage["reference"].get("sha256"), snapshots, lineage.get("seed"), (lineage.get("extra") or {}).get("sha256"))


def same_data(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Whether two lineage records describe the same training data."""
    key = data_key(a)
    return key is not None and key == data_key(b)


def same_training(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Whether two training records (:func:`training_key`) describe the same data and settings."""
    key = training_key(a)
    return key is not None and key == training_key(b)


def training_key(record: dict[str, Any] | None) -> tuple | None:
    """What decides a trained model: the data (:func:`data_key`) and the settings that change training.

    ``record``: ``{"lineage": ..., "settings": {"seed", "folds", "candidates", "max_rows"}}``, as
    :func:`mindpulse.train.training_record` gives it for a model's metadata or a run about to train.
    """
    if not record:
        return None
    data = data_key(record.get("lineage"))
    settings = record.get("settings")
    if data is None or not settings:
        return None
    caps = settings.get("max_rows") or {}
    return (data, settings.get("seed"), settings.get("folds"), tuple(sorted(settings.get("candidates") or ())),
            tuple(sorted((str(k), v) for k, v in caps.items())))


def describe(lineage: dict[str, Any] | None) -> str:
    """The lineage in one line: reference rows and sha, then each non-empty snapshot's id and rows, and
    the snapshots left out in quarantine."""
    if not lineage:
        return "no lineage record"
    ref = lineage.get("reference") or {}
    text = f"reference ({ref.get('rows')} rows, sha256 {str(ref.get('sha256'))[:12]})"
    for s in lineage.get("snapshots") or []:
        if not s.get("rows"):
            continue  # an empty snapshot adds nothing
        what = "pending rows" if s.get("pending") else f"snapshot {s['id']}"
        text += f" + {what} ({s.get('trained_rows', s['rows'])} of {s['rows']} rows)"
    quarantined = [str(q["id"]) for q in lineage.get("quarantined") or []]
    if quarantined:
        text += f"; snapshot {', '.join(quarantined)} left out (quarantined)"
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
