"""Trends across runs: one row per run, read from the runs' own JSON records.

The figures come from each run folder's ``run_summary.json`` and its reports' JSON summaries
(``model_performance.json``, ``data_drift.json``), through :func:`mindpulse.monitoring.list_report_runs`:
no HTML is parsed and nothing is stored a second time, so the trends always agree with the
records and disappear with them when old runs are pruned.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

#: The columns of :func:`trend_frame`, in order.
COLUMNS: tuple[str, ...] = (
    "created_at", "dag_id", "run_id", "outcome", "drift_share", "labelled_rows",
    "roc_auc", "accuracy", "f1", "estimated_rows",
    "estimated_roc_auc", "estimated_roc_auc_lower", "estimated_roc_auc_upper",
    "estimated_accuracy", "estimated_accuracy_lower", "estimated_accuracy_upper",
    "estimated_f1", "estimated_f1_lower", "estimated_f1_upper", "estimate_flagged",
    "waiting_rows", "champion_before", "champion_after", "challenger",
    "realized_model_version", "estimated_model_version",
    "estimate_error_model_version", "estimate_error_rows", "estimate_error_roc_auc", "estimate_error_accuracy",
)
METRICS: tuple[str, ...] = ("roc_auc", "accuracy", "f1")
COUNT_COLUMNS: tuple[str, ...] = ("labelled_rows", "estimated_rows", "waiting_rows", "estimate_error_rows")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _row(entry: dict[str, Any]) -> dict[str, Any]:
    from mindpulse.steps import RunSummary

    summary = entry.get("summary") or RunSummary()
    folder = Path(entry["path"])
    reports = entry.get("reports") or {}
    performance = _read_json(folder / reports["model_performance"]["json"]) if "model_performance" in reports else {}
    retrain = "retrain" in str(entry.get("dag_id"))
    row: dict[str, Any] = {
        "created_at": entry.get("created_at"), "dag_id": entry.get("dag_id"), "run_id": entry.get("run_id"),
        "outcome": entry.get("outcome"),
        "drift_share": entry.get("drift_share") if entry.get("drift_share") is not None else summary.drift_share,
        "labelled_rows": performance.get("labelled_rows"),
        **{name: performance.get(name) for name in METRICS},
        "waiting_rows": summary.rows if retrain else None,
        "champion_before": summary.model_before, "champion_after": summary.model_after,
        "challenger": summary.challenger,
    }
    estimated = (performance.get("estimated") or {})
    unlabelled = estimated.get("unlabelled") or {}
    row["estimated_rows"] = unlabelled.get("rows")
    # Every figure names the model whose predictions it describes.
    versions = performance.get("model_versions") or {}
    row["realized_model_version"] = (next(iter(versions)) if len(versions) == 1 else
                                     ", ".join(f"{v} ({n})" for v, n in versions.items()) or None)
    row["estimated_model_version"] = unlabelled.get("model_version")
    # The estimate's error once outcomes arrived (realized minus estimated), for the version with the most labelled rows.
    checks = estimated.get("check_by_model_version") or {}
    version, check = next(iter(checks.items()), (None, {}))
    row["estimate_error_model_version"] = version
    row["estimate_error_rows"] = check.get("rows")
    for name in ("roc_auc", "accuracy"):
        row[f"estimate_error_{name}"] = ((check.get("metrics") or {}).get(name) or {}).get("gap")
    for name in METRICS:
        band = (unlabelled.get("metrics") or {}).get(name) or {}
        row[f"estimated_{name}"] = band.get("estimate")
        row[f"estimated_{name}_lower"] = band.get("lower")
        row[f"estimated_{name}_upper"] = band.get("upper")
    flagged = (estimated.get("check") or {}).get("flagged")
    row["estimate_flagged"] = ", ".join(flagged) if flagged else None
    return row


def trend_frame(root: str | Path) -> pd.DataFrame:
    """One row per pipeline run folder under ``root`` (the reports root or one DAG's folder), oldest first.

    Hand runs (a notebook rerun in JupyterLab, ``interactive__…``) are left out: they are not runs
    of the pipeline, and a preview's figures are not a trend.
    """
    from mindpulse.monitoring.index import list_report_runs
    from mindpulse.runs import is_hand_run

    rows = [_row(entry) for entry in list_report_runs(root) if not is_hand_run(Path(entry["path"]).name)]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True, errors="coerce", format="ISO8601")
    numeric = [c for c in COLUMNS if c not in ("created_at", "dag_id", "run_id", "outcome", "estimate_flagged",
                                               "champion_before", "champion_after", "challenger",
                                               "realized_model_version", "estimated_model_version",
                                               "estimate_error_model_version")]
    frame[numeric] = frame[numeric].apply(pd.to_numeric, errors="coerce")
    for name in COUNT_COLUMNS:  # whole numbers, also beside a run without a count (not 4464.0)
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("Float64").round().astype("Int64")
    return frame.sort_values("created_at", kind="mergesort").reset_index(drop=True)


def performance_long(frame: pd.DataFrame) -> pd.DataFrame:
    """Realized and estimated figures in long form (created_at, metric, kind, value, lower, upper), for plotting."""
    parts = []
    for name in METRICS:
        realized = frame[["created_at", name]].rename(columns={name: "value"}).assign(metric=name, kind="realized")
        estimated = frame[["created_at", f"estimated_{name}", f"estimated_{name}_lower", f"estimated_{name}_upper"]]
        estimated = estimated.rename(columns={f"estimated_{name}": "value", f"estimated_{name}_lower": "lower",
                                              f"estimated_{name}_upper": "upper"}).assign(metric=name, kind="estimated")
        parts += [realized, estimated]
    long = pd.concat(parts, ignore_index=True)
    return long.dropna(subset=["value"]).reset_index(drop=True)


def retrain_outcomes(frame: pd.DataFrame) -> pd.DataFrame:
    """The retrain runs: when, outcome, challenger and the champion after each."""
    retrain = frame[frame["dag_id"].astype(str).str.contains("retrain")]
    return retrain[["created_at", "run_id", "outcome", "challenger", "champion_before", "champion_after",
                    "waiting_rows", "drift_share"]].reset_index(drop=True)
