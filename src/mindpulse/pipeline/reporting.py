"""The reporting DAG's steps: the rows to report on, the availability gate, three Evidently reports, clean-up, summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from mindpulse import runs, steps
from mindpulse.dag_ids import REPORTING_DAG_ID, RETRAIN_DAG_ID
from mindpulse.pipeline.records import (
    PREVIEW_NOTE,
    REPORT_STEPS,
    REPORTING_STEPS,
    Run,
    StepResult,
    close_run,
    current_champion,
    decision_record,
    glues,
    json_ready,
    relative_to_run,
    step_statuses,
    utc_now,
)
from mindpulse.pipeline.sources import champion_reference, load_reference, monitored_predictions


def current_data(run: Run) -> pd.DataFrame:
    """The rows this reporting run reports on: the recent logged predictions, labelled or not
    (:func:`~mindpulse.pipeline.sources.monitored_predictions`), frozen in the run folder on first use."""
    return monitored_predictions(run.settings, run.dir, context=run)[0]


@glues("check_data_availability")
def check_data_availability(run: Run, *, min_rows: int | None = None) -> StepResult:
    """Reference data present and enough recent predictions to report on; freezes those rows for this run.

    A run has enough data when it has ``min_rows`` predictions, labelled or not. Whether enough of
    them are labelled is a separate fact: too few only skip the realized performance.
    """
    settings = run.settings
    min_rows = settings.drift_min_rows if min_rows is None else int(min_rows)
    min_labelled = settings.performance_min_labelled_rows
    reference_rows = len(load_reference(settings)) if settings.reference_path.is_file() else 0
    current, described = monitored_predictions(settings, run.dir, context=run)
    labelled = int(current["depression"].notna().sum()) if len(current) else 0
    problems = []
    if not reference_rows:
        problems.append(f"no reference data at {settings.reference_path}")
    if len(current) < min_rows:
        problems.append(f"{len(current)} predictions in the last {described['window_days']} days < min_rows {min_rows}")
    available = not problems
    first, last = (current["created_at"].min(), current["created_at"].max()) if len(current) else (None, None)
    versions = version_counts(current)
    labels = (f"{labelled} of them labelled" + ("" if labelled >= min_labelled else
              f": not enough labels (fewer than performance_min_labelled_rows {min_labelled}), so realized "
              "performance is skipped; drift and the estimate still run"))
    outputs = {"available": available, "reference_rows": reference_rows, "current_rows": len(current),
               "labelled_rows": labelled, "unlabelled_rows": len(current) - labelled,
               "enough_labels": labelled >= min_labelled, "min_labelled_rows": min_labelled,
               "min_rows": min_rows, "window_days": described["window_days"], "max_rows": described["max_rows"],
               "first_prediction_at": first, "last_prediction_at": last, "model_versions": versions,
               "labels": labels,
               "reason": "; ".join(problems) or f"{len(current)} predictions in the last {described['window_days']} "
                                                 f"days >= min_rows {min_rows}"}
    table = pd.DataFrame([{k: outputs[k] for k in ("reference_rows", "current_rows", "labelled_rows", "min_rows",
                                                    "first_prediction_at", "last_prediction_at")}])
    table["model_versions"] = describe_versions(versions)
    message = ("Reports will run: " if available else "No reports: ") + outputs["reason"] + f"; {labels}."
    if versions:
        message += f" Predictions made by {describe_versions(versions)}."
    return StepResult(json_ready(outputs), table, message)


def version_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Rows per model version behind their predictions, most rows first."""
    from mindpulse.monitoring.performance import version_counts as counts

    return counts(frame)


def describe_versions(counts: dict[str, int]) -> str:
    """'v0002-… (900 rows), v0001-… (300 rows)'."""
    return ", ".join(f"{version} ({rows} rows)" for version, rows in counts.items()) or "no model"


def decide_reports(run_dir: str | Path) -> bool:
    """The reporting gate: report only when the availability check found enough data."""
    run_dir = Path(run_dir)
    with decision_record(run_dir, "decide_reports") as record:
        outputs = steps.read_step(run_dir, "check_data_availability", require="available")
        record.update({"proceed": bool(outputs.available), "reasons": [outputs.reason]})
    return record["proceed"]


_HEADLINES = {
    "data_quality": ("rows", "columns", "missing_cells", "duplicated_rows", "new_category_columns"),
    "data_drift": ("status", "share", "n_drifted", "n_features", "drifted_columns", "n_rows"),
    "model_performance": ("model_version", "labelled_rows", "accuracy", "precision", "recall", "f1", "roc_auc"),
}


