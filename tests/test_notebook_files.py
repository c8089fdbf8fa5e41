"""The committed notebooks: stripped of outputs, with the metadata JupyterLab would write, and the
pipeline's notebooks exactly as their template writes them (a hand edit is caught).

JupyterLab fills ``language_info`` from the kernel when a notebook opens; a notebook committed
with less shows unsaved changes at once (tests/test_jupyterlab_browser.py sees it in Chromium).
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from ipykernel.ipkernel import IPythonKernel

from mindpulse.notebooks import template
from mindpulse.notebooks.steps import STEPS
from mindpulse.orchestration import KERNEL_NAME

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(p for p in NOTEBOOKS_DIR.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
REFRESH = ("open it in JupyterLab and save it, then strip it "
           "(.venv/bin/nbstripout notebooks/**/*.ipynb)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(NOTEBOOKS_DIR).as_posix())
def test_a_committed_notebook_has_no_outputs_and_the_kernels_metadata(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code), f"{path.name}: outputs left"
    assert notebook.metadata.kernelspec == {"display_name": "Python 3 (ipykernel)", "language": "python",
                                            "name": KERNEL_NAME}
    assert notebook.metadata.language_info == IPythonKernel.language_info, f"{path.name}: {REFRESH}"


# --- the pipeline notebooks are written from one template (mindpulse.notebooks) -----------------
PIPELINE_NOTEBOOKS = sorted(p for folder in ("retrain", "reporting") for p in (NOTEBOOKS_DIR / folder).glob("*.ipynb"))
REPO = NOTEBOOKS_DIR.parent
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


def test_every_pipeline_notebook_has_a_step_description_and_equals_what_the_template_writes() -> None:
    assert sorted(step.path for step in STEPS) == [p.relative_to(NOTEBOOKS_DIR).as_posix() for p in PIPELINE_NOTEBOOKS]
    assert template.differing(NOTEBOOKS_DIR) == [], "edit src/mindpulse/notebooks/steps.py, then: python -m mindpulse.notebooks --write"


def test_a_hand_edit_of_a_notebook_is_caught_and_the_writer_undoes_it(tmp_path: Path) -> None:
    copy = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS_DIR, copy)
    edited = copy / STEPS[0].path
    document = json.loads(edited.read_text())
    document["cells"][0]["source"][0] += " (edited by hand)"
    edited.write_text(json.dumps(document, indent=1))
    assert template.differing(copy) == [STEPS[0].path]
    check = subprocess.run([sys.executable, "-m", "mindpulse.notebooks", "--check", "--notebooks-dir", str(copy)],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 1 and f"{edited}: differs from its template" in check.stderr, check.stderr
    assert template.write(copy) == [STEPS[0].path]
    assert edited.read_text() == (NOTEBOOKS_DIR / STEPS[0].path).read_text()


@pytest.mark.parametrize("path", PIPELINE_NOTEBOOKS, ids=lambda p: p.relative_to(NOTEBOOKS_DIR).as_posix())
def test_a_pipeline_notebook_has_a_title_a_parameters_cell_and_a_last_cell_that_glues(path: Path) -> None:
    cells = nbformat.read(path, as_version=4).cells
    assert cells[0].cell_type == "markdown" and re.match(r"# (Retrain|Reporting) · \d\. \S", cells[0].source), cells[0].source
    tagged = [cell for cell in cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0] is cells[1]
    assert all(re.fullmatch(r"\w+ = .+  # .+", line) for line in tagged[0].source.splitlines()), tagged[0].source
    assert "runs.glue(name, value)" in cells[-1].source
    code = "\n".join(cell.source for cell in cells if cell.cell_type == "code")
    assert "scrapbook" not in code  # why the glue does not import scrapbook is said once, in mindpulse.runs


@pytest.mark.parametrize("path", PIPELINE_NOTEBOOKS, ids=lambda p: p.relative_to(NOTEBOOKS_DIR).as_posix())
def test_a_pipeline_notebooks_links_lead_to_files_of_the_project(path: Path) -> None:
    title = nbformat.read(path, as_version=4).cells[0].source
    links = LINK.findall(title)
    assert links, "rules are linked, not restated"
    for target, anchor in links:
        resolved = (path.parent / target).resolve()
        if target.startswith("../../docs/") and not resolved.exists():
            continue  # the architecture document arrives on its own; its anchor is checked once it is here
        assert resolved.is_file(), f"{path.name}: {target} does not exist"
        if anchor:  # GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens
            headings = {re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", line.lstrip("#").strip().lower()))
                        for line in resolved.read_text().splitlines() if line.startswith("#")}
            assert anchor[1:] in headings, f"{path.name}: {target}{anchor}: no such heading"


def _dag_parameters() -> dict[str, set[str]]:
    """The papermill parameters each DAG passes to each notebook (``notebook_task(step, notebook, parameters=...)``)."""
    passed: dict[str, set[str]] = {}
    for dag in (REPO / "dags").glob("*.py"):
        for node in ast.walk(ast.parse(dag.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "notebook_task":
                notebook = node.args[1].value
                given = next((kw.value for kw in node.keywords if kw.arg == "parameters"), None)
                passed[notebook] = {"dag_id", "run_id", "run_dir"} | {key.value for key in getattr(given, "keys", [])}
    return passed


def test_every_parameter_a_dag_passes_is_in_its_notebooks_parameters_cell() -> None:
    passed = _dag_parameters()
    assert sorted(passed) == sorted(step.path for step in STEPS)
    for step in STEPS:
        declared = {parameter.name for parameter in step.all_parameters}
        assert passed[step.path] <= declared, (step.path, passed[step.path] - declared)
