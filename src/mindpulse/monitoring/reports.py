"""The three Evidently reports: data quality, data drift and model performance.

Each writes ``<kind>.html`` (Evidently's self-contained page, ~4 MB) and then ``<kind>.json``
(the figures the pipeline and the dashboard read, so nobody parses HTML) into the folder the
caller chooses, both atomically; the JSON is written last, so a reader that finds it also finds
the HTML. Inputs larger than ``settings.monitoring_sample_cap`` rows are sampled (seeded) first,
and the summary says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mindpulse import contract as c
from mindpulse.io import atomic_path, atomic_write_json
from mindpulse.monitoring import frames as fr
from mindpulse.monitoring import performance as perf
from mindpulse.monitoring.drift import compute_drift
from mindpulse.settings import Settings, get_settings

DATA_QUALITY = "data_quality"
DATA_DRIFT = "data_drift"
MODEL_PERFORMANCE = "model_performance"
KINDS: tuple[str, ...] = (DATA_QUALITY, DATA_DRIFT, MODEL_PERFORMANCE)
#: Classification of the labels the model actually issued (Evidently thresholds the
#: probabilities at 0.5 instead whenever a classification also names them).
ISSUED_LABELS = "issued_labels"


@dataclass(frozen=True)
class ReportResult:
    """One report's files and the figures of its JSON summary."""

    kind: str
    html_path: Path
    json_path: Path
    summary: dict[str, Any]


def data_quality_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    out_dir: str | Path,
    *,
    sample_cap: int | None = None,
    seed: int | None = None,
    settings: Settings | None = None,
) -> ReportResult:
    """Evidently's data summary of ``current`` beside ``reference``: counts, missing values, ranges, new categories."""
    from evidently import Dataset, Report
    from evidently.presets import DataSummaryPreset

    settings = settings or get_settings()
    cap, seed = _cap_and_seed(settings, sample_cap, seed)
    _require_rows(current, "current")
    _require_rows(reference, "reference")
    columns = fr.compared_columns(reference, current)
    ref, ref_sample = fr.sample(reference, cap, seed)
    cur, cur_sample = fr.sample(current, cap, seed)
    ref, cur = fr.prepare(ref, columns), fr.prepare(cur, columns)
    definition = fr.data_definition(columns)
    snapshot = Report([DataSummaryPreset(columns=columns)]).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
    )
    evidently = _by_metric(snapshot.dict())
    summary = _header(DATA_QUALITY, cur_sample, ref_sample)
    summary["dataset"] = {  # of the rows Evidently was given (the sample, when there was one)
        "rows": _count(evidently.get(("RowCount", None))),
        "columns": len(columns),
        "duplicated_rows": _count(evidently.get(("DuplicatedRowCount", None))),
        "empty_rows": _count(evidently.get(("EmptyRowsCount", None))),
        "empty_columns": _count(evidently.get(("EmptyColumnsCount", None))),
        "constant_columns": _count(evidently.get(("ConstantColumnsCount", None))),
        "almost_constant_columns": _count(evidently.get(("AlmostConstantColumnsCount", None))),
        "missing_cells": _count(_get(evidently.get(("DatasetMissingValueCount", None)), "count")),
        "missing_share": _get(evidently.get(("DatasetMissingValueCount", None)), "share"),
    }
    summary["columns"] = {name: _column_quality(name, cur, ref, evidently) for name in columns}
    summary["new_category_columns"] = [n for n, col in summary["columns"].items() if col.get("new_values")]
    return _write(snapshot, out_dir, DATA_QUALITY, summary)


def data_drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    out_dir: str | Path,
    *,
    threshold: float | None = None,
    prediction_threshold: float | None = None,
    min_rows: int | None = None,
    sample_cap: int | None = None,
    seed: int | None = None,
    settings: Settings | None = None,
) -> ReportResult:
    """Evidently's per-column drift and the drift decision (see :mod:`mindpulse.monitoring.drift`)."""
    settings = settings or get_settings()
    _require_rows(current, "current")
    _require_rows(reference, "reference")
    result = compute_drift(reference, current, threshold=threshold, prediction_threshold=prediction_threshold,
                           min_rows=min_rows, sample_cap=sample_cap, seed=seed, settings=settings,
                           run_when_short=True)
    if result.snapshot is None:  # nothing could be compared: no page to show
        raise ValueError(result.decision.reason)
    decision = result.decision
    summary = _header(DATA_DRIFT, result.current_sample, result.reference_sample)
    summary.update(decision.to_dict())
    summary["columns"] = result.columns
    summary["methods"] = {"numbers": "Wasserstein distance normed by the reference's std (drift when >= 0.1)",
                          "categories and 0/1 labels": "Jensen-Shannon distance (drift when >= 0.1)"}
    return _write(result.snapshot, out_dir, DATA_DRIFT, summary)