def _report_result(run: Run, result: Any, reference: dict | None = None) -> StepResult:
    summary = result.summary or {}
    flat = {**(summary.get("dataset") or {}), **summary}
    headline = {name: flat.get(name) for name in _HEADLINES.get(result.kind, ())}
    outputs = {"kind": result.kind, "html": relative_to_run(result.html_path, run.dir),
               "json": relative_to_run(result.json_path, run.dir), "headline": headline}
    if reference is not None:
        outputs["reference"] = reference
    table = pd.DataFrame([{k: (", ".join(map(str, v)) if isinstance(v, (list, tuple)) else v) for k, v in headline.items()}])
    return StepResult(json_ready(outputs), table, f"{result.kind} report: {outputs['html']}")


@glues("data_quality_report")
def data_quality_report(run: Run) -> StepResult:
    """Evidently data summary of the production rows beside the reference."""
    from mindpulse import monitoring

    reference, described = champion_reference(run.settings, run.dir, context=run)
    result = monitoring.data_quality_report(reference, current_data(run), run.dir, settings=run.settings)
    return _report_result(run, result, described)


@glues("data_drift_report")
def data_drift_report(run: Run, *, threshold: float | None = None,
                      prediction_threshold: float | None = None) -> StepResult:
    """Evidently data drift of the recent predictions against the baseline: the decision the retrain trigger makes too."""
    from mindpulse.pipeline.drift import measure_drift

    measure = measure_drift(run, feature_threshold=threshold, prediction_threshold=prediction_threshold)
    outputs = {"kind": "data_drift", "html": measure.html, "json": "data_drift.json",
               "headline": json_ready({name: measure.summary.get(name) for name in _HEADLINES["data_drift"]}),
               **measure.outputs()}
    return StepResult(json_ready(outputs), measure.table(), measure.message())


@glues("model_performance_report")
def model_performance_report(run: Run) -> StepResult:
    """Realized classification quality of the labelled predictions (when there are enough), and the CBPE
    estimate of the unlabelled ones; each figure per model version."""
    from mindpulse import monitoring
    from mindpulse.io import atomic_write_json
    from mindpulse.monitoring.performance import labelled_rows
    from mindpulse.pipeline import estimation

    current = current_data(run)
    estimated = estimation.estimate_for_run(run, current)
    labelled, _ = labelled_rows(current)
    minimum = run.settings.performance_min_labelled_rows
    if len(labelled) >= minimum:
        result = monitoring.model_performance_report(current, run.dir, settings=run.settings)
        estimation.attach(run, result.json_path, estimated)
        step = _report_result(run, result)
        step.outputs["headline"]["model_version"] = _one_version(result.summary.get("model_versions") or {})
        step = _with_versions(step, result.summary)
    else:
        skipped = (f"realized performance skipped: {len(labelled)} labelled predictions, fewer than "
                   f"performance_min_labelled_rows {minimum} (not enough labels)")
        path = run.dir / "model_performance.json"
        atomic_write_json(path, json_ready({"kind": "model_performance", "labelled_rows": len(labelled),
                                             "realized_skipped": skipped, "estimated": estimated}))
        headline = {name: None for name in _HEADLINES["model_performance"]}
        headline["labelled_rows"] = len(labelled)
        step = StepResult(json_ready({"kind": "model_performance", "html": None, "json": path.name,
                                       "headline": headline, "realized_skipped": skipped}),
                          pd.DataFrame([headline]), skipped[0].upper() + skipped[1:] + ".")
    step.outputs["estimated"] = estimation.headline(estimated)
    step.message += "\n" + estimation.sentence(step.outputs["estimated"])
    return step


def _one_version(counts: dict[str, int]) -> str | None:
    """The model version behind every row; when the rows mix versions, each with its rows (figures per version in ``by_model_version``)."""
    return next(iter(counts)) if len(counts) == 1 else (describe_versions(counts) if counts else None)


def _with_versions(step: StepResult, summary: dict[str, Any]) -> StepResult:
    """Performance per model version beside the overall figures, when the rows mix versions."""
    versions, by_version = summary.get("model_versions") or {}, summary.get("by_model_version")
    step.outputs.update(json_ready({"model_versions": versions, "by_model_version": by_version}))
    step.outputs = {k: v for k, v in step.outputs.items() if v is not None}
    step.table = step.table.drop(columns=["model_version"], errors="ignore")
    step.table.insert(0, "model_version", "all" if by_version else describe_versions(versions))
    if by_version:
        rows = [{"model_version": version, "labelled_rows": figures["rows"],
                 **{k: figures.get(k) for k in ("accuracy", "precision", "recall", "f1", "roc_auc")}}
                for version, figures in by_version.items()]
        step.table = pd.concat([step.table, pd.DataFrame(rows)], ignore_index=True)
        step.message += "\nPer model version: " + ", ".join(
            f"{v} ROC-AUC {_fmt(f.get('roc_auc'))} on {f['rows']} rows" for v, f in by_version.items())
    return step


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


