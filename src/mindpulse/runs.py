"""Run folders: the audit record of one DAG run, ``reports/<dag_id>/<safe run id>/``.

A run folder holds the run's executed notebooks (one per step, named after the step, so a
retry overwrites its own record and nothing else), the Evidently HTML the run made, and
``run_summary.json``. Importing this module is cheap (the DAG files use it at parse time).

Hand runs. A notebook run by hand (JupyterLab, papermill) with an empty ``run_id`` joins its
DAG's open hand run, whose id ``interactive__<UTC stamp>`` is kept in
``reports/<dag_id>/open_hand_run.json``; the first such notebook since the last hand run closed
opens it. The DAG's last step (``notify``, ``send_summary``) closes it, so the steps of one hand
pass through a DAG, in order or one by one, share one run folder, and the next pass starts a new
one. A ``run_id`` given by hand (``interactive__mine``) names a run of its own, as Airflow's do;
those never touch the open hand run.

Steps glue their outputs in scrapbook's format and the gates read them back; both sides are
done here without importing scrapbook, whose import costs ~5 s in every kernel (it imports
papermill's cloud storage handlers). ``tests/test_pipeline_steps.py`` checks, with scrapbook
itself, that the two agree with ``scrapbook.glue`` / ``scrapbook.read_notebook``.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

SUMMARY_NAME = "run_summary.json"
# The open hand run of a DAG, beside its run folders (a file: never taken for a run folder).
OPEN_HAND_RUN_NAME = "open_hand_run.json"
# A notebook run by hand (no run id given) joins its DAG's open hand run, ``interactive__<UTC stamp>``.
INTERACTIVE_RUN_ID = "interactive"
INTERACTIVE_PREFIX = f"{INTERACTIVE_RUN_ID}__"
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


def interactive_run_id() -> str:
    """A fresh run id for a hand run: ``interactive__2026-11-29T19:30:12.123456+00:00``."""
    from datetime import datetime, timezone

    return INTERACTIVE_PREFIX + datetime.now(timezone.utc).isoformat(timespec="microseconds")


def is_hand_run(run_id: str) -> bool:
    """Whether a run id (or its folder's name) is a hand run's, not a pipeline run's."""
    return str(run_id).startswith(INTERACTIVE_RUN_ID)


def open_hand_run(reports_dir: str | Path, dag_id: str) -> str:
    """The run id of the DAG's open hand run; a new one (``interactive__<UTC stamp>``) when none is open.

    Two notebooks started at once agree on one run: the record is made complete beside its place
    and linked into it, which fails for the second, which then reads the first's.
    """
    from datetime import datetime, timezone

    record = _open_hand_run_path(reports_dir, dag_id)
    found = _read_open_hand_run(record)
    if found:
        return found
    run_id = interactive_run_id()
    record.parent.mkdir(parents=True, exist_ok=True)
    draft = record.with_name(f".{record.name}.{uuid.uuid4().hex}")
    draft.write_text(json.dumps({"run_id": run_id, "opened_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}),
                     encoding="utf-8")
    try:
        os.link(draft, record)
    except FileExistsError:
        found = _read_open_hand_run(record)
        if found:
            return found
        os.replace(draft, record)  # an unreadable record: no notebook can join it
    finally:
        draft.unlink(missing_ok=True)
    return run_id


def close_hand_run(reports_dir: str | Path, dag_id: str, run_id: str) -> bool:
    """Close the DAG's open hand run if it is ``run_id`` (the next hand run starts a new folder); True if closed."""
    record = _open_hand_run_path(reports_dir, dag_id)
    if _read_open_hand_run(record) != str(run_id):
        return False
    record.unlink(missing_ok=True)
    return True


def _open_hand_run_path(reports_dir: str | Path, dag_id: str) -> Path:
    return Path(reports_dir) / safe_run_id(dag_id) / OPEN_HAND_RUN_NAME


def _read_open_hand_run(record: Path) -> str | None:
    try:
        run_id = json.loads(record.read_text(encoding="utf-8")).get("run_id")
    except (OSError, ValueError, AttributeError):
        return None
    return run_id if isinstance(run_id, str) and is_hand_run(run_id) else None


def run_dir(reports_dir: str | Path, dag_id: str, run_id: str) -> Path:
    """The folder of one DAG run's audit record (not created here)."""
    return Path(reports_dir) / safe_run_id(dag_id) / safe_run_id(run_id)


def notebook_path(folder: str | Path, step: str) -> Path:
    """Where the executed notebook of ``step`` is kept in a run folder."""
    return Path(folder) / f"{step}.ipynb"


def write_summary(folder: str | Path, summary: dict[str, Any]) -> Path:
    """Write ``run_summary.json`` atomically (a reader sees the old summary or the new one), checked
    against :class:`mindpulse.steps.RunSummary` and stamped with its schema version."""
    from mindpulse.io import atomic_write_json
    from mindpulse.steps import check_summary

    outcome = summary.get("outcome")
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome={outcome!r}: expected one of {', '.join(OUTCOMES)}")
    return atomic_write_json(Path(folder) / SUMMARY_NAME, check_summary(summary))


def read_summary(folder: str | Path) -> dict[str, Any] | None:
    """The run's summary, or None when the run has not written one (yet)."""
    path = Path(folder) / SUMMARY_NAME
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def glue(name: str, value: Any) -> None:
    """Record ``value`` under ``name`` in the running notebook, exactly as ``scrapbook.glue`` does.

    The output has scrapbook's own format (``application/scrapbook.scrap.<encoder>+json``, text
    for strings and JSON for the rest, as its default encoders choose), so
    ``scrapbook.read_notebook`` reads it back. Importing scrapbook in a kernel costs ~5 s (it
    imports papermill's cloud storage handlers), which every pipeline step would pay for one
    display call.
    """
    from IPython.display import display

    if isinstance(value, str):
        encoder = "text"
    else:
        json.dumps(value, allow_nan=False)  # fail here, with the value, rather than when the notebook is read
        encoder = "json"
    payload = {"name": name, "data": value, "encoder": encoder, "version": 1}
    display({f"application/scrapbook.scrap.{encoder}+json": payload},
            metadata={"scrapbook": {"name": name, "data": True, "display": False}}, raw=True)


def read_outputs(notebook: str | Path) -> dict[str, Any]:
    """The values an executed notebook glued (scrapbook's format); empty when it was never run.

    Reads what ``scrapbook.read_notebook(path).scraps.data_dict`` returns for text and JSON
    scraps (a later glue of a name wins), without importing scrapbook (~3-5 s per process).
    """
    notebook = Path(notebook)
    if not notebook.is_file():
        return {}
    document = json.loads(notebook.read_text(encoding="utf-8"))
    values: dict[str, Any] = {}
    for cell in document.get("cells", []):
        for output in cell.get("outputs", []):
            for mimetype, payload in (output.get("data") or {}).items():
                if not mimetype.startswith(GLUE_PREFIX) or not isinstance(payload, dict) or "name" not in payload:
                    continue
                values[payload["name"]] = _decode(payload)
    return values


GLUE_PREFIX = "application/scrapbook.scrap."


def _decode(payload: dict[str, Any]) -> Any:
    data = payload.get("data")
    if payload.get("encoder") == "json" and isinstance(data, str):
        try:  # scrapbook's JSON encoder keeps a string that is not JSON as it is
            return json.loads(data)
        except ValueError:
            return data
    if payload.get("encoder") not in ("json", "text"):
        raise ValueError(f"scrap {payload.get('name')!r}: encoder {payload.get('encoder')!r} is not read here; "
                         "the pipeline glues text and JSON only")
    return data


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
