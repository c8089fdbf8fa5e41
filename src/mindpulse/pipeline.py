"""The steps of the two pipelines, as their notebooks call them.

Each step function does one thing through the package and returns a :class:`StepResult`: the
values the notebook glues (JSON-ready, read by the gate and by the final step), a table to
show, and one sentence. Each is a transaction a retry can rerun: reads are pure, the snapshot
of production rows is claimed per run id (claiming again returns the same one), reports and
notebooks overwrite their own files in the run folder, and nothing is archived or released
twice.

Retrain (``ml_retrain_pipeline``): check_production_data, detect_drift -> decide_retrain ->
backup_model, merge_training_data -> train_and_gate -> archive_production_data -> notify.
Reporting (``evidently_reporting_pipeline``): check_data_availability -> decide_reports ->
data_quality_report, data_drift_report, model_performance_report -> clean_up_reports ->
send_summary.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from mindpulse import runs
from mindpulse.settings import Settings, get_settings

RETRAIN_DAG_ID = "ml_retrain_pipeline"
REPORTING_DAG_ID = "evidently_reporting_pipeline"
RETRAIN_STEPS = ("check_production_data", "detect_drift", "decide_retrain", "backup_model", "merge_training_data",
                 "train_and_gate", "archive_production_data", "notify")
REPORTING_STEPS = ("check_data_availability", "decide_reports", "data_quality_report", "data_drift_report",
                   "model_performance_report", "clean_up_reports", "send_summary")
REPORT_STEPS = ("data_quality_report", "data_drift_report", "model_performance_report")
# Python gate tasks write their decision beside the executed notebooks.
DECISION_FILES = {"decide_retrain": "decide_retrain.json", "decide_reports": "decide_reports.json"}
CURRENT_DATA_NAME = "current_data.parquet"
INTERACTIVE_RUN_ID = "interactive"


@dataclass
class Run:
    """The DAG run a step works for, and its folder (the audit record)."""

    settings: Settings
    dag_id: str
    run_id: str
    dir: Path

    def notebook(self, step: str) -> Path:
        return runs.notebook_path(self.dir, step)


@dataclass
class StepResult:
    """What a step did: values to glue, a table to show, one sentence.

    ``outputs`` holds JSON-ready values; None values are left out, because scrapbook cannot
    glue None: a reader's ``.get(name)`` gives None for them just the same.
    """

    outputs: dict[str, Any]
    table: pd.DataFrame
    message: str

    def __post_init__(self) -> None:
        self.outputs = {name: value for name, value in _json_ready(self.outputs).items() if value is not None}


def open_run(dag_id: str, run_id: str = INTERACTIVE_RUN_ID, run_dir: str | Path | None = None,
             settings: Settings | None = None) -> Run:
    """The run a notebook works for; its folder (``reports/<dag_id>/<safe run id>/`` by default) is created."""
    settings = settings or get_settings()
    folder = Path(run_dir) if run_dir else runs.run_dir(settings.reports_dir, dag_id, str(run_id))
    folder.mkdir(parents=True, exist_ok=True)
    return Run(settings=settings, dag_id=dag_id, run_id=str(run_id), dir=folder)


# --- shared access to the store, the registry and the reference data ------------------------
def _store(settings: Settings):  # noqa: ANN202 - the store class is imported lazily
    from mindpulse.store import Store

    return Store.from_settings(settings)  # migrated to the newest schema


def _registry(settings: Settings):  # noqa: ANN202
    from mindpulse.registry import ModelRegistry

    return ModelRegistry.from_settings(settings)


def _reference(settings: Settings) -> pd.DataFrame:
    from mindpulse.data import load_reference

    return load_reference(settings)


def _drift_frames(settings: Settings, current: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current rows, both with the champion's outputs, for the drift comparison.

    As in Evidently's own preset, prediction drift counts beside feature and target drift: the
    reference is scored by the current champion, and production rows that arrived labelled
    without a prediction are scored too. With no champion yet, features and target alone.
    """
    reference = _reference(settings)
    registry = _registry(settings)
    if registry.champion() is None or current.empty:
        return reference, current
    from mindpulse.predict import Predictor

    predictor = Predictor.load(registry)
    reference = predictor.predict_frame(reference)[[*reference.columns, "prediction", "probability"]]
    current = current.copy()
    if {"prediction", "probability"} <= set(current.columns):
        missing = current["probability"].isna()
        if missing.any():
            scored = predictor.predict_frame(current.loc[missing])
            current.loc[missing, "probability"] = scored["probability"]
            current.loc[missing, "prediction"] = scored["prediction"]
    else:
        current = predictor.predict_frame(current)[[*current.columns, "prediction", "probability"]]
    return reference, current


