"""The reporting run's label-free estimate: CBPE (see :mod:`mindpulse.monitoring.estimation`) for the run's
unlabelled predictions, per model version, and the same estimate checked against the labelled predictions.

Outcomes in student screening arrive late and rarely: the newest predictions have none yet. The
estimate for them uses the probabilities the champion logged when it served them (calibrated by
training). The labelled predictions of the same run are estimated too, as if their labels were
not known, and compared with what their labels realized: a gap there says the probabilities no
longer describe the students (label or concept shift), so the estimate for the newer rows is not
to be trusted either. Every figure names the model version whose predictions it describes, and
its row count: rows served by different models describe no single model.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from mindpulse.pipeline.records import Run


def _by_version(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The rows of each model version, most rows first."""
    from mindpulse.monitoring.performance import NO_VERSION, version_counts

    if "model_version" not in frame.columns:
        return {NO_VERSION: frame} if len(frame) else {}
    versions = frame["model_version"].astype(object).where(frame["model_version"].notna(), NO_VERSION)
    return {version: frame.loc[versions == version] for version in version_counts(frame)}


def estimate_for_run(run: Run, current: pd.DataFrame) -> dict[str, Any]:
    """The estimate for the run's unlabelled predictions, per model version; and, per version, the estimate
    of its labelled predictions beside what their labels realized (the estimate's error, once outcomes arrive).

    ``unlabelled`` and ``check`` repeat the entries of the version with the most rows, named by ``model_version``.
    """
    from mindpulse.monitoring import estimation as est

    seed = run.settings.seed
    scored = current.dropna(subset=["probability", "prediction"])
    unlabelled = scored[scored["depression"].isna()]
    labelled = scored[scored["depression"].notna()]
    out: dict[str, Any] = {"method": est.METHOD, "unlabelled_rows": len(unlabelled), "unlabelled": None,
                           "labelled": None, "check": None, "by_model_version": {}, "check_by_model_version": {}}
    for version, rows in _by_version(unlabelled).items():
        estimate = est.estimate_performance(rows["probability"], rows["prediction"], seed=seed)
        estimate["model_version"] = version
        if "created_at" in rows.columns:
            estimate.update(first_prediction_at=str(rows["created_at"].min()), last_prediction_at=str(rows["created_at"].max()))
        out["by_model_version"][version] = estimate
    for version, rows in _by_version(labelled).items():
        estimate = est.estimate_performance(rows["probability"], rows["prediction"], seed=seed)
        realized = est.realized_performance(rows["depression"].astype(int), rows["probability"], rows["prediction"])
        check = est.compare_with_realized(estimate, realized)
        out["check_by_model_version"][version] = {"model_version": version, "rows": len(rows), "estimate": estimate,
                                                  **check}
    if out["by_model_version"]:
        out["unlabelled"] = next(iter(out["by_model_version"].values()))
    if out["check_by_model_version"]:
        first = next(iter(out["check_by_model_version"].values()))
        out["labelled"] = {**first["estimate"], "model_version": first["model_version"]}
        out["check"] = {k: first[k] for k in ("metrics", "flagged", "min_gap", "message", "model_version", "rows")}
    return out


def attach(run: Run, json_path: Any, estimated: dict[str, Any]) -> dict[str, Any]:
    """Add the estimate to the performance report's JSON summary (rewritten atomically); returns the summary."""
    from mindpulse.io import atomic_write_json
    from mindpulse.pipeline.records import json_ready

    summary = json.loads(open(json_path, encoding="utf-8").read())
    summary["estimated"] = json_ready(estimated)
    atomic_write_json(json_path, summary)
    return summary


def headline(estimated: dict[str, Any]) -> dict[str, Any]:
    """The figures the run summary, the notification and the trends keep: per model version, its rows, the
    estimate and band per metric; the estimate's error where outcomes arrived; the flags.

    The top-level figures are those of ``model_version`` (the version with the most unlabelled rows).
    """
    unlabelled = estimated.get("unlabelled") or {}
    check = estimated.get("check") or {}
    versions = {version: {"rows": figures.get("rows"), **(figures.get("metrics") or {})}
                for version, figures in (estimated.get("by_model_version") or {}).items()}
    errors = {version: {"rows": item.get("rows"),
                        **{name: row.get("gap") for name, row in (item.get("metrics") or {}).items()},
                        "flagged": item.get("flagged", [])}
              for version, item in (estimated.get("check_by_model_version") or {}).items()}
    return {
        "model_version": unlabelled.get("model_version"),
        "rows": unlabelled.get("rows", 0),
        **{name: band for name, band in (unlabelled.get("metrics") or {}).items()},
        "by_model_version": versions,
        "realized_minus_estimated_by_version": errors,
        "flagged": check.get("flagged", []),
        "check": check.get("message"),
    }


def sentence(estimated_headline: dict[str, Any]) -> str:
    """One line for the notification, each figure with the model version and rows behind it."""
    from mindpulse.figures import format_count

    if not estimated_headline or not estimated_headline.get("rows"):
        return "Estimated performance: no unlabelled predictions to estimate."
    versions = estimated_headline.get("by_model_version") or {
        estimated_headline.get("model_version"): estimated_headline}
    texts = []
    for version, figures in versions.items():
        parts = []
        for name, label in (("roc_auc", "ROC-AUC"), ("accuracy", "accuracy"), ("f1", "F1")):
            band = figures.get(name) or {}
            if band.get("estimate") is not None:
                parts.append(f"{label} {band['estimate']:.3f} [{band['lower']:.3f}, {band['upper']:.3f}]")
        texts.append(f"{version} on {format_count(figures.get('rows'))} unlabelled predictions: " + ", ".join(parts))
    text = "Estimated performance (CBPE) of " + "; ".join(texts) + "."
    if estimated_headline.get("flagged"):
        text += " " + str(estimated_headline.get("check"))
    return text
