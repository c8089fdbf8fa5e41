"""The rows no model trains on: the fixed holdout, and a recent slice of each production snapshot.

The fixed holdout is drawn once, stratified and seeded, from the first data ever trained on
(20 %), and scores champion and challenger alike for the life of the registry. Training
frames exclude its rows, matched by content: a hash of the 13 feature values and the label
(ids are not used, because feedback files and the production store number rows independently
of the reference data; a row identical in every answer and label to a holdout row is left
out, which can only avoid leakage).

The recent slice: each production snapshot gives up a stratified, seeded share of its rows
(``RECENT_FRACTION``), always the same rows for the same snapshot, so that every retrain that
includes the snapshot leaves the same rows out, and the gate can score champion and
challenger on recent production data neither was trained on.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from mindpulse import contract as c
from mindpulse.io import atomic_write_csv, atomic_write_json

HOLDOUT_FRACTION = 0.2
RECENT_FRACTION = 0.2
#: Snapshots smaller than this give no recent slice (all their rows are trained on).
RECENT_MIN_ROWS = 10


class HoldoutError(ValueError):
    """The fixed holdout cannot be used (changed on disk, or too little data to draw it)."""


def row_keys(frame: pd.DataFrame) -> np.ndarray:
    """A content hash per row over the 13 features and the label (dtype-independent)."""
    columns = {}
    for name in (*c.FEATURES, c.TARGET):
        column = frame[name] if name in frame.columns else pd.Series(np.nan, index=frame.index)
        if name in c.CATEGORICAL_FEATURES:
            columns[name] = column.astype(object).where(column.notna(), "").astype(str)
        else:
            columns[name] = pd.to_numeric(column, errors="coerce").astype(float)
    return pd.util.hash_pandas_object(pd.DataFrame(columns), index=False).to_numpy()


def without_rows(frame: pd.DataFrame, rows: pd.DataFrame | None) -> pd.DataFrame:
    """``frame`` without the rows whose content matches a row of ``rows``."""
    if rows is None or rows.empty or frame.empty:
        return frame.reset_index(drop=True)
    keep = ~np.isin(row_keys(frame), row_keys(rows))
    return frame.loc[keep].reset_index(drop=True)


class FixedHoldout:
    """The fixed holdout kept as ``holdout.csv`` (canonical form) and ``holdout.json`` (its sha256)."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    @property
    def path(self) -> Path:
        return self.root / "holdout.csv"

    @property
    def meta_path(self) -> Path:
        return self.root / "holdout.json"

    def load(self) -> pd.DataFrame | None:
        """The holdout, or None before the first training; an error if it changed since it was drawn."""
        from mindpulse.data import frame_sha256, read_canonical

        if not self.path.is_file():
            return None
        frame = read_canonical(self.path)
        meta = json.loads(self.meta_path.read_text()) if self.meta_path.is_file() else {}
        if meta.get("sha256") and frame_sha256(frame) != meta["sha256"]:
            raise HoldoutError(f"{self.path}: content differs from the sha256 recorded when it was drawn; "
                               "the holdout must stay fixed (restore it or start a new registry)")
        return frame

    def sha256(self) -> str | None:
        if not self.meta_path.is_file():
            return None
        return json.loads(self.meta_path.read_text()).get("sha256")

    def draw(self, frame: pd.DataFrame, *, seed: int, fraction: float = HOLDOUT_FRACTION) -> pd.DataFrame:
        """Draw and write the holdout from ``frame`` (stratified, seeded); the caller holds the registry lock."""
        from sklearn.model_selection import train_test_split

        from mindpulse.data import frame_sha256, read_canonical

        y = frame[c.TARGET]
        counts = y.value_counts()
        if len(frame) < 50 or len(counts) < 2 or counts.min() < 10:
            raise HoldoutError(f"training data: {len(frame)} row(s) ({dict(counts)} by label); the first training "
                               "needs at least 50 labelled rows with 10 or more of each class to draw the holdout")
        _, held = train_test_split(frame, test_size=fraction, stratify=y.astype(int), random_state=seed)
        held = held.reindex(columns=list(c.CANONICAL_COLUMNS)).reset_index(drop=True)
        atomic_write_csv(self.path, held)
        written = read_canonical(self.path)
        atomic_write_json(self.meta_path, {
            "sha256": frame_sha256(written), "rows": len(written), "fraction": fraction, "seed": seed,
            "positive_rate": float(written[c.TARGET].astype(float).mean()),
            "drawn_from_sha256": frame_sha256(frame), "drawn_from_rows": len(frame),
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "matching": "rows are matched by a hash of the 13 features and the label (holdout.row_keys)",
        })
        return written

    def exclude(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` without the rows of the holdout (matched by content)."""
        return without_rows(frame, self.load())


def recent_slice(snapshot: pd.DataFrame, *, snapshot_id: int, seed: int,
                 fraction: float = RECENT_FRACTION) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split one snapshot's rows into (rows to train on, recent slice held out), the same way every time.

    Stratified by label when both labels have at least two rows; a snapshot of fewer than
    ``RECENT_MIN_ROWS`` rows is trained on whole.
    """
    from sklearn.model_selection import train_test_split

    frame = snapshot.reset_index(drop=True)
    if len(frame) < RECENT_MIN_ROWS:
        return frame, frame.iloc[0:0]
    y = frame[c.TARGET].astype(int)
    stratify = y if y.value_counts().min() >= 2 and y.nunique() == 2 else None
    train_idx, held_idx = train_test_split(np.arange(len(frame)), test_size=fraction, stratify=stratify,
                                           random_state=seed + int(snapshot_id))
    return frame.iloc[np.sort(train_idx)].reset_index(drop=True), frame.iloc[np.sort(held_idx)].reset_index(drop=True)