def _json_ready(value: Any) -> Any:
    """Plain numbers, strings, lists and dicts (numpy scalars unwrapped, NaN as None), for glue and JSON."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_json_ready(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _relative(path: str | Path | None, folder: Path) -> str | None:
    if path is None:
        return None
    path = Path(path)
    try:
        return str(path.relative_to(folder))
    except ValueError:
        return str(path)


# --- retrain: checks and the gate ---------------------------------------------------------------
def check_production_data(run: Run, *, min_rows: int | None = None) -> StepResult:
    """Count the labelled production rows waiting for a retrain, per model version."""
    min_rows = run.settings.retrain_min_rows if min_rows is None else int(min_rows)
    frame = _store(run.settings).production_frame()
    rows = len(frame)
    table = _production_table(frame)
    positive_rate = float(frame["depression"].astype(float).mean()) if rows else None
    outputs = {"rows": rows, "min_rows": min_rows, "enough_rows": rows >= min_rows, "positive_rate": positive_rate}
    verdict = "enough for a retrain" if rows >= min_rows else "not enough on their own for a retrain"
    return StepResult(_json_ready(outputs), table, f"{rows} labelled production rows waiting (min_rows {min_rows}): {verdict}.")


def _production_table(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame({"model_version": [], "rows": [], "depression_rate": [], "mean_probability": []})
    grouped = frame.assign(model_version=frame["model_version"].fillna("(none)")).groupby("model_version")
    return pd.DataFrame({
        "rows": grouped.size(),
        "depression_rate": grouped["depression"].apply(lambda s: s.astype(float).mean()).round(3),
        "mean_probability": grouped["probability"].mean().round(3),
    }).reset_index()


def detect_drift(run: Run, *, threshold: float | None = None, min_rows: int | None = None) -> StepResult:
    """Share of features whose production distribution drifted from the reference; HTML report in the run folder."""
    from mindpulse import monitoring

    settings = run.settings
    threshold = settings.drift_share_threshold if threshold is None else float(threshold)
    reference, current = _drift_frames(settings, _store(settings).production_frame())
    html = None
    if current.empty:  # nothing to show; the decision alone needs no Evidently run
        decision = monitoring.detect_drift(reference, current, threshold=threshold, min_rows=min_rows,
                                           settings=settings).to_dict()
    else:  # one Evidently run gives both the HTML and the decision
        report = monitoring.data_drift_report(reference, current, run.dir, threshold=threshold,
                                              min_rows=min_rows, settings=settings)
        decision, html = report.summary, _relative(report.html_path, run.dir)
    outputs = {
        "drift_status": decision["status"], "drift_share": decision["share"], "drift_threshold": threshold,
        "drifted": decision["status"] == "drift", "n_rows": decision["n_rows"], "n_drifted": decision["n_drifted"],
        "n_features": decision["n_features"], "drifted_columns": list(decision.get("drifted_columns") or []),
        "reason": decision["reason"], "report_html": html,
    }
    table = pd.DataFrame([{k: outputs[k] for k in ("drift_status", "drift_share", "drift_threshold", "n_rows",
                                                    "n_drifted", "n_features")}])
    return StepResult(_json_ready(outputs), table, decision["reason"])


@dataclass
class RetrainDecision:
    """Whether a retrain run goes on, and why (or why not)."""

    proceed: bool
    reasons: list[str]
    force: bool
    rows: int
    min_rows: int
    drift_status: str | None
    drift_share: float | None
    drift_threshold: float


def retrain_reasons(*, rows: int, min_rows: int, drift_status: str | None, drift_share: float | None,
                    drift_threshold: float, force: bool) -> RetrainDecision:
    """The trigger rule: rows >= min_rows OR drifted share > drift_threshold OR force."""
    drift_measured = drift_status not in (None, "not_enough_data") and drift_share is not None
    met, unmet = [], []
    if force:
        met.append("forced by the run's conf (force=true)")
    (met if rows >= min_rows else unmet).append(
        f"{rows} labelled production rows {'>=' if rows >= min_rows else '<'} min_rows {min_rows}")
    if drift_measured:
        drifted = drift_share > drift_threshold
        (met if drifted else unmet).append(
            f"drifted share {drift_share:.2f} {'>' if drifted else '<='} drift_threshold {drift_threshold:.2f}")
    else:
        unmet.append("drift not measured (not enough production rows)")
    if not force:
        unmet.append("not forced")
    proceed = bool(met)
    return RetrainDecision(proceed=proceed, reasons=met if proceed else unmet, force=bool(force), rows=int(rows),
                           min_rows=int(min_rows), drift_status=drift_status, drift_share=drift_share,
                           drift_threshold=float(drift_threshold))


def decide_retrain(run_dir: str | Path, *, min_rows: int, drift_threshold: float, force: bool) -> RetrainDecision:
    """The gate: read what the two check notebooks glued, decide, and keep the decision in the run folder."""
    run_dir = Path(run_dir)
    with _decision_record(run_dir, "decide_retrain") as record:
        check = _glued(run_dir, "check_production_data", "rows")
        drift = _glued(run_dir, "detect_drift", "drift_status")
        decision = retrain_reasons(rows=check["rows"], min_rows=min_rows, drift_status=drift["drift_status"],
                                   drift_share=drift.get("drift_share"), drift_threshold=drift_threshold, force=force)
        record.update(asdict(decision))
    return decision


@contextmanager
def _decision_record(run_dir: Path, gate: str) -> Iterator[dict[str, Any]]:
    """Keep a gate's decision in the run folder; when deciding fails, keep the error instead."""
    from mindpulse.io import atomic_write_json

    record: dict[str, Any] = {}
    try:
        yield record
    except Exception as exc:
        atomic_write_json(run_dir / DECISION_FILES[gate], {"proceed": False, "error": f"{type(exc).__name__}: {exc}"})
        raise
    atomic_write_json(run_dir / DECISION_FILES[gate], record)


