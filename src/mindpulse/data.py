"""The reference data: generating it, ingesting a user's real CSV, and describing what is there.

The reference data is kept in the canonical form at ``settings.reference_path``; the raw input
it came from is kept unchanged under ``data/raw/`` (synthetic) or wherever the user keeps it.
Every file is replaced atomically: a failed ingest leaves the previous reference in place.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from mindpulse import contract as c
from mindpulse.io import atomic_write_csv, atomic_write_json
from mindpulse.settings import Settings

SYNTHETIC_RAW_NAME = "student_depression_synthetic.csv"


@dataclass
class ReferenceSummary:
    """What an ingest or a generation wrote."""

    source: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    city_grouped: int
    positive_rate: float
    sha256: str
    reference_path: str
    rejects_path: str | None
    created_at: str
    synthetic: bool = False  # made by generate_reference, not ingested from a user's file

    def describe(self) -> str:
        lines = [
            f"Reference data: {self.rows_loaded} of {self.rows_read} rows from {self.source}",
            f"  written to {self.reference_path} (sha256 {self.sha256[:12]}, depression rate {self.positive_rate:.3f})",
        ]
        if self.city_grouped:
            lines.append(f"  {self.city_grouped} city value(s) outside the survey's list grouped as 'Other'")
        if self.rows_rejected:
            lines.append(f"  {self.rows_rejected} row(s) set aside in {self.rejects_path}, each with its problems")
        else:
            lines.append("  no row set aside")
        return "\n".join(lines)


def frame_sha256(frame: pd.DataFrame) -> str:
    """A stable hash of a frame's content (column names, order and values)."""
    digest = hashlib.sha256()
    digest.update(",".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def load_reference(settings: Settings) -> pd.DataFrame:
    """The reference data in the canonical form; a clear error when there is none yet."""
    path = settings.reference_path
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no reference data yet; run 'mindpulse generate reference' or 'mindpulse ingest PATH'"
        )
    return read_canonical(path)


def read_canonical(path: Path) -> pd.DataFrame:
    """Read a canonical CSV written by MindPulse, with the contract's dtypes."""
    dtypes = {}
    for spec in c.FIELDS:
        if spec.kind in ("category", "text"):
            dtypes[spec.name] = object
        elif spec.kind == "number":
            dtypes[spec.name] = float
        else:
            dtypes[spec.name] = "Int64"
    frame = pd.read_csv(path, dtype=dtypes, keep_default_na=True)
    missing = [col for col in c.CANONICAL_COLUMNS if col not in frame.columns]
    if missing:
        raise c.ContractError([c.Problem("header", m, "(missing)", "a canonical MindPulse file") for m in missing], str(path))
    return frame


def _write_reference(settings: Settings, result: c.ValidationResult, source: str, rows_read: int, *,
                     synthetic: bool = False) -> ReferenceSummary:
    if result.n_valid == 0:
        raise c.ContractError(result.problems or [c.Problem("header", "(file)", "(no rows)", "at least one valid row")], source)
    rejects_path = None
    if result.n_rejected:
        rejects_path = settings.rejects_dir / "reference_rejects.csv"
        atomic_write_csv(rejects_path, result.rejected)
    valid = result.valid.reset_index(drop=True)
    atomic_write_csv(settings.reference_path, valid)
    summary = ReferenceSummary(
        source=source,
        rows_read=rows_read,
        rows_loaded=result.n_valid,
        rows_rejected=result.n_rejected,
        city_grouped=result.city_grouped,
        positive_rate=float(valid[c.TARGET].astype(float).mean()),
        sha256=frame_sha256(valid),
        reference_path=str(settings.reference_path),
        rejects_path=str(rejects_path) if rejects_path else None,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        synthetic=synthetic,
    )
    atomic_write_json(settings.data_dir / "reference.json", asdict(summary))
    return summary


def ingest_reference(settings: Settings, path: str | Path, *, strict: bool = False) -> ReferenceSummary:
    """Validate a CSV in the real file's format and make it the reference data.

    ``strict``: any bad row rejects the whole file (nothing is written). Otherwise bad rows are
    set aside in ``data/rejects/reference_rejects.csv`` with their problems.
    """
    return _load_reference(settings, path, strict=strict, synthetic=False)


def _load_reference(settings: Settings, path: str | Path, *, strict: bool, synthetic: bool) -> ReferenceSummary:
    raw, source = c.read_table(path)
    result = c.validate_frame(raw, require_target=True, source=source)
    if strict:
        result.raise_if_rejected(source)
    return _write_reference(settings, result, source, rows_read=result.n_valid + result.n_rejected, synthetic=synthetic)


def reference_origin(settings: Settings) -> str | None:
    """Where the reference data came from: ``'synthetic'``, ``'ingested'``, or None when there is none.

    A reference written before its record said so is synthetic when it was loaded from the
    generator's raw file.
    """
    if not settings.reference_path.is_file():
        return None
    meta = settings.data_dir / "reference.json"
    try:
        info = json.loads(meta.read_text())
    except (OSError, ValueError):
        return "ingested"  # no record of a generation: treat it as the user's
    synthetic = info.get("synthetic", info.get("source") == str(settings.raw_dir / SYNTHETIC_RAW_NAME))
    return "synthetic" if synthetic else "ingested"


def generate_reference(settings: Settings, *, rows: int = 27_901, seed: int = 42) -> ReferenceSummary:
    """Generate synthetic reference data, keep the raw file, and load it through the contract."""
    from mindpulse.synthetic import generate

    data = generate(rows, seed=seed)
    raw_path = settings.raw_dir / SYNTHETIC_RAW_NAME
    atomic_write_csv(raw_path, data.raw)
    return _load_reference(settings, raw_path, strict=False, synthetic=True)


def generate_production(
    settings: Settings,
    *,
    rows: int,
    seed: int,
    scenario: str = "none",
    strength: float = 1.0,
    columns: tuple[str, ...] = (),
    label_shift: float = 0.0,
    output: Path | None = None,
) -> Path:
    """Write labelled synthetic production traffic (real CSV format) for feedback or tests."""
    from mindpulse.synthetic import generate

    data = generate(rows, seed=seed, scenario=scenario, strength=strength, columns=columns,
                    label_shift=label_shift, id_start=1_000_000 + seed * 100_000)
    path = output or settings.raw_dir / f"production_{scenario}_{seed}.csv"
    atomic_write_csv(path, data.raw)
    return Path(path)


def describe_state(settings: Settings) -> str:
    """Settings in force and the data present, for ``mindpulse info``."""
    lines = ["MindPulse: a screening aid, never a diagnosis.", "", "Settings (MINDPULSE_* environment variables):"]
    for name, value in settings.model_dump().items():
        shown = "***" if value and any(k in name for k in ("password", "secret")) else value
        lines.append(f"  {name:<24} {shown}")
    meta = settings.data_dir / "reference.json"
    lines.append("")
    if meta.is_file():
        info = json.loads(meta.read_text())
        lines.append(f"Reference data: {info['rows_loaded']} rows from {info['source']} "
                     f"(sha256 {info['sha256'][:12]}, depression rate {info['positive_rate']:.3f}, {info['created_at']})")
    else:
        lines.append("Reference data: none yet (run 'mindpulse generate reference' or 'mindpulse ingest PATH')")
    return "\n".join(lines)
