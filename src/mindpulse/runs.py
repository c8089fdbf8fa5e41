"""Run folders: the audit record of one DAG run, ``reports/<dag_id>/<safe run id>/``.

A run folder holds the run's executed notebooks (one per step, named after the step, so a
retry overwrites its own record and nothing else), the Evidently HTML the run made, and
``run_summary.json``. Importing this module is cheap (the DAG files use it at parse time);
scrapbook and nbformat are imported only by the functions that read notebooks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

SUMMARY_NAME = "run_summary.json"
OUTCOMES = ("promoted", "refused", "skipped", "failed", "reported")

# Characters that are safe in a file name on Linux, macOS and Windows; ':' and '+' of the
# timestamps in Airflow run ids are not.
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_run_id(run_id: str) -> str:
    """The run id with every character outside ``[A-Za-z0-9._-]`` replaced by ``-``.

    ``manual__2026-11-26T07:30:13.241978+00:00`` -> ``manual__2026-11-26T07-30-13.241978-00-00``.
    """
    safe = _UNSAFE.sub("-", str(run_id)).strip(".-")
    if not safe:
        raise ValueError(f"run_id={run_id!r}: expected at least one letter or digit")
    return safe


def run_dir(reports_dir: str | Path, dag_id: str, run_id: str) -> Path:
    """The folder of one DAG run's audit record (not created here)."""
    return Path(reports_dir) / safe_run_id(dag_id) / safe_run_id(run_id)


def notebook_path(folder: str | Path, step: str) -> Path:
    """Where the executed notebook of ``step`` is kept in a run folder."""
    return Path(folder) / f"{step}.ipynb"


def write_summary(folder: str | Path, summary: dict[str, Any]) -> Path:
    """Write ``run_summary.json`` atomically (a reader sees the old summary or the new one)."""
    from mindpulse.io import atomic_write_json

    outcome = summary.get("outcome")
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome={outcome!r}: expected one of {', '.join(OUTCOMES)}")
    return atomic_write_json(Path(folder) / SUMMARY_NAME, summary)


def read_summary(folder: str | Path) -> dict[str, Any] | None:
    """The run's summary, or None when the run has not written one (yet)."""
    path = Path(folder) / SUMMARY_NAME
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def read_outputs(notebook: str | Path) -> dict[str, Any]:
    """The values an executed notebook glued with scrapbook; empty when it was never run."""
    notebook = Path(notebook)
    if not notebook.is_file():
        return {}
    import scrapbook as sb

    return dict(sb.read_notebook(str(notebook)).scraps.data_dict)


def notebook_error(notebook: str | Path) -> str | None:
    """The error an executed notebook stopped on (as papermill recorded it), or None."""
    notebook = Path(notebook)
    if not notebook.is_file():
        return None
    document = json.loads(notebook.read_text(encoding="utf-8"))
    for cell in document.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            if output.get("output_type") == "error":
                return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip()
    if document.get("metadata", {}).get("papermill", {}).get("exception"):
        return "the notebook stopped on an error"
    return None


def step_status(notebook: str | Path, outputs: dict[str, Any] | None = None) -> str:
    """``not run``, ``failed``, ``incomplete`` (no error, but the final glue is missing) or ``succeeded``."""
    notebook = Path(notebook)
    if not notebook.is_file():
        return "not run"
    if notebook_error(notebook):
        return "failed"
    outputs = read_outputs(notebook) if outputs is None else outputs
    return "succeeded" if outputs else "incomplete"