def _glued(run_dir: Path, step: str, required: str) -> dict[str, Any]:
    notebook = runs.notebook_path(run_dir, step)
    outputs = runs.read_outputs(notebook)
    if required not in outputs:
        raise RuntimeError(f"{notebook}: no glued value {required!r}; the step {step} did not finish in this run")
    return outputs


def _read_decision(run_dir: Path, gate: str) -> dict[str, Any] | None:
    path = run_dir / DECISION_FILES[gate]
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


# --- retrain: the steps that change something ---------------------------------------------------
def _versions_table(registry: Any) -> pd.DataFrame:
    rows = [{"version": v.version, "status": v.status, "holdout_roc_auc": v.metric("holdout"),
             "created_at": v.created_at, "data_source": (v.metadata.get("data") or {}).get("source")}
            for v in registry.versions()]
    return pd.DataFrame(rows, columns=["version", "status", "holdout_roc_auc", "created_at", "data_source"])


def backup_model(run: Run) -> StepResult:
    """Record the current champion as the backup a rollback returns to (idempotent)."""
    registry = _registry(run.settings)
    champion = registry.champion()
    registry.backup_champion()
    backup = registry.backup()
    outputs = {"champion": champion.version if champion else None, "backup": backup.version if backup else None}
    message = (f"Champion {outputs['champion']} is the backup." if champion
               else "No champion yet: nothing to back up; the challenger will become the first champion.")
    return StepResult(outputs, _versions_table(registry), message)


def training_frame(reference: pd.DataFrame, production: pd.DataFrame) -> pd.DataFrame:
    """Reference rows followed by the snapshot's production rows, in the canonical columns."""
    from mindpulse.contract import CANONICAL_COLUMNS

    columns = list(CANONICAL_COLUMNS)
    return pd.concat([reference[columns], production[columns]], ignore_index=True)


def _claimed_training_frame(run: Run) -> tuple[Any, pd.DataFrame, pd.DataFrame]:
    store = _store(run.settings)
    snapshot = store.claim_snapshot(run.run_id)  # the same snapshot on every call of this run
    production = store.snapshot_frame(snapshot.id)
    reference = _reference(run.settings)
    return snapshot, reference, production