# Outcomes whose run records are audit records of a change (or of a failure): never deleted.
KEPT_OUTCOMES = ("promoted", "refused", "failed")


def _runs_models_refer_to(settings: Any, registry: Any = None) -> set[tuple[str, str]]:
    """(dag_id, safe run id) of each run a kept model version was trained in.

    Read from the version's lineage (``metadata["lineage"]["run"]``), else from the start of its
    data source (``"<dag_id>/<run_id>: ..."``, how older versions name their run).
    """
    from mindpulse.pipeline.sources import open_registry

    referred: set[tuple[str, str]] = set()
    for version in (registry or open_registry(settings)).versions():
        run = (version.metadata.get("lineage") or {}).get("run") or {}
        dag_id, run_id = run.get("dag_id"), run.get("run_id")
        if not (dag_id and run_id):
            source = str((version.metadata.get("data") or {}).get("source") or "")
            head, sep, _ = source.partition(": ")
            dag_id, slash, run_id = head.partition("/")
            if not (sep and slash and dag_id in (RETRAIN_DAG_ID, REPORTING_DAG_ID) and run_id):
                continue
        referred.add((runs.safe_run_id(dag_id), runs.safe_run_id(run_id)))
    return referred


def retention_plan(settings: Any, keep: int, *, registry: Any = None) -> list[dict[str, Any]]:
    """Every run folder of the two DAGs with ``keep`` True or False and the reason, by outcome.

    Never deleted: a pipeline run that promoted, refused or failed, or has no summary yet (in
    progress, or died before its last step), and any run a kept model version was trained in.
    Skipped and reported runs keep the newest ``keep`` of each DAG; hand runs
    (``interactive__...``) keep the newest ``keep`` of each DAG among themselves.
    """
    from mindpulse.monitoring.index import run_folders, run_time
    from mindpulse.pipeline.records import is_hand_run
    from mindpulse.steps import read_run_summary

    if int(keep) != keep or keep < 1:
        raise ValueError(f"keep: got {keep!r}, expected a whole number of at least 1")
    referred = _runs_models_refer_to(settings, registry)
    plan: list[dict[str, Any]] = []
    for dag_id in (RETRAIN_DAG_ID, REPORTING_DAG_ID):  # each DAG's folder on its own: nothing else under reports/
        pools: dict[str, list[tuple[float, str, Path, str | None]]] = {"pipeline": [], "hand": []}
        dag_folder = settings.reports_dir / dag_id
        for folder in run_folders(dag_folder):
            if folder.parent != dag_folder:
                continue
            summary = read_run_summary(folder)
            outcome = summary.outcome if summary else None
            entry = {"dag_id": dag_id, "run": folder.name, "path": folder, "outcome": outcome}
            if (runs.safe_run_id(dag_id), folder.name) in referred:
                plan.append({**entry, "keep": True, "reason": "a kept model version was trained in it"})
            elif not is_hand_run(folder.name) and (outcome in KEPT_OUTCOMES or summary is None):
                plan.append({**entry, "keep": True, "reason": f"outcome {outcome or 'not written yet'}: always kept"})
            else:
                pool = "hand" if is_hand_run(folder.name) else "pipeline"
                pools[pool].append((run_time(folder, summary)[0], folder.name, folder, outcome))
        for pool, members in pools.items():
            members.sort(reverse=True)
            label = "hand runs" if pool == "hand" else "skipped/reported runs"
            for rank, (_, name, folder, outcome) in enumerate(members):
                kept = rank < int(keep)
                plan.append({"dag_id": dag_id, "run": name, "path": folder, "outcome": outcome, "keep": kept,
                             "reason": f"{'among' if kept else 'beyond'} the newest {keep} {label}"})
    return plan


@glues("clean_up_reports")
def clean_up_reports(run: Run, *, keep: int | None = None, commit: bool = False) -> StepResult:
    """Delete the run folders :func:`retention_plan` does not keep (with ``commit=False``, only list them)."""
    from mindpulse.monitoring.index import remove_run_folder

    keep = run.settings.reports_keep if keep is None else int(keep)
    plan = retention_plan(run.settings, keep, registry=run.registry)
    doomed = [entry for entry in plan if not entry["keep"] and entry["path"] != run.dir]
    if commit:
        for entry in doomed:
            remove_run_folder(entry["path"])
    names = [f"{entry['dag_id']}/{entry['run']}" for entry in doomed]
    outputs = {"committed": bool(commit), "keep": keep, "removed": names if commit else [],
               "would_remove": [] if commit else names}
    table = pd.DataFrame([{"run folder": f"{e['dag_id']}/{e['run']}", "outcome": e["outcome"],
                           "kept": e["keep"] or e["path"] == run.dir, "why": e["reason"]} for e in plan])
    if not commit:
        return StepResult(outputs, table, f"Would remove {len(names)} run folder(s). " + PREVIEW_NOTE)
    return StepResult(outputs, table, f"Kept promoted, refused and failed runs and the newest {keep} others of "
                                      f"each DAG; removed {len(names)}.")


