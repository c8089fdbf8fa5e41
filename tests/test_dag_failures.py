"""A run fails whenever one of its steps failed, whatever its gate said, in a real Airflow 3.

A gate (``short_circuit``) that says no skips the tasks right after it. The run must still end
``failed`` when a later step that runs anyway (the retrain's ``notify``, the reporting's
``send_summary``) fails. Each DAG runs with ``airflow dags test`` on a home with reference data
and no production rows (so its gate says no), and a copy of the notebooks whose final step raises.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import airflow_support as af
from mindpulse import runs
from mindpulse.dag_ids import REPORTING_DAG_ID, RETRAIN_DAG_ID
from mindpulse.settings import Settings
from shared_support import migrated as migrated_store

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]


def _breaking(notebooks: Path, relative: str) -> None:
    """Make one notebook of a copy of the notebooks raise right after its parameters cell."""
    path = notebooks / relative
    document = json.loads(path.read_text(encoding="utf-8"))
    at = next(i for i, cell in enumerate(document["cells"]) if "parameters" in cell.get("metadata", {}).get("tags", []))
    document["cells"].insert(at + 1, {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                                      "source": ["raise RuntimeError('this step fails on purpose')"]})
    path.write_text(json.dumps(document), encoding="utf-8")


def _run(dag_id: str, broken_step: str, migrated: Path, zygote: dict[str, str], tmp_path: Path,
         conf: dict | None = None) -> tuple[dict[str, str], Settings]:
    from mindpulse.data import generate_reference

    settings = migrated_store(Settings(home=tmp_path / "home"))
    generate_reference(settings, rows=300, seed=3)  # reference data, no champion, no production rows
    notebooks = tmp_path / "notebooks"
    shutil.copytree(REPO / "notebooks", notebooks)
    folder = "retrain" if dag_id == RETRAIN_DAG_ID else "reporting"
    _breaking(notebooks, next(str(p.relative_to(notebooks)) for p in (notebooks / folder).glob(f"*_{broken_step}.ipynb")))

    env = af.pipeline_env(migrated, tmp_path / "airflow", settings.home, notebooks=notebooks, settings=zygote)
    af.dags_test(env, dag_id, conf)
    return env, settings


def test_a_retrain_run_whose_gate_says_no_fails_when_notify_fails(migrated_airflow: Path, kernel_zygote: dict,
                                                                 tmp_path: Path) -> None:
    env, settings = _run(RETRAIN_DAG_ID, "notify", migrated_airflow, kernel_zygote, tmp_path)
    state, tasks = af.last_run_states(env, RETRAIN_DAG_ID)

    assert tasks["decide_retrain"] == "success" and tasks["train_and_gate"] == "skipped"  # the gate said no
    assert tasks["notify"] == "failed"
    assert tasks["fail_if_any_step_failed"] == "failed"
    assert state == "failed"
    folder = next((settings.reports_dir / RETRAIN_DAG_ID).iterdir())
    assert json.loads((folder / "decide_retrain.json").read_text())["proceed"] is False
    assert runs.notebook_error(folder / "notify.ipynb") == "RuntimeError: this step fails on purpose"


def test_a_reporting_run_with_not_enough_data_fails_when_send_summary_fails(migrated_airflow: Path, kernel_zygote: dict,
                                                                           tmp_path: Path) -> None:
    env, settings = _run(REPORTING_DAG_ID, "send_summary", migrated_airflow, kernel_zygote, tmp_path)
    state, tasks = af.last_run_states(env, REPORTING_DAG_ID)

    assert tasks["decide_reports"] == "success" and tasks["data_drift_report"] == "skipped"  # "not enough data"
    assert tasks["clean_up_reports"] == "success"
    assert tasks["send_summary"] == "failed"
    assert tasks["fail_if_any_step_failed"] == "failed"
    assert state == "failed"


def test_a_forced_retrain_goes_on_when_the_drift_step_fails_and_the_run_still_fails(migrated_airflow: Path, kernel_zygote: dict,
                                                                                    tmp_path: Path) -> None:
    env, settings = _run(RETRAIN_DAG_ID, "detect_drift", migrated_airflow, kernel_zygote, tmp_path,
                         {"force": True, "candidates": ["logistic_regression"]})
    state, tasks = af.last_run_states(env, RETRAIN_DAG_ID)

    assert tasks["detect_drift"] == "failed"
    assert tasks["decide_retrain"] == "success" and tasks["train_and_gate"] == "success"
    assert tasks["fail_if_any_step_failed"] == "failed" and state == "failed"  # a step failed: the run says so
    summary = runs.read_summary(next((settings.reports_dir / RETRAIN_DAG_ID).iterdir()))
    assert summary["outcome"] == "promoted" and summary["failed_steps"] == ["detect_drift"]
    assert summary["trigger"]["drift_not_measured"] == (
        "the detect_drift step failed: RuntimeError: this step fails on purpose")
