"""Run records: the run a step works for, what a step returns, gate decisions and run summaries.

A run's folder (``reports/<dag_id>/<safe run id>/``) is its audit record: the executed
notebooks, the gates' decision files, the Evidently HTML and ``run_summary.json``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from mindpulse import runs
from mindpulse.pipeline.sources import _registry
from mindpulse.settings import Settings, get_settings

RETRAIN_STEPS = ("sweep_stale_claims", "check_production_data", "detect_drift", "decide_retrain", "backup_model", "merge_training_data",
                 "train_and_gate", "archive_production_data", "await_approval", "apply_approval", "notify")
REPORTING_STEPS = ("check_data_availability", "decide_reports", "data_quality_report", "data_drift_report",
                   "model_performance_report", "clean_up_reports", "send_summary")
REPORT_STEPS = ("data_quality_report", "data_drift_report", "model_performance_report")
# Python tasks (the gates, the sweep) write their record beside the executed notebooks.
DECISION_FILES = {"decide_retrain": "decide_retrain.json", "decide_reports": "decide_reports.json",
                  "sweep_stale_claims": "sweep_stale_claims.json", "await_approval": "await_approval.json",
                  "apply_approval": "apply_approval.json"}
CURRENT_DATA_NAME = "current_data.parquet"
# What a state-changing step says when it only previewed (commit=False, a notebook run by hand).
PREVIEW_NOTE = "Preview only (commit=False): nothing changed; run with commit=True to apply it."
# A notebook run by hand (no run id given) joins its DAG's open hand run, ``interactive__<UTC stamp>``.
INTERACTIVE_RUN_ID = runs.INTERACTIVE_RUN_ID
INTERACTIVE_PREFIX = runs.INTERACTIVE_PREFIX
interactive_run_id = runs.interactive_run_id
is_hand_run = runs.is_hand_run


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


def open_run(dag_id: str, run_id: str | None = None, run_dir: str | Path | None = None,
             settings: Settings | None = None) -> Run:
    """The run a notebook works for; its folder (``reports/<dag_id>/<safe run id>/`` by default) is created.

    Without a run id (a notebook run by hand on its defaults), the DAG's open hand run
    (:func:`mindpulse.runs.open_hand_run`), begun now when none is open: the hand-run steps of one
    pass through the DAG share its folder, snapshot and frozen rows, and its last step closes it.
    """
    settings = settings or get_settings()
    if not run_id or run_id == INTERACTIVE_RUN_ID:
        run_id = runs.open_hand_run(settings.reports_dir, dag_id)
    folder = Path(run_dir) if run_dir else runs.run_dir(settings.reports_dir, dag_id, str(run_id))
    folder.mkdir(parents=True, exist_ok=True)
    return Run(settings=settings, dag_id=dag_id, run_id=str(run_id), dir=folder)


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