def _models_record(availability: steps.AvailabilityOutputs, drift: steps.DriftReportOutputs,
                   performance: steps.PerformanceReportOutputs) -> dict[str, Any]:
    """Which model produced what: the versions behind the current rows' predictions (rows each),
    the model that scored the reference for the drift comparison, and performance per version."""
    return {
        "current_rows_by_version": availability.model_versions or {},
        "reference_scored_by": drift.reference_model,
        "reference_model_reason": drift.reference_model_reason,
        "current_rows_rescored_for_drift": drift.current_rows_rescored,
        "performance_by_version": performance.by_model_version,
    }


#: What the drift report's figures add to a reporting run's summary (``drift``).
SUMMARY_DRIFT_KEYS = ("feature_drift_share", "n_features_drifted", "n_features", "features_drifted",
                      "prediction_drift_score", "prediction_drifted", "label_drift_score", "label_drifted")


@glues("send_summary")
def finish_reporting(run: Run) -> StepResult:
    """Close a reporting run: write run_summary.json and send the summary."""
    statuses = step_statuses(run, REPORTING_STEPS, own="send_summary")
    availability = run.outputs("check_data_availability")
    decision = run.decision("decide_reports")
    reports = {step: run.outputs(step) for step in REPORT_STEPS}
    ran = {step: out for step, out in reports.items() if out.model_fields_set}  # a step that glued anything
    drift, performance = reports["data_drift_report"], reports["model_performance_report"]
    failed = [name for name, step in statuses.items() if step["status"] in ("failed", "incomplete")]
    if failed:
        outcome = "failed"
    elif ran:
        outcome = "reported"
    else:
        outcome = "skipped"
    drift_headline = drift.headline or {}
    champion = current_champion(run)
    summary = {
        "dag_id": run.dag_id, "run_id": run.run_id, "run_dir": str(run.dir), "created_at": utc_now(),
        "outcome": outcome, "failed_steps": failed,
        "trigger": decision.as_dict() if decision else {
            "proceed": False, "reasons": [availability.reason or "no gate decision in this run folder"]},
        "rows": availability.current_rows, "labelled_rows": availability.labelled_rows,
        "unlabelled_rows": availability.unlabelled_rows, "labels": availability.labels,
        "drift_share": drift_headline.get("share"), "drift_status": drift_headline.get("status"),
        "drift": {key: getattr(drift, key) for key in SUMMARY_DRIFT_KEYS} if "data_drift_report" in ran else None,
        "model_before": champion, "model_after": champion,
        "models": _models_record(availability, drift, performance),
        "metrics": {step.removesuffix("_report"): out.headline for step, out in ran.items()},
        "estimated": performance.estimated,
        "reports": {step.removesuffix("_report"): out.html for step, out in ran.items()},
        "reference": next((out.reference for out in ran.values() if out.reference), None),
        "removed_runs": run.outputs("clean_up_reports").removed or [],
        "steps": statuses,
    }
    text = "\n".join([
        f"Reporting run {run.run_id}: {outcome}.",
        "; ".join(summary["trigger"].get("reasons") or []) + ".",
        *([summary["labels"][0].upper() + summary["labels"][1:] + "."] if summary.get("labels") else []),
        *([_baseline_sentence(summary["reference"])] if summary["reference"] else []),
        *(f"{kind}: {html}" for kind, html in summary["reports"].items() if html),
        *([f"Predictions by {describe_versions(summary['models']['current_rows_by_version'])}; reference scored by "
           f"{summary['models']['reference_scored_by']}."] if summary["models"]["reference_scored_by"] else []),
        *([_estimated_sentence(summary["estimated"])] if summary["estimated"] else []),
        *(["Failed step(s): " + ", ".join(failed)] if failed else []),
        f"Audit record: {run.dir}",
    ])
    return close_run(run, summary, text)


def _baseline_sentence(baseline: dict[str, Any]) -> str:
    from mindpulse.pipeline.drift import baseline_sentence

    return baseline_sentence(baseline)


def _estimated_sentence(headline: dict[str, Any]) -> str:
    from mindpulse.pipeline.estimation import sentence

    return sentence(headline)