def model_performance_report(
    current: pd.DataFrame,
    out_dir: str | Path,
    *,
    reference: pd.DataFrame | None = None,
    sample_cap: int | None = None,
    seed: int | None = None,
    min_group_rows: int = perf.MIN_GROUP_ROWS,
    settings: Settings | None = None,
) -> ReportResult:
    """Classification quality of labelled predictions (columns depression, prediction, probability), overall and per group.

    Rows without a label, prediction or probability are left out (and counted). ``reference``
    (e.g. the model's holdout predictions) is shown beside the current figures when given.
    """
    from evidently import BinaryClassification, Dataset, Report
    from evidently.metrics import LogLoss, RocAuc
    from evidently.presets import ClassificationPreset

    settings = settings or get_settings()
    cap, seed = _cap_and_seed(settings, sample_cap, seed)
    fr.require_columns(current, ("gender", "age"), "current")
    rows, unlabelled = perf.labelled_rows(current, "current")
    if rows.empty:
        raise ValueError(f"current: no labelled rows among {len(current)} (each needs depression, prediction and "
                         "probability); feedback must arrive before performance can be measured")
    rows, cur_sample = fr.sample(rows, cap, seed)
    ref_rows, ref_sample = None, None
    if reference is not None:
        ref_rows, _ = perf.labelled_rows(reference, "reference")
        ref_rows, ref_sample = fr.sample(ref_rows, cap, seed) if len(ref_rows) else (None, None)

    outputs = [c.TARGET, fr.PREDICTION, fr.PROBABILITY]
    definition = fr.data_definition([], classification=[
        BinaryClassification(target=c.TARGET, prediction_labels=fr.PREDICTION, prediction_probas=fr.PROBABILITY),
        BinaryClassification(name=ISSUED_LABELS, target=c.TARGET, prediction_labels=fr.PREDICTION),
    ])
    frames = [rows] + ([ref_rows] if ref_rows is not None else [])
    both_classes = all(frame[c.TARGET].nunique() == 2 for frame in frames)
    metrics: list[Any] = [ClassificationPreset(classification_name=ISSUED_LABELS)]
    if both_classes:  # ROC-AUC needs both classes
        metrics += [RocAuc(), LogLoss()]
    snapshot = Report(metrics).run(
        current_data=Dataset.from_pandas(rows[outputs], data_definition=definition),
        reference_data=None if ref_rows is None else Dataset.from_pandas(ref_rows[outputs], data_definition=definition),
    )
    evidently = _by_metric(snapshot.dict())
    summary = _header(MODEL_PERFORMANCE, cur_sample, ref_sample)
    summary.update({
        "labelled_rows": int(len(rows)),
        "unlabelled_rows_left_out": unlabelled,
        "positive_rate": float(rows[c.TARGET].mean()),
        "predicted_positive_rate": float(rows[fr.PREDICTION].mean()),
        "accuracy": evidently.get(("Accuracy", None)),
        "precision": evidently.get(("Precision", None)),
        "recall": evidently.get(("Recall", None)),
        "f1": evidently.get(("F1Score", None)),
        "roc_auc": evidently.get(("RocAuc", None)),
        "log_loss": evidently.get(("LogLoss", None)),
        "tpr": evidently.get(("TPR", None)),
        "tnr": evidently.get(("TNR", None)),
        "fpr": evidently.get(("FPR", None)),
        "fnr": evidently.get(("FNR", None)),
        "confusion": perf.confusion(rows[c.TARGET].to_numpy(), rows[fr.PREDICTION].to_numpy()),
        "roc_auc_note": None if both_classes else "ROC-AUC needs both classes among the labels; it is not computed",
        "groups": perf.group_figures(rows, min_group_rows=min_group_rows),
        "model_versions": perf.version_counts(rows),
        "by_model_version": perf.figures_by_version(rows),
        "reference": None if ref_rows is None else perf.classification_figures(ref_rows),
    })
    return _write(snapshot, out_dir, MODEL_PERFORMANCE, summary)