def merge_training_data(run: Run) -> StepResult:
    """Claim this run's snapshot of pending production rows and merge it with the reference data."""
    snapshot, reference, production = _claimed_training_frame(run)
    frame = training_frame(reference, production)
    table = pd.DataFrame({
        "source": ["reference", "production snapshot", "training data"],
        "rows": [len(reference), len(production), len(frame)],
        "depression_rate": [_rate(reference), _rate(production), _rate(frame)],
    })
    outputs = {"snapshot_id": snapshot.id, "production_rows": len(production), "reference_rows": len(reference),
               "training_rows": len(frame), "positive_rate": _rate(frame)}
    return StepResult(_json_ready(outputs), table,
                      f"Snapshot {snapshot.id}: {len(production)} production rows + {len(reference)} reference rows.")


def _rate(frame: pd.DataFrame) -> float | None:
    return round(float(frame["depression"].astype(float).mean()), 4) if len(frame) else None


def _data_source_key(run: Run) -> str:
    """How a model's metadata names the run it was trained for (the start of its data source)."""
    return f"{run.dag_id}/{run.run_id}:"


def _version_trained_for(registry: Any, run: Run) -> Any:
    """The model version registered by this run's training, or None."""
    key = _data_source_key(run)
    for version in reversed(registry.versions()):
        if str((version.metadata.get("data") or {}).get("source", "")).startswith(key):
            return version
    return None


