"""The reporting run's label-free estimate: CBPE (see :mod:`mindpulse.monitoring.estimation`) for the newest
unlabelled predictions, and the same estimate checked against the labelled predictions.

Outcomes in student screening arrive late and rarely: the newest predictions have none yet. The
estimate for them uses the probabilities the champion logged when it served them (calibrated by
training). The labelled predictions of the same run are estimated too, as if their labels were
not known, and compared with what their labels realized: a gap there says the probabilities no
longer describe the students (label or concept shift), so the estimate for the newer rows is not
to be trusted either.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from mindpulse.pipeline.records import Run
from mindpulse.pipeline.sources import _store

UNLABELLED_DATA_NAME = "unlabelled_data.parquet"


def unlabelled_data(run: Run) -> pd.DataFrame:
    """The newest predictions without an outcome (up to ``monitoring_sample_cap``), frozen in the run folder on first use."""
    path = run.dir / UNLABELLED_DATA_NAME
    if path.is_file():
        return pd.read_parquet(path)
    recent = _store(run.settings).recent_predictions(limit=run.settings.monitoring_sample_cap)
    frame = recent[recent["depression"].isna() & recent["probability"].notna() & recent["prediction"].notna()]
    frame = frame.sort_values("prediction_id").reset_index(drop=True)
    from mindpulse.io import atomic_path

    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)
    return frame


def estimate_for_run(run: Run, labelled: pd.DataFrame) -> dict[str, Any]:
    """The estimate for the unlabelled rows, and for the labelled rows beside what their labels realized."""
    from mindpulse.monitoring import estimation as est

    seed = run.settings.seed
    unlabelled = unlabelled_data(run)
    out: dict[str, Any] = {"method": est.METHOD, "unlabelled_rows": len(unlabelled), "unlabelled": None,
                           "labelled": None, "check": None}
    if len(unlabelled):
        out["unlabelled"] = est.estimate_performance(unlabelled["probability"], unlabelled["prediction"], seed=seed)
        versions = unlabelled["model_version"].fillna("(none)").value_counts()
        out["unlabelled"]["model_versions"] = {str(k): int(v) for k, v in versions.items()}
        out["unlabelled"]["first_prediction_at"] = str(unlabelled["created_at"].min())
        out["unlabelled"]["last_prediction_at"] = str(unlabelled["created_at"].max())
    rows = labelled.dropna(subset=["depression", "probability", "prediction"])
    if len(rows):
        out["labelled"] = est.estimate_performance(rows["probability"], rows["prediction"], seed=seed)
        realized = est.realized_performance(rows["depression"].astype(int), rows["probability"], rows["prediction"])
        out["check"] = est.compare_with_realized(out["labelled"], realized)
    return out


def attach(run: Run, json_path: Any, estimated: dict[str, Any]) -> dict[str, Any]:
    """Add the estimate to the performance report's JSON summary (rewritten atomically); returns the summary."""
    from mindpulse.io import atomic_write_json
    from mindpulse.pipeline.records import _json_ready

    summary = json.loads(open(json_path, encoding="utf-8").read())
    summary["estimated"] = _json_ready(estimated)
    atomic_write_json(json_path, summary)
    return summary


def headline(estimated: dict[str, Any]) -> dict[str, Any]:
    """The figures the run summary, the notification and the trends keep: estimate and band per metric, and the flags."""
    unlabelled = estimated.get("unlabelled") or {}
    check = estimated.get("check") or {}
    return {
        "rows": unlabelled.get("rows", 0),
        **{name: band for name, band in (unlabelled.get("metrics") or {}).items()},
        "flagged": check.get("flagged", []),
        "check": check.get("message"),
    }


def sentence(estimated_headline: dict[str, Any]) -> str:
    """One line for the notification."""
    if not estimated_headline or not estimated_headline.get("rows"):
        return "Estimated performance: no unlabelled predictions to estimate."
    parts = []
    for name, label in (("roc_auc", "ROC-AUC"), ("accuracy", "accuracy"), ("f1", "F1")):
        band = estimated_headline.get(name) or {}
        if band.get("estimate") is not None:
            parts.append(f"{label} {band['estimate']:.3f} [{band['lower']:.3f}, {band['upper']:.3f}]")
    text = f"Estimated performance of the newest {estimated_headline['rows']} unlabelled predictions (CBPE): " + ", ".join(parts) + "."
    if estimated_headline.get("flagged"):
        text += " " + str(estimated_headline.get("check"))
    return text