# --- helpers --------------------------------------------------------------------------------------

def _cap_and_seed(settings: Settings, sample_cap: int | None, seed: int | None) -> tuple[int, int]:
    cap = settings.monitoring_sample_cap if sample_cap is None else int(sample_cap)
    if cap < 1:
        raise ValueError(f"sample_cap: got {cap}, expected a whole number of at least 1")
    return cap, settings.seed if seed is None else int(seed)


def _require_rows(frame: pd.DataFrame, name: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name}: got {type(frame).__name__}, expected a pandas DataFrame in the canonical form")
    if frame.empty:
        raise ValueError(f"{name}: no rows; a report needs at least one")


def _header(kind: str, current: fr.Sample | None, reference: fr.Sample | None) -> dict[str, Any]:
    return {
        "kind": kind,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "evidently_version": fr.evidently_version(),
        "html": f"{kind}.html",
        "rows": None if current is None else current.rows,
        "reference_rows": None if reference is None else reference.rows,
        "sampled": bool((current and current.sampled) or (reference and reference.sampled)),
        "sampling": {"current": None if current is None else current.to_dict(),
                     "reference": None if reference is None else reference.to_dict()},
    }


def _by_metric(result: dict[str, Any]) -> dict[tuple[str, str | None], Any]:
    """Each metric's value of ``snapshot.dict()`` keyed by (metric type, column)."""
    out: dict[tuple[str, str | None], Any] = {}
    for metric in result["metrics"]:
        config = metric.get("config", {})
        kind = str(config.get("type", "")).rsplit(":", 1)[-1]
        out.setdefault((kind, config.get("column")), _plain(metric.get("value")))
    return out


def _column_quality(name: str, cur: pd.DataFrame, ref: pd.DataFrame, evidently: dict) -> dict[str, Any]:
    """Missing share and mean or categories of one column, current beside reference."""
    out: dict[str, Any] = {
        "kind": "number" if name in fr.NUMERIC_COLUMNS else "label" if name in fr.LABEL_COLUMNS else "category",
        "missing_share": _get(evidently.get(("MissingValueCount", name)), "share"),
        "reference_missing_share": float(ref[name].isna().mean()),
    }
    if name in fr.NUMERIC_COLUMNS:
        out.update({
            "mean": evidently.get(("MeanValue", name)),
            "reference_mean": _plain(ref[name].mean()),
            "min": evidently.get(("MinValue", name)),
            "max": evidently.get(("MaxValue", name)),
        })
    elif name in fr.LABEL_COLUMNS:
        out.update({
            "positive_share": _plain((cur[name].dropna() == "1").mean()),
            "reference_positive_share": _plain((ref[name].dropna() == "1").mean()),
        })
    else:
        seen = set(ref[name].dropna().unique())
        counts = cur[name].value_counts()
        out.update({
            "distinct_values": int(counts.size),
            "most_common": None if counts.empty else str(counts.index[0]),
            "new_values": sorted(str(v) for v in counts.index if v not in seen)[:10],
        })
    return out


def _count(value: Any) -> int | None:
    return None if value is None else int(round(float(value)))


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else None


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars made Python numbers, NaN made None, containers walked."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, Path):
        return str(value)
    return value


def _write(snapshot: Any, out_dir: str | Path, kind: str, summary: dict[str, Any]) -> ReportResult:
    out_dir = Path(out_dir)
    html_path, json_path = out_dir / f"{kind}.html", out_dir / f"{kind}.json"
    with atomic_path(html_path) as tmp:
        snapshot.save_html(str(tmp))  # save_html silently writes nothing when given a Path
        if tmp.stat().st_size == 0:
            raise RuntimeError(f"{html_path}: Evidently wrote an empty report")
    summary = _plain(summary)
    atomic_write_json(json_path, summary)
    return ReportResult(kind, html_path, json_path, summary)