def train_and_gate(run: Run, *, seed: int | None = None, candidates: list[str] | None = None,
                   margin: float | None = None) -> StepResult:
    """Train a challenger on reference + this run's snapshot and promote it only if it passes the gate.

    A retry after the model was registered does not train again: it puts the same version
    through the gate once more (promoting the champion again is a no-op).
    """
    from mindpulse import train

    settings = run.settings
    seed = settings.seed if seed is None else int(seed)
    margin = settings.promotion_margin if margin is None else float(margin)
    registry = _registry(settings)
    snapshot, reference, production = _claimed_training_frame(run)
    frame = training_frame(reference, production)
    existing = _version_trained_for(registry, run)
    if existing is None:
        data_source = (f"{_data_source_key(run)} reference ({len(reference)} rows) + snapshot {snapshot.id} "
                       f"({len(production)} rows)")
        kwargs: dict[str, Any] = {"candidates": list(candidates)} if candidates else {}
        gate = train.train_and_gate(frame, registry, seed=seed, margin=margin, data_source=data_source,
                                    progress=print, **kwargs)
        version, promoted, reason, metrics = gate.version, gate.promoted, gate.reason, gate.metrics
        champion_before, champion_after = gate.champion_before, gate.champion_after
    else:
        print(f"{existing.version} was already trained for this run: gating it again instead of retraining")
        decision = registry.promote(existing.version, margin=margin)
        version, promoted, reason = existing.version, decision.promoted, decision.reason
        metrics = {f"holdout_{k}": v for k, v in (existing.metadata.get("holdout") or {}).items()}
        champion_before, champion_after = existing.metadata.get("parent"), decision.champion_after
    outputs = {"version": version, "promoted": promoted, "reason": reason, "metrics": metrics,
               "champion_before": champion_before, "champion_after": champion_after, "snapshot_id": snapshot.id,
               "snapshot_rows": len(production), "training_rows": len(frame)}
    shown = {k: v for k, v in (metrics or {}).items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
    table = pd.DataFrame([{"version": version, "promoted": promoted, **shown}])
    verdict = "promoted to champion" if promoted else "refused"
    return StepResult(outputs, table, f"Challenger {version} {verdict}: {reason}")


def archive_production_data(run: Run) -> StepResult:
    """Export the snapshot this run trained on and mark its rows as used (only once its model is registered)."""
    store = _store(run.settings)
    snapshots = [s for s in store.snapshots() if s.run_id == run.run_id and s.state in ("claimed", "archived")]
    trained = _version_trained_for(_registry(run.settings), run)
    if not snapshots or trained is None:
        missing = "no snapshot was claimed" if not snapshots else "no model was trained on it"
        outputs = {"archived": False, "rows": 0}
        return StepResult(outputs, pd.DataFrame([outputs]),
                          f"Nothing archived: in this run {missing}, so its rows stay where they are.")
    snapshot = snapshots[0]
    path = store.archive_snapshot(snapshot.id, run.settings.archive_dir)
    outputs = {"archived": True, "archive_path": str(path), "rows": snapshot.n_rows, "snapshot_id": snapshot.id,
               "model_version": trained.version}
    return StepResult(outputs, pd.DataFrame([outputs]),
                      f"Snapshot {snapshot.id} ({snapshot.n_rows} rows, trained into {trained.version}) archived to {path}.")


def finish_retrain(run: Run, *, force: bool = False) -> StepResult:
    """Close a retrain run: release a snapshot training did not use, write run_summary.json, notify."""
    steps = _step_statuses(run, RETRAIN_STEPS, own="notify")
    decision = _read_decision(run.dir, "decide_retrain")
    check = runs.read_outputs(run.notebook("check_production_data"))
    drift = runs.read_outputs(run.notebook("detect_drift"))
    backup = runs.read_outputs(run.notebook("backup_model"))
    merged = runs.read_outputs(run.notebook("merge_training_data"))
    trained = runs.read_outputs(run.notebook("train_and_gate"))
    archived = runs.read_outputs(run.notebook("archive_production_data"))

    failed = [name for name, step in steps.items() if step["status"] in ("failed", "incomplete")]
    if failed:
        outcome = "failed"
    elif "promoted" in trained:
        outcome = "promoted" if trained["promoted"] else "refused"
    else:  # the gate said no (or, run by hand, there was no gate and nothing was trained)
        outcome = "skipped"

    snapshot = {"id": trained.get("snapshot_id", merged.get("snapshot_id")), "rows": merged.get("production_rows"),
                "archived_to": archived.get("archive_path"), "released": False}
    if outcome == "failed" and "snapshot_id" not in trained:
        snapshot.update(_release_snapshot(run))

    registry_champion = _current_champion(run.settings)
    summary = {
        "dag_id": run.dag_id, "run_id": run.run_id, "run_dir": str(run.dir), "created_at": _now(),
        "outcome": outcome, "failed_steps": failed,
        "trigger": decision or {"proceed": False, "force": bool(force),
                                "reasons": ["no gate decision in this run folder (the checks did not finish, or run by hand)"]},
        "rows": check.get("rows"), "drift_share": drift.get("drift_share"), "drift_status": drift.get("drift_status"),
        "model_before": trained.get("champion_before", backup.get("champion", registry_champion)),
        "model_after": trained.get("champion_after", registry_champion),
        "challenger": trained.get("version"), "gate_reason": trained.get("reason"),
        "metrics": trained.get("metrics") or {}, "snapshot": snapshot,
        "reports": {"data_drift": drift.get("report_html")},
        "steps": steps,
    }
    return _close_run(run, summary, _retrain_text(summary))


def _release_snapshot(run: Run) -> dict[str, Any]:
    """Give the rows a failed run claimed back to the pending pool (nothing to do when none were claimed)."""
    try:
        store = _store(run.settings)
        claimed = [s for s in store.snapshots() if s.run_id == run.run_id and s.state == "claimed"]
        for snapshot in claimed:
            store.release_snapshot(snapshot.id)
    except Exception as exc:  # the summary must still be written; the failure is reported in it
        return {"released": False, "release_error": f"{type(exc).__name__}: {exc}"}
    if not claimed:
        return {"released": False}
    return {"id": claimed[0].id, "rows": claimed[0].n_rows, "released": True}


def _current_champion(settings: Settings) -> str | None:
    try:
        champion = _registry(settings).champion()
    except Exception:  # a broken registry is reported by the step that uses it
        return None
    return champion.version if champion else None


def _step_statuses(run: Run, steps: tuple[str, ...], *, own: str) -> dict[str, dict[str, Any]]:
    statuses: dict[str, dict[str, Any]] = {}
    for step in steps:
        if step == own:
            continue
        if step in DECISION_FILES:
            decision = _read_decision(run.dir, step)
            status = "not run" if decision is None else ("failed" if decision.get("error") else "succeeded")
            statuses[step] = {"status": status, "record": DECISION_FILES[step] if decision else None,
                              "error": (decision or {}).get("error")}
            continue
        notebook = run.notebook(step)
        status = runs.step_status(notebook)
        statuses[step] = {"status": status, "record": notebook.name if notebook.is_file() else None,
                          "error": runs.notebook_error(notebook) if status == "failed" else None}
    return statuses


def _retrain_text(summary: dict[str, Any]) -> str:
    lines = [f"Retrain run {summary['run_id']}: {summary['outcome']}."]
    reasons = summary["trigger"].get("reasons") or []
    lines.append(("Triggered: " if summary["trigger"].get("proceed") else "Not triggered: ") + "; ".join(reasons) + ".")
    if summary["challenger"]:
        lines.append(f"Challenger {summary['challenger']}: {summary['gate_reason']}")
    lines.append(f"Champion before: {summary['model_before']}; after: {summary['model_after']}.")
    if summary["failed_steps"]:
        lines.append("Failed step(s): " + ", ".join(summary["failed_steps"]) + " (executed notebooks in the run folder).")
    if summary["snapshot"].get("released"):
        lines.append(f"Snapshot {summary['snapshot'].get('id')} released: its rows wait for the next retrain.")
    lines.append(f"Audit record: {summary['run_dir']}")
    return "\n".join(lines)


def _close_run(run: Run, summary: dict[str, Any], text: str) -> StepResult:
    from mindpulse import notify

    summary = _json_ready(summary)
    runs.write_summary(run.dir, summary)  # first, so a hanging mail server cannot lose the record
    level = "failure" if summary["outcome"] == "failed" else "success"
    notification = notify.Notification(subject=f"{run.dag_id}: {summary['outcome']}", text=text, level=level,
                                       payload=summary)
    summary["notifications"] = notify.send(notification, run.settings)
    runs.write_summary(run.dir, summary)
    table = pd.DataFrame([{"step": name, **status} for name, status in summary["steps"].items()])
    outputs = {"outcome": summary["outcome"], "summary_path": str(run.dir / runs.SUMMARY_NAME),
               "notifications": summary["notifications"]}
    return StepResult(outputs, table, text)


# --- reporting ------------------------------------------------------------------------------------
def current_data(run: Run) -> pd.DataFrame:
    """The rows this reporting run reports on, frozen in the run folder on first use.

    The labelled rows among the newest ``monitoring_sample_cap`` logged predictions, whether a
    retrain already used them or not: the reports describe what the model met lately, and the
    three reports of a run describe the same rows.
    """
    path = run.dir / CURRENT_DATA_NAME
    if path.is_file():
        return pd.read_parquet(path)
    recent = _store(run.settings).recent_predictions(limit=run.settings.monitoring_sample_cap)
    frame = recent[recent["depression"].notna()].sort_values("prediction_id").reset_index(drop=True)
    from mindpulse.io import atomic_path

    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)
    return frame


