"""The evidence each step's notebook shows inline: figures (PNG) and whole tables, from the run's own
records (its frozen rows, its report JSON, the registry), so the executed notebook explains what
happened without anything else being opened or run.

Each function reads what its step wrote and returns an :class:`Evidence` (figures and tables, in
the order a reader needs them); none changes anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mindpulse import plots
from mindpulse.pipeline.records import Run

STATE_NAMES = {"unlabelled": "unlabelled (awaiting feedback)", "pending": "labelled, waiting for training",
               "claimed": "labelled, claimed by a retrain", "archived": "labelled, used by a retrain"}


@dataclass
class Evidence:
    """Figures and tables a notebook shows, in order; ``show()`` displays them all."""

    figures: list[plots.Png] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    sentence: str = ""

    def show(self) -> None:
        from IPython.display import Markdown, display

        plots.show_whole_tables()
        if self.sentence:
            display(Markdown(self.sentence))
        for figure in self.figures:
            display(figure)
        for title, table in self.tables.items():
            display(Markdown(f"**{title}**"))
            display(table)


def _read_json(path: Any) -> dict[str, Any]:
    try:
        return json.loads(open(path, encoding="utf-8").read())
    except (OSError, ValueError):
        return {}


# --- checks -------------------------------------------------------------------------------------

def rows_by_day_and_state(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts of predictions per day (UTC) and state, one column per state."""
    if frame.empty:
        return pd.DataFrame()
    day = pd.to_datetime(frame["created_at"], utc=True).dt.strftime("%Y-%m-%d")
    state = frame["state"].map(STATE_NAMES).fillna(frame["state"])
    counts = pd.crosstab(day, state)
    counts.index.name, counts.columns.name = "day", None
    return counts[[name for name in STATE_NAMES.values() if name in counts.columns]]


def checks(run: Run, *, threshold: int, reporting: bool, sentence: str) -> Evidence:
    """Predictions by day and state, and the rows the step counts against its threshold."""
    frame = run.store.recent_predictions(limit=run.settings.monitoring_sample_cap)
    counts = rows_by_day_and_state(frame)
    if reporting:
        counted, label, threshold_label = list(STATE_NAMES.values()), "predictions to report on (labelled or not)", \
            "min_rows"
    else:
        counted, label, threshold_label = [STATE_NAMES["pending"]], "labelled rows waiting for training", "min_rows"
    figure = plots.rows_by_day(counts, counted=counted, counted_label=label, threshold=threshold,
                               threshold_label=threshold_label,
                               title=f"The newest {len(frame):,} predictions by day and state")
    table = counts.reset_index() if not counts.empty else pd.DataFrame({"day": []})
    return Evidence([figure], {"Predictions by day and state": table}, sentence)


# --- drift --------------------------------------------------------------------------------------

def drift(run: Run, current: pd.DataFrame | None = None) -> Evidence:
    """Every column's drift score with its threshold, and baseline vs current for the drifted columns.

    ``current``: the rows the report compared (None: the run's frozen recent predictions, as both drift steps compare).
    """
    from mindpulse.pipeline.drift import baseline_sentence
    from mindpulse.pipeline.sources import drift_frames, drift_baseline, monitored_predictions

    summary = _read_json(run.dir / "data_drift.json")
    columns = summary.get("columns") or {}
    if not columns:
        return Evidence([], {}, "No drift report in this run folder: " + str(summary.get("reason") or "not enough rows."))
    table = pd.DataFrame([{"column": name, "score": col.get("score"), "threshold": col.get("threshold"),
                           "drifted": col.get("drifted"), "method": col.get("method")}
                          for name, col in columns.items()]).sort_values("score", ascending=False, na_position="last")
    drifted = [name for name, col in columns.items() if col.get("drifted")]
    features = summary.get("drifted_columns") or []
    figures = [plots.drift_scores(columns, title=f"Drift score of every column: {len(features)} of "
                                                 f"{summary.get('n_features')} model features drifted")]
    current = monitored_predictions(run.settings, run.dir, context=run)[0] if current is None else current
    if drifted:
        reference = drift_baseline(run.settings, current, run.dir, context=run)[0]  # what the report compared with
        if {"prediction", "probability"} & set(drifted):  # the model's outputs: scored as the report scored them
            reference, current = drift_frames(run.settings, current, run.dir, context=run)
        figures.append(plots.distributions(reference, current, drifted))
    lines = [f"**{summary.get('status')}**: {summary.get('reason')}."]
    prediction, label = summary.get("prediction_drift") or {}, summary.get("label_drift") or {}
    if prediction.get("score") is not None:
        lines.append(f"Prediction drift (probability): {prediction['score']:.3f}, trigger at "
                     f"{summary.get('prediction_threshold')}.")
    if label.get("score") is not None:
        lines.append(f"Label drift: {label['score']:.3f} (reported only).")
    lines.append(baseline_sentence(summary.get("baseline") or {}))
    return Evidence(figures, {"Drift by column": table.reset_index(drop=True)}, "\n\n".join(lines))


