"""Records and frames between the data contract's canonical form and the store's rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mindpulse import contract as c
from mindpulse.store.schema import FEATURE_COLUMNS

#: Extra columns of a production frame, after the canonical ones.
PRODUCTION_EXTRA_COLUMNS = ("prediction", "probability", "model_version", "created_at", "prediction_id")
#: Columns of the archive export beyond the real CSV's 18.
EXPORT_EXTRA_COLUMNS = ("prediction_id", "prediction", "probability", "model_version", "created_at")


def frame_to_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a valid canonical frame as dicts of store columns (record_id for id; None for missing)."""
    columns = ["id", *FEATURE_COLUMNS, c.TARGET]
    subset = frame.loc[:, columns].astype(object)
    subset = subset.where(subset.notna(), None)
    rows = subset.to_dict("records")
    for row in rows:
        record_id = row.pop("id")
        row["record_id"] = None if record_id is None else int(record_id)
        target = row[c.TARGET]
        row[c.TARGET] = None if target is None else int(target)
        for name in FEATURE_COLUMNS:
            value = row[name]
            if isinstance(value, (np.floating, np.integer)):
                row[name] = value.item()
    return rows


def csv_dtypes(columns: list[str]) -> dict[str, Any]:
    """pandas dtypes for reading store columns from CSV (PostgreSQL's COPY) without a second pass."""
    dtypes: dict[str, Any] = {}
    for name in columns:
        spec = c.FIELD_BY_NAME.get(name)
        if name in ("record_id", "prediction", c.TARGET, "snapshot_id"):
            dtypes[name] = "Int64"
        elif name in ("prediction_id", "id"):
            dtypes[name] = "int64"
        elif name == "probability" or (spec is not None and spec.kind == "number"):
            dtypes[name] = float
        else:
            dtypes[name] = object
    return dtypes


def _int64(column: pd.Series) -> pd.Series:
    if isinstance(column.dtype, pd.Int64Dtype):
        return column  # exact already (a float round trip would cut ids beyond 2**53)
    return pd.to_numeric(column, errors="coerce").astype("Int64")


def typed_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """A production frame from store columns as fetched (any types): canonical columns with their dtypes, then the extras."""
    out = pd.DataFrame(index=pd.RangeIndex(len(raw)))
    raw = raw.reset_index(drop=True)
    for spec in c.FIELDS:
        column = raw["record_id" if spec.name == "id" else spec.name]
        if spec.kind in ("id", "target"):
            out[spec.name] = _int64(column)
        elif spec.kind == "number":
            out[spec.name] = pd.to_numeric(column, errors="coerce").astype(float)
        else:
            out[spec.name] = column.astype(object).where(column.notna(), None)
    out["prediction"] = _int64(raw["prediction"])
    out["probability"] = pd.to_numeric(raw["probability"], errors="coerce").astype(float)
    out["model_version"] = raw["model_version"].astype(object).where(raw["model_version"].notna(), None)
    out["created_at"] = _utc(raw["created_at"])
    out["prediction_id"] = raw["prediction_id"].astype("int64")
    for extra in raw.columns:
        if extra not in out.columns and extra != "record_id":
            out[extra] = _utc(raw[extra]) if extra.endswith("_at") else raw[extra]
    return out


def _utc(column: pd.Series) -> pd.Series:
    """Timestamps stored as naive UTC (text from SQLite and COPY, datetimes otherwise) as zone-aware UTC."""
    if column.empty:
        return pd.Series(pd.DatetimeIndex([], tz="UTC"), index=column.index)
    if isinstance(column.iloc[0], str):
        return pd.to_datetime(column, utc=True, format="ISO8601")
    return pd.to_datetime(column, utc=True)


def export_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A production frame in the real CSV's format (header, quoting) followed by the prediction columns."""
    raw = c.to_raw(frame.loc[:, list(c.CANONICAL_COLUMNS)])
    for name in EXPORT_EXTRA_COLUMNS:
        if name == "created_at":
            raw[name] = frame[name].map(lambda t: t.isoformat(timespec="microseconds") if pd.notna(t) else "")
        else:
            raw[name] = frame[name]
    return raw