def check_data_availability(run: Run, *, min_rows: int | None = None) -> StepResult:
    """Reference data present and enough labelled production rows to report on; freezes those rows for this run."""
    settings = run.settings
    min_rows = settings.drift_min_rows if min_rows is None else int(min_rows)
    reference_rows = len(_reference(settings)) if settings.reference_path.is_file() else 0
    current = current_data(run)
    problems = []
    if not reference_rows:
        problems.append(f"no reference data at {settings.reference_path}")
    if len(current) < min_rows:
        problems.append(f"{len(current)} labelled production rows < min_rows {min_rows}")
    available = not problems
    first, last = (current["created_at"].min(), current["created_at"].max()) if len(current) else (None, None)
    outputs = {"available": available, "reference_rows": reference_rows, "current_rows": len(current),
               "min_rows": min_rows, "first_prediction_at": first, "last_prediction_at": last,
               "reason": "; ".join(problems) or f"{len(current)} labelled production rows >= min_rows {min_rows}"}
    table = pd.DataFrame([{k: outputs[k] for k in ("reference_rows", "current_rows", "min_rows",
                                                    "first_prediction_at", "last_prediction_at")}])
    return StepResult(_json_ready(outputs), table, ("Reports will run: " if available else "No reports: ") + outputs["reason"] + ".")


def decide_reports(run_dir: str | Path) -> bool:
    """The reporting gate: report only when the availability check found enough data."""
    run_dir = Path(run_dir)
    with _decision_record(run_dir, "decide_reports") as record:
        outputs = _glued(run_dir, "check_data_availability", "available")
        record.update({"proceed": bool(outputs["available"]), "reasons": [outputs["reason"]]})
    return record["proceed"]


