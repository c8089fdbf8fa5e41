"""Each pipeline notebook, executed on a small prepared home, shows its evidence inline: at least one
PNG figure where the step has something to show, and every table whole (no "..." or "…")."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import papermill as pm
import pytest

from fixtures.homes import HomeFactory
from mindpulse import pipeline
from mindpulse.kernels import IPCKernelManager
from mindpulse.settings import Settings
from shared_support import migrated

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
# (notebook, step, has a figure to show, extra parameters), in the order the DAGs run them.
REPORTING = [
    ("reporting/01_check_data_availability.ipynb", "check_data_availability", True, {}),
    ("reporting/02_data_quality_report.ipynb", "data_quality_report", True, {}),
    ("reporting/03_data_drift_report.ipynb", "data_drift_report", True, {}),
    ("reporting/04_model_performance_report.ipynb", "model_performance_report", True, {}),
    ("reporting/05_clean_up_reports.ipynb", "clean_up_reports", False, {"commit": True}),
    ("reporting/06_send_summary.ipynb", "send_summary", False, {}),
]
RETRAIN = [
    ("retrain/01_check_production_data.ipynb", "check_production_data", True, {}),
    ("retrain/02_detect_drift.ipynb", "detect_drift", True, {}),
    ("retrain/03_backup_model.ipynb", "backup_model", False, {}),
    ("retrain/04_merge_training_data.ipynb", "merge_training_data", False, {"commit": True}),
    ("retrain/05_train_and_gate.ipynb", "train_and_gate", True, {"candidates": ["logistic_regression"], "seed": 7, "commit": True}),
    ("retrain/06_archive_production_data.ipynb", "archive_production_data", False, {"commit": True}),
    ("retrain/07_notify.ipynb", "notify", False, {}),
]
TRUNCATED = re.compile(r"\.\.\.|…")


@pytest.fixture(scope="module")
def home(make_module_home: HomeFactory) -> Settings:
    settings = make_module_home(name="evidence-home")
    pipeline.prepare_demo_home(settings, reference_rows=3_000, seed=7, candidates=["logistic_regression"],
                               unlabelled_rows=300)
    return settings


def _outputs(notebook: Path) -> list[dict]:
    document = json.loads(notebook.read_text(encoding="utf-8"))
    return [output for cell in document["cells"] if cell["cell_type"] == "code" for output in cell.get("outputs", [])]


def _tables(outputs: list[dict]) -> list[str]:
    """The text and HTML forms of every table (a pandas frame) shown."""
    tables = []
    for output in outputs:
        data = output.get("data") or {}
        html = "".join(data.get("text/html", ""))
        if "<table" in html:
            tables += [html, "".join(data.get("text/plain", ""))]
    return tables


def _run_steps(settings: Settings, dag_id: str, steps: list, monkeypatch: pytest.MonkeyPatch,
               zygote: dict[str, str]) -> tuple[Path, dict]:
    """Run ``steps`` as the DAG's tasks do: IPC kernels, forked warm from a zygote."""
    for name in [k for k in os.environ if k.startswith("MINDPULSE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MINDPULSE_HOME", str(settings.home))
    for name, value in zygote.items():
        monkeypatch.setenv(name, value)
    run = pipeline.open_run(dag_id, "manual__2026-11-29T20:00:00+00:00", settings=settings)
    seconds = {}
    for notebook, step, _, parameters in steps:
        started = time.perf_counter()
        pm.execute_notebook(str(NOTEBOOKS / notebook), str(run.notebook(step)), kernel_name="python3",
                            progress_bar=False, parameters={"dag_id": dag_id, "run_id": run.run_id,
                                                            "run_dir": str(run.dir), **parameters},
                            kernel_manager_class=IPCKernelManager)
        seconds[step] = time.perf_counter() - started
    return run.dir, seconds


def _check(run_dir: Path, steps: list) -> None:
    for notebook, step, has_figure, _ in steps:
        outputs = _outputs(run_dir / f"{step}.ipynb")
        images = [o for o in outputs if "image/png" in (o.get("data") or {})]
        if has_figure:
            assert images, f"{notebook}: no image/png output"
        tables = _tables(outputs)
        assert tables, f"{notebook}: no table shown"
        for table in tables:
            match = TRUNCATED.search(table)
            assert match is None, f"{notebook}: a truncated table: ...{table[max(0, match.start() - 80):match.end() + 20]}..."


@pytest.mark.slow
def test_reporting_notebooks_show_figures_and_whole_tables(home: Settings, monkeypatch: pytest.MonkeyPatch,
                                                           kernel_zygote: dict) -> None:
    run_dir, _ = _run_steps(home, pipeline.REPORTING_DAG_ID, REPORTING, monkeypatch, kernel_zygote)
    _check(run_dir, REPORTING)
    performance = json.loads((run_dir / "model_performance.json").read_text())
    assert performance["estimated"]["unlabelled"]["rows"] == 300
    summary = json.loads((run_dir / "run_summary.json").read_text())
    assert summary["estimated"]["rows"] == 300 and summary["estimated"]["accuracy"]["estimate"] is not None
    printed = "".join("".join(o.get("text", "")) for o in _outputs(run_dir / "send_summary.ipynb"))
    version = summary["estimated"]["model_version"]
    assert version and summary["estimated"]["by_model_version"][version]["rows"] == 300
    # The notification names the model version behind the estimate, and its rows.
    assert f"Estimated performance (CBPE) of {version} on 300 unlabelled predictions: ROC-AUC " in printed


@pytest.mark.slow
def test_retrain_notebooks_show_figures_and_whole_tables(home: Settings, monkeypatch: pytest.MonkeyPatch,
                                                         kernel_zygote: dict) -> None:
    run_dir, _ = _run_steps(home, pipeline.RETRAIN_DAG_ID, RETRAIN, monkeypatch, kernel_zygote)
    _check(run_dir, RETRAIN)
    training = _outputs(run_dir / "train_and_gate.ipynb")
    shown = " ".join("".join((o.get("data") or {}).get("text/markdown", "")) for o in training)
    assert "Gate decision" in shown
