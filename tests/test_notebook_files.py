"""The committed notebooks: stripped of outputs, and with the metadata JupyterLab would write.

JupyterLab fills ``language_info`` from the kernel when a notebook opens; a notebook committed
with less shows unsaved changes at once (tests/test_jupyterlab_browser.py sees it in Chromium).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from ipykernel.ipkernel import IPythonKernel

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