_HEADLINES = {
    "data_quality": ("rows", "columns", "missing_cells", "duplicated_rows", "new_category_columns"),
    "data_drift": ("status", "share", "n_drifted", "n_features", "drifted_columns"),
    "model_performance": ("labelled_rows", "accuracy", "precision", "recall", "f1", "roc_auc"),
}


def _report_result(run: Run, result: Any) -> StepResult:
    summary = result.summary or {}
    flat = {**(summary.get("dataset") or {}), **summary}
    headline = {name: flat.get(name) for name in _HEADLINES.get(result.kind, ())}
    outputs = {"kind": result.kind, "html": _relative(result.html_path, run.dir),
               "json": _relative(result.json_path, run.dir), "headline": headline}
    table = pd.DataFrame([{k: (", ".join(map(str, v)) if isinstance(v, (list, tuple)) else v) for k, v in headline.items()}])
    return StepResult(_json_ready(outputs), table, f"{result.kind} report: {outputs['html']}")


def data_quality_report(run: Run) -> StepResult:
    """Evidently data summary of the production rows beside the reference."""
    from mindpulse import monitoring

    result = monitoring.data_quality_report(_reference(run.settings), current_data(run), run.dir,
                                            settings=run.settings)
    return _report_result(run, result)


def data_drift_report(run: Run, *, threshold: float | None = None) -> StepResult:
    """Evidently data drift of the production rows against the reference."""
    from mindpulse import monitoring

    reference, current = _drift_frames(run.settings, current_data(run))
    result = monitoring.data_drift_report(reference, current, run.dir,
                                          threshold=threshold, settings=run.settings)
    return _report_result(run, result)


def model_performance_report(run: Run) -> StepResult:
    """Evidently classification quality of the predictions that received feedback."""
    from mindpulse import monitoring

    result = monitoring.model_performance_report(current_data(run), run.dir, settings=run.settings)
    return _report_result(run, result)


def clean_up_reports(run: Run, *, keep: int | None = None) -> StepResult:
    """Delete whole run folders beyond the newest ``keep`` of each DAG (a run in progress is the newest)."""
    from mindpulse import monitoring

    keep = run.settings.reports_keep if keep is None else int(keep)
    removed: list[Path] = []
    for dag_id in (RETRAIN_DAG_ID, REPORTING_DAG_ID):  # each DAG's folder on its own: nothing else under reports/
        removed += [Path(p) for p in monitoring.prune_report_runs(run.settings.reports_dir / dag_id, keep)]
    outputs = {"keep": keep, "removed": [f"{p.parent.name}/{p.name}" for p in removed]}
    table = pd.DataFrame({"removed run folder": outputs["removed"]})
    return StepResult(outputs, table, f"Kept the newest {keep} runs of each DAG; removed {len(removed)}.")


def finish_reporting(run: Run) -> StepResult:
    """Close a reporting run: write run_summary.json and send the summary."""
    steps = _step_statuses(run, REPORTING_STEPS, own="send_summary")
    availability = runs.read_outputs(run.notebook("check_data_availability"))
    decision = _read_decision(run.dir, "decide_reports")
    reports = {step: runs.read_outputs(run.notebook(step)) for step in REPORT_STEPS}
    failed = [name for name, step in steps.items() if step["status"] in ("failed", "incomplete")]
    if failed:
        outcome = "failed"
    elif any(reports.values()):
        outcome = "reported"
    else:
        outcome = "skipped"
    drift_headline = reports["data_drift_report"].get("headline") or {}
    summary = {
        "dag_id": run.dag_id, "run_id": run.run_id, "run_dir": str(run.dir), "created_at": _now(),
        "outcome": outcome, "failed_steps": failed,
        "trigger": decision or {"proceed": False, "reasons": [availability.get("reason") or "no gate decision in this run folder"]},
        "rows": availability.get("current_rows"), "drift_share": drift_headline.get("share"),
        "drift_status": drift_headline.get("status"),
        "model_before": _current_champion(run.settings), "model_after": _current_champion(run.settings),
        "metrics": {step.removesuffix("_report"): out.get("headline") for step, out in reports.items() if out},
        "reports": {step.removesuffix("_report"): out.get("html") for step, out in reports.items() if out},
        "removed_runs": runs.read_outputs(run.notebook("clean_up_reports")).get("removed", []),
        "steps": steps,
    }
    text = "\n".join([
        f"Reporting run {run.run_id}: {outcome}.",
        "; ".join(summary["trigger"].get("reasons") or []) + ".",
        *(f"{kind}: {html}" for kind, html in summary["reports"].items()),
        *(["Failed step(s): " + ", ".join(failed)] if failed else []),
        f"Audit record: {run.dir}",
    ])
    return _close_run(run, summary, text)


