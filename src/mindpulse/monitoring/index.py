"""The index of report runs for the dashboard, and their retention.

A *run folder* is one run's record (the pipeline's ``reports/<dag_id>/<safe run id>/``: executed
notebooks, ``run_summary.json``, report HTML and JSON, possibly in subfolders). ``root`` may be

* the reports root, whose subfolders are DAG folders holding run folders (``root/*/*``), or
* one DAG's folder, whose subfolders are run folders (``root/*``), or a mix of both.

Each subfolder of ``root`` that directly holds a run's file (``run_summary.json``, an executed
notebook ``*.ipynb``, a report ``*.html`` or a report summary ``<kind>.json``) is a run folder;
any other subfolder is taken for a DAG folder, and those of its subfolders that hold such a file
(at any depth) are its run folders. So a DAG folder, which holds only run folders, is never taken
for a run (nor deleted as one). A run's time is the ``created_at`` of its ``run_summary.json``
when there is one, else the folder's modification time. Hidden entries (a leading dot) are
ignored, so a run being deleted is never listed.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mindpulse.runs import SUMMARY_NAME, is_hand_run
from mindpulse.steps import RunSummary, read_run_summary

REPORT_KINDS: tuple[str, ...] = ("data_quality", "data_drift", "model_performance")


def run_folders(root: str | Path) -> list[Path]:
    """Every run folder under ``root`` (the reports root or one DAG's folder), in no particular order."""
    root = Path(root)
    if not root.is_dir():
        return []
    runs: list[Path] = []
    for child in _subfolders(root):
        if _holds_run_files(child):
            runs.append(child)
        else:
            runs.extend(run for run in _subfolders(child) if _holds_run_files(run, nested=True))
    return runs


def list_report_runs(root: str | Path) -> list[dict[str, Any]]:
    """One dict per run folder under ``root``, newest first: name, path, created_at, key figures, HTML and notebooks."""
    entries = [_describe(folder) for folder in run_folders(root)]
    entries.sort(key=lambda e: (e["_time"], e["name"]), reverse=True)
    for entry in entries:
        del entry["_time"]
    return entries


def prune_report_runs(root: str | Path, keep: int) -> list[Path]:
    """Delete whole run folders beyond the newest ``keep`` of each DAG folder under ``root``; return those deleted.

    With the reports root, each DAG keeps its own newest ``keep`` runs (a busy DAG never evicts
    another DAG's records).
    """
    if int(keep) != keep or keep < 1:
        raise ValueError(f"keep: got {keep!r}, expected a whole number of at least 1")
    by_parent: dict[Path, list[tuple[float, str, Path]]] = {}
    for folder in run_folders(root):
        by_parent.setdefault(folder.parent, []).append((run_time(folder)[0], folder.name, folder))
    removed: list[Path] = []
    for runs in by_parent.values():
        runs.sort(reverse=True)
        for _, _, folder in runs[int(keep):]:
            remove_run_folder(folder)
            removed.append(folder)
    return removed


# --- helpers --------------------------------------------------------------------------------------

def _subfolders(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")]
    except FileNotFoundError:  # removed while we looked
        return []


def _is_run_file(path: Path) -> bool:
    name = path.name
    return (not name.startswith(".") and path.is_file()
            and (name == SUMMARY_NAME or path.suffix in (".ipynb", ".html") or path.stem in REPORT_KINDS and path.suffix == ".json"))


def _holds_run_files(folder: Path, *, nested: bool = False) -> bool:
    try:
        if not nested:
            return any(_is_run_file(path) for path in folder.iterdir())
        return any(_is_run_file(path) and not any(part.startswith(".") for part in path.relative_to(folder).parts)
                   for path in folder.rglob("*"))
    except FileNotFoundError:  # removed while we looked
        return False


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def run_time(folder: Path, summary: RunSummary | None = None) -> tuple[float, str]:
    """(epoch seconds, ISO text) of a run: run_summary.json's created_at, else the folder's mtime.

    ``summary``: the run's summary when the caller has read it already (else it is read here).
    """
    summary = read_run_summary(folder) if summary is None else summary
    created = summary.created_at if summary is not None else None
    if isinstance(created, str):
        try:
            moment = datetime.fromisoformat(created.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            return moment.timestamp(), created
        except ValueError:
            pass
    try:
        mtime = folder.stat().st_mtime
    except FileNotFoundError:
        mtime = 0.0
    return mtime, datetime.fromtimestamp(mtime, timezone.utc).isoformat(timespec="seconds")


def _relative_files(folder: Path, pattern: str) -> list[str]:
    found = []
    for path in folder.rglob(pattern):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        found.append(relative.as_posix())
    return sorted(found)


def _describe(folder: Path) -> dict[str, Any]:
    summary = read_run_summary(folder)
    moment, created_at = run_time(folder, summary)
    notebooks = _relative_files(folder, "*.ipynb")
    # An HTML beside a notebook of the same name is that notebook rendered, not a report.
    html = [p for p in _relative_files(folder, "*.html") if p[: -len(".html")] + ".ipynb" not in notebooks]
    reports: dict[str, dict[str, Any]] = {}
    for relative in _relative_files(folder, "*.json"):
        kind = Path(relative).stem
        if kind in REPORT_KINDS and kind not in reports:
            figures = _read_json(folder / relative) or {}
            html_name = Path(relative).with_suffix(".html").as_posix()
            reports[kind] = {"json": relative, "html": html_name if html_name in html else None, "summary": figures}
    drift = reports.get("data_drift", {}).get("summary", {})
    performance = reports.get("model_performance", {}).get("summary", {})
    rows = next((reports[k]["summary"].get("rows") for k in REPORT_KINDS if k in reports
                 and reports[k]["summary"].get("rows") is not None), None)
    accuracy, roc_auc = performance.get("accuracy"), performance.get("roc_auc")
    models = (summary.models if summary else None) or {}
    versions = performance.get("model_versions") or models.get("current_rows_by_version") or {}
    figures_by = ", ".join(versions) if versions else None
    metrics = summary.metrics if summary else {}
    if not performance and summary is not None and metrics.get("holdout_accuracy") is not None:
        # A retrain run: its figures are the challenger's, on the fixed holdout.
        accuracy, roc_auc = metrics.get("holdout_accuracy"), metrics.get("holdout_roc_auc")
        figures_by = f"{summary.challenger} (holdout)"
    unlabelled = (performance.get("estimated") or {}).get("unlabelled") or {}
    estimated = None
    if unlabelled.get("rows"):
        bands = unlabelled.get("metrics") or {}
        estimated = {"model_version": unlabelled.get("model_version"), "rows": int(unlabelled["rows"]),
                     **{name: (bands.get(name) or {}).get("estimate") for name in ("roc_auc", "accuracy", "f1")}}
    return {
        "name": folder.name,
        "path": str(folder),
        "dag_id": (summary.dag_id if summary else None) or folder.parent.name,
        "run_id": (summary.run_id if summary else None) or folder.name,
        # A notebook run by hand (JupyterLab), not a pipeline run: listed apart.
        "hand_run": is_hand_run((summary.run_id if summary else None) or folder.name),
        "created_at": created_at,
        "outcome": summary.outcome if summary else None,
        "rows": rows,
        "drift_status": drift.get("status"),
        "drift_share": drift.get("share"),
        "accuracy": accuracy,
        "roc_auc": roc_auc,
        "figures_by": figures_by,  # the model version(s) whose predictions the accuracy and ROC-AUC describe
        "estimated": estimated,  # the CBPE estimate of the unlabelled predictions, with its model and rows
        "reports": {kind: {"json": r["json"], "html": r["html"]} for kind, r in reports.items()},
        "html": html,
        "notebooks": notebooks,
        "summary": summary,  # the run's summary as read (RunSummary), or None
        "run_summary": summary.as_dict() if summary else None,  # the same, as JSON values
        "_time": moment,
    }


def remove_run_folder(folder: Path) -> None:
    """Delete a run folder whole: first renamed to a hidden name (readers skip it at once), then removed."""
    hidden = folder.with_name(f".deleting-{folder.name}-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(folder, hidden)
    except FileNotFoundError:
        return
    shutil.rmtree(hidden)