# --- quality ------------------------------------------------------------------------------------

def quality(run: Run) -> Evidence:
    """The data quality report as readable tables: the data set, each column, and new categories."""
    summary = _read_json(run.dir / "data_quality.json")
    dataset = summary.get("dataset") or {}
    columns = summary.get("columns") or {}
    rows = []
    for name, col in columns.items():
        rows.append({"column": name, "kind": col.get("kind"), "missing_share": col.get("missing_share"),
                     "reference_missing_share": col.get("reference_missing_share"),
                     "mean": col.get("mean"), "reference_mean": col.get("reference_mean"),
                     "distinct_values": col.get("distinct_values"), "most_common": col.get("most_common"),
                     "new_categories": ", ".join(col.get("new_values") or []) or None})
    table = pd.DataFrame(rows)
    figures = [plots.missing_shares(table)] if not table.empty else []
    overview = pd.DataFrame([{"figure": k.replace("_", " "), "value": v} for k, v in dataset.items()])
    new = table.loc[table["new_categories"].notna(), ["column", "new_categories"]] if not table.empty else table
    sentence = (f"{dataset.get('rows')} rows, {dataset.get('missing_cells')} missing cells, "
                f"{dataset.get('duplicated_rows')} duplicated rows, new categories in "
                f"{len(new)} column(s).") if dataset else "No data quality report in this run folder."
    return Evidence(figures, {"Data set": overview, "Columns": table, "New categories": new.reset_index(drop=True)},
                    sentence)


# --- performance --------------------------------------------------------------------------------

def performance(run: Run, labelled: pd.DataFrame) -> Evidence:
    """Confusion matrix, ROC curve, the per-group table with the largest gap, and the label-free estimate."""
    summary = _read_json(run.dir / "model_performance.json")
    figures, tables = [], {}
    if summary.get("confusion"):
        versions = summary.get("model_versions") or {}
        made_by = next(iter(versions)) if len(versions) == 1 else f"{len(versions)} model versions"
        figures.append(plots.confusion_matrix(summary["confusion"]["matrix"],
                                              title=f"Confusion matrix of {int(summary.get('labelled_rows') or 0):,} "
                                                    f"labelled predictions by {made_by}"))
    rows = labelled.dropna(subset=["depression", "probability"])
    if len(rows):
        figures.append(plots.roc_curves({"served model(s)": (rows["depression"].astype(int), rows["probability"])},
                                        title="ROC curve of the labelled predictions"))
    group_rows, gaps = [], []
    for grouping, block in (summary.get("groups") or {}).items():
        for group, figs in (block.get("groups") or {}).items():
            group_rows.append({"grouping": grouping, "group": group, "rows": figs.get("rows"),
                               **{k: figs.get(k) for k in ("accuracy", "precision", "recall", "f1", "roc_auc")},
                               "too_few_rows": figs.get("too_few_rows")})
        for figure, gap in (block.get("gaps") or {}).items():
            gaps.append({"grouping": grouping, "figure": figure, "largest_gap": gap.get("gap"),
                         "worst_group": gap.get("worst_group")})
    tables["Per group"] = pd.DataFrame(group_rows)
    if gaps:
        gap_table = pd.DataFrame(gaps).sort_values("largest_gap", ascending=False).reset_index(drop=True)
        tables["Largest gap between groups, per figure"] = gap_table
        top = gap_table.iloc[0]
        sentence = (f"Largest gap between groups: {top['figure']} differs by {top['largest_gap']:.3f} across "
                    f"{top['grouping']} (lowest: {top['worst_group']}).")
    else:
        sentence = "No per-group gap: fewer than two groups with enough labelled rows."
    if summary.get("realized_skipped"):
        sentence = str(summary["realized_skipped"]).capitalize() + "."
    estimated = summary.get("estimated") or {}
    for version, estimate in (estimated.get("by_model_version") or {}).items():
        rows_text = f"{int(estimate.get('rows') or 0):,}"
        figures.append(plots.estimated_performance(
            estimate, title=f"Estimated performance of {rows_text} unlabelled predictions by {version}"))
    if estimated.get("by_model_version"):
        tables["Estimated performance (CBPE) of the unlabelled predictions, per model version"] = pd.concat(
            [_estimate_table(e).assign(model_version=v) for v, e in estimated["by_model_version"].items()],
            ignore_index=True)
    checks = estimated.get("check_by_model_version") or {}
    for version, check in checks.items():
        figures.append(plots.estimated_performance(
            check["estimate"], {k: v["realized"] for k, v in check["metrics"].items()},
            title=f"Estimate vs realized on {int(check.get('rows') or 0):,} labelled predictions by {version}"))
        sentence += f" {version}: {check['message']}"
    if checks:
        tables["The estimate's error once outcomes arrived (realized minus estimated), per model version"] = pd.DataFrame(
            [{"model_version": v, "rows": c.get("rows"), "metric": k, **row}
             for v, c in checks.items() for k, row in c["metrics"].items()])
    return Evidence(figures, tables, sentence)