# --- a demo home: what `make run`, the notebook checks and the tests start from ------------------
def train_first_champion(settings: Settings, *, seed: int | None = None, candidates: list[str] | None = None) -> str | None:
    """Train a champion on the reference data when the registry has none; returns the champion's version."""
    from mindpulse import train

    registry = _registry(settings)
    champion = registry.champion()
    if champion is not None:
        return champion.version
    kwargs: dict[str, Any] = {"candidates": list(candidates)} if candidates else {}
    outcome = train.train_and_gate(_reference(settings), registry, seed=settings.seed if seed is None else seed,
                                   margin=settings.promotion_margin, data_source="reference data (first champion)", **kwargs)
    return outcome.champion_after


def simulate_production_traffic(settings: Settings, *, days: int = 4, rows_per_day: int = 300, drift_days: int = 2,
                                scenario: str = "exam_season", strength: float = 1.0, feedback_share: float = 1.0,
                                seed: int = 1) -> dict[str, Any]:
    """Serve synthetic students with the champion, day by day, and feed back their true outcomes.

    The last ``drift_days`` days come from the ``scenario`` (exam season: more pressure and
    study hours, less sleep). Every prediction goes through the store as the dashboard's would;
    ``feedback_share`` of them receive their outcome (one feedback CSV import per day).
    """
    import tempfile

    import numpy as np

    from mindpulse.io import atomic_write_csv
    from mindpulse.predict import Predictor
    from mindpulse.synthetic import generate

    store = _store(settings)
    predictor = Predictor.load(_registry(settings))
    rng = np.random.default_rng(seed)
    logged = labelled = 0
    first_id = 1_000_000 + store.stats()["rows_total"]
    for day in range(days):
        drifted = day >= days - drift_days
        data = generate(rows_per_day, seed=seed * 1000 + day, scenario=scenario if drifted else "none",
                        strength=strength, id_start=first_id + day * rows_per_day)
        students = data.canonical()
        outcomes = students["depression"].astype(int).to_numpy()
        scored = predictor.predict_frame(students.assign(depression=pd.array([pd.NA] * len(students), dtype="Int64")))
        ids = store.log_predictions(scored)
        logged += len(ids)
        answered = rng.random(len(ids)) < feedback_share
        feedback = pd.DataFrame({"prediction_id": np.asarray(ids)[answered], "Depression": outcomes[answered]})
        with tempfile.TemporaryDirectory() as folder:
            path = atomic_write_csv(Path(folder) / "feedback.csv", feedback)
            labelled += store.import_feedback_csv(path, strict=True).accepted
    return {"predictions_logged": logged, "feedback_recorded": labelled, "days": days, "drift_days": drift_days,
            "model_version": predictor.version, "pending": store.pending_count()}


def prepare_demo_home(settings: Settings, *, reference_rows: int = 27_901, days: int = 4, rows_per_day: int = 300,
                      drift_days: int = 2, seed: int | None = None, candidates: list[str] | None = None) -> dict[str, Any]:
    """Reference data (synthetic when none), a first champion, and production traffic with feedback.

    Traffic is simulated only while fewer labelled rows than ``retrain_min_rows`` wait, so
    running it again tops the store up instead of piling rows on.
    """
    from mindpulse.data import generate_reference

    seed = settings.seed if seed is None else seed
    done: dict[str, Any] = {}
    if not settings.reference_path.is_file():
        summary = generate_reference(settings, rows=reference_rows, seed=seed)
        done["reference"] = f"generated {summary.rows_loaded} rows"
    else:
        done["reference"] = "kept"
    done["champion"] = train_first_champion(settings, seed=seed, candidates=candidates)
    pending = _store(settings).pending_count()
    if pending < settings.retrain_min_rows:
        traffic = simulate_production_traffic(settings, days=days, rows_per_day=rows_per_day, drift_days=drift_days,
                                              seed=seed + pending + 1)
        done["traffic"] = traffic
    else:
        done["traffic"] = {"pending": pending, "note": "enough labelled rows already wait; none added"}
    return done
