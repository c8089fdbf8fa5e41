"""The one template of the pipeline notebooks, and the writer that makes ``notebooks/`` from it.

Every pipeline notebook has the same cells: a title cell (what the step does, its inputs and
outputs, how it runs), a ``parameters`` cell, the imports, the step's call, its table, its
evidence (when it has some) and a last cell that glues its outputs. What differs is in
:mod:`mindpulse.notebooks.steps`. Edit those, then::

    python -m mindpulse.notebooks --write   # rewrite notebooks/ from the template
    python -m mindpulse.notebooks --check   # exit 1, naming them, if a notebook differs

The notebooks are written without outputs and with the kernel's metadata, as committed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import nbformat

from mindpulse.dag_ids import REPORTING_DAG_ID, RETRAIN_DAG_ID
from mindpulse.notebooks.steps import HAND_RUNS, STEPS, Step

DAG_LABELS = {RETRAIN_DAG_ID: "Retrain", REPORTING_DAG_ID: "Reporting"}
# What JupyterLab writes for the project's kernel: a notebook committed with less shows unsaved changes at once.
METADATA = {
    "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
    "language_info": {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
                      "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
                      "pygments_lexer": "ipython3", "version": "3.11.7"},
}


def _last_step(dag_id: str) -> Step:
    return next(step for step in STEPS if step.dag_id == dag_id and step.last)


def title_cell(step: Step) -> str:
    """The markdown cell at the top: what the step does, for someone reading its executed copy."""
    parts = [f"# {DAG_LABELS[step.dag_id]} · {step.number}. {step.title}"]
    if step.commit:
        parts.append(f"**{step.commit.changes} only with `commit=True`** (the DAG passes it): run by hand on its "
                     f"defaults it {step.commit.preview}.")
    parts.append(step.about)
    parts.append(f"- **Inputs**: {step.inputs}\n- **Outputs**: {step.outputs}")
    last = Path(_last_step(step.dag_id).path).stem
    closing = ("this step, the DAG's last, closes it: the next step run by hand opens a new run" if step.last
               else f"the DAG's last step (`{last}`) closes it")
    parts.append(
        f"Run by Airflow, the parameters come from the DAG run and the executed copy of this notebook is kept in the "
        f"run folder `reports/{step.dag_id}/<run id>/`. Run by hand on its defaults, it works on `MINDPULSE_HOME` "
        f"(the current folder when unset) as a step of the DAG's open hand run `interactive__<UTC stamp>` (named in "
        f"`reports/{step.dag_id}/open_hand_run.json`; the first step run by hand opens it), so the steps of one pass "
        f"by hand share one run folder; {closing}. A `run_id` given by hand names a run of its own ({HAND_RUNS}).")
    return "\n\n".join(parts)


def parameters_cell(step: Step) -> str:
    return "\n".join(f"{p.name} = {p.default}  # {p.comment}" for p in step.all_parameters)


def imports_cell(step: Step) -> str:
    lines = ["from mindpulse import pipeline, plots, runs"]
    if step.evidence:
        lines.append("from mindpulse.pipeline import evidence")
    lines += ["", "plots.show_whole_tables()  # tables print whole: every row, column and character"]
    return "\n".join(lines)


def call_cell(step: Step) -> str:
    lines = ["run = pipeline.open_run(dag_id, run_id, run_dir)", f"result = {step.call}", "print(result.message)"]
    if step.last:
        lines.append("runs.close_hand_run(run.settings.reports_dir, dag_id, run.run_id)  # a hand run ends here")
    return "\n".join(lines)


GLUE_CELL = "for name, value in result.outputs.items():\n    runs.glue(name, value)"


def notebook(step: Step) -> Any:
    """The notebook of ``step`` (an ``nbformat`` node), without outputs."""
    v4 = nbformat.v4
    cells = [
        v4.new_markdown_cell(title_cell(step)),
        v4.new_code_cell(parameters_cell(step), metadata={"tags": ["parameters"]}),
        v4.new_code_cell(imports_cell(step)),
        v4.new_code_cell(call_cell(step)),
        v4.new_code_cell("result.table"),
        *([v4.new_code_cell(f"{step.evidence}.show()")] if step.evidence else []),
        v4.new_code_cell(GLUE_CELL),
    ]
    for index, cell in enumerate(cells):
        cell["id"] = str(index)  # stable ids: a rewrite changes nothing that did not change
    document = v4.new_notebook(cells=cells, metadata=METADATA)
    document.nbformat_minor = 5
    return document


def render(step: Step) -> str:
    """The file text of ``step``'s notebook, as ``nbformat.write`` (and nbstripout) writes it."""
    text = nbformat.writes(notebook(step))
    return text if text.endswith("\n") else text + "\n"


def differing(notebooks_dir: Path) -> list[str]:
    """The notebooks (paths under ``notebooks_dir``) that are missing or differ from the template."""
    out = []
    for step in STEPS:
        path = notebooks_dir / step.path
        if not path.is_file() or path.read_text(encoding="utf-8") != render(step):
            out.append(step.path)
    return out


def write(notebooks_dir: Path) -> list[str]:
    """Rewrite the notebooks that differ from the template (atomically, each); return them."""
    from mindpulse.io import atomic_write_text

    changed = differing(notebooks_dir)
    for step in STEPS:
        if step.path in changed:
            target = notebooks_dir / step.path
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(target, render(step))
    return changed


def main(argv: list[str] | None = None) -> int:
    from mindpulse.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m mindpulse.notebooks",
                                     description="Write the pipeline notebooks from their template, or check them.")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="rewrite the notebooks that differ")
    action.add_argument("--check", action="store_true", help="exit 1 if a notebook differs (the default)")
    parser.add_argument("--notebooks-dir", type=Path, default=None,
                        help="the notebooks folder (default: MINDPULSE_NOTEBOOKS_DIR, the project's notebooks/)")
    args = parser.parse_args(argv)
    folder = args.notebooks_dir or Settings().notebooks_dir
    if args.write:
        changed = write(folder)
        print("\n".join(f"wrote {folder / path}" for path in changed) or f"{folder}: every notebook is up to date")
        return 0
    changed = differing(folder)
    if changed:
        print("\n".join(f"{folder / path}: differs from its template" for path in changed), file=sys.stderr)
        print("Edit src/mindpulse/notebooks/steps.py (not the notebooks), then: python -m mindpulse.notebooks --write",
              file=sys.stderr)
        return 1
    print(f"{folder}: every notebook is up to date")
    return 0