def _estimate_table(estimate: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame([{"metric": name, **band, "rows": estimate.get("rows"), "level": estimate.get("level")}
                         for name, band in (estimate.get("metrics") or {}).items()])


# --- train and gate -----------------------------------------------------------------------------

def training(run: Run, outputs: dict[str, Any]) -> Evidence:
    """The candidates' CV table, ROC and calibration curves of champion and challenger on the same holdout rows,
    the threshold and the gate's decision."""
    registry = run.registry
    version = outputs.get("version")
    if not version:
        return Evidence([], {}, "Nothing was trained in this run.")
    challenger = registry.get(version)
    cv = (challenger.metadata.get("cv") or {})
    rows = []
    for name, result in (cv.get("candidates") or {}).items():
        mean, std = result.get("mean") or {}, result.get("std") or {}
        rows.append({"candidate": name, "roc_auc": mean.get("roc_auc"), "roc_auc_sd": std.get("roc_auc"),
                     "accuracy": mean.get("accuracy"), "f1": mean.get("f1"), "brier": mean.get("brier"),
                     "fit_seconds": result.get("seconds"), "selected": name == cv.get("best")})
    model_meta = challenger.metadata.get("model") or {}
    threshold = pd.DataFrame([{"model": model_meta.get("name"), "calibration": model_meta.get("calibration"),
                               "threshold": model_meta.get("threshold"), "chosen by": model_meta.get("threshold_method")}])
    figures = []
    holdout = registry.holdout()
    if holdout is not None and len(holdout):
        y = holdout["depression"].astype(int).to_numpy()
        curves = {f"challenger {version}": (y, registry.load_model(version).predict_proba(holdout))}
        before = outputs.get("champion_before")
        if before and before != version:
            curves = {f"champion {before}": (y, registry.load_model(before).predict_proba(holdout)), **curves}
        figures.append(plots.roc_curves(curves, title=f"ROC on the fixed holdout ({len(holdout):,} rows)"))
        figures.append(plots.calibration_curves(curves, title="Calibration on the fixed holdout"))
    from mindpulse.pipeline.training import gate_table

    gate = gate_table(challenger.metadata.get("gate") or {})  # both ROC-AUCs per slice, the interval, the decision
    verdict = "promoted to champion" if outputs.get("promoted") else "refused: the champion stays"
    sentence = f"**Gate decision**: challenger {version} was {verdict}. {outputs.get('reason', '')}"
    tables = {"Candidates (cross-validation, mean ± sd over folds)": pd.DataFrame(rows), "Threshold": threshold,
              "Gate": gate}
    if outputs.get("snapshot_scores"):  # refused: which snapshot of the training data the champion cannot explain
        tables["Champion on each snapshot of the training data"] = pd.DataFrame(outputs["snapshot_scores"])
    return Evidence(figures, tables, sentence)


# --- summary ------------------------------------------------------------------------------------

def summary_table(summary: dict[str, Any]) -> pd.DataFrame:
    """The run summary as a two-column table (nested keys joined with dots, lists joined with commas)."""
    rows: list[dict[str, Any]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list):
            rows.append({"field": prefix, "value": ", ".join(map(str, value)) if all(
                not isinstance(v, (dict, list)) for v in value) else json.dumps(value)})
        else:
            rows.append({"field": prefix, "value": value if value is None or isinstance(value, str) else str(value)})

    walk("", {k: v for k, v in summary.items() if k != "notifications"})
    return pd.DataFrame(rows)


def summary(run: Run) -> Evidence:
    """The run's summary as one table of fields (what run_summary.json holds, as written)."""
    from mindpulse.steps import read_run_summary

    read = read_run_summary(run.dir)
    record = read.as_dict() if read else {}
    return Evidence([], {"Run summary": summary_table(record)}, f"Outcome: **{record.get('outcome')}**.")
