"""Notebooks rerun by hand (JupyterLab) are safe: the steps of one pass through a DAG by hand share
one run (the DAG's open hand run, closed by its last step), preview what they would change unless
``commit=True``, report on the rows of their own moment, and are listed apart from the pipeline's
runs. A claimed snapshot can be freed by hand (``mindpulse store release``)."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import papermill as pm
import pytest
from typer.testing import CliRunner

from home_support import home_state as _state
from mindpulse import pipeline, runs
from mindpulse.settings import Settings
from mindpulse.store import Store

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
COMMIT_NOTEBOOKS = ("retrain/04_merge_training_data.ipynb", "retrain/05_train_and_gate.ipynb",
                    "retrain/06_archive_production_data.ipynb", "reporting/05_clean_up_reports.ipynb")


HAND_RUN_ID = r"interactive__\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00"
RETRAIN_NOTEBOOKS = sorted((NOTEBOOKS / "retrain").glob("*.ipynb"))


def _run_folders(settings: Settings, dag_id: str) -> list[str]:
    folder = settings.reports_dir / dag_id
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def test_hand_runs_of_a_dag_share_its_open_run_until_its_last_step_closes_it(home: Settings) -> None:
    first = pipeline.open_run(pipeline.RETRAIN_DAG_ID, settings=home)
    again = pipeline.open_run(pipeline.RETRAIN_DAG_ID, "", settings=home)
    assert re.fullmatch(HAND_RUN_ID, first.run_id), first.run_id
    assert again.run_id == first.run_id and again.dir == first.dir
    assert pipeline.open_run(pipeline.REPORTING_DAG_ID, settings=home).run_id != first.run_id  # each DAG its own

    named = pipeline.open_run(pipeline.RETRAIN_DAG_ID, "interactive__mine", settings=home)
    assert named.run_id == "interactive__mine"  # a hand run can still name itself
    assert not runs.close_hand_run(home.reports_dir, pipeline.RETRAIN_DAG_ID, named.run_id)  # not the open one
    assert pipeline.open_run(pipeline.RETRAIN_DAG_ID, settings=home).run_id == first.run_id

    assert runs.close_hand_run(home.reports_dir, pipeline.RETRAIN_DAG_ID, first.run_id)
    after = pipeline.open_run(pipeline.RETRAIN_DAG_ID, settings=home)
    assert re.fullmatch(HAND_RUN_ID, after.run_id) and after.run_id != first.run_id


def test_notebooks_started_at_once_by_hand_join_one_run(home: Settings) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        opened = set(pool.map(lambda _: runs.open_hand_run(home.reports_dir, pipeline.RETRAIN_DAG_ID), range(16)))
    assert len(opened) == 1, opened
    assert [p.name for p in (home.reports_dir / pipeline.RETRAIN_DAG_ID).iterdir()] == [runs.OPEN_HAND_RUN_NAME]


def test_an_unreadable_open_hand_run_record_gives_a_new_run(home: Settings) -> None:
    record = home.reports_dir / pipeline.RETRAIN_DAG_ID / runs.OPEN_HAND_RUN_NAME
    record.parent.mkdir(parents=True)
    record.write_text("{not json")
    run = pipeline.open_run(pipeline.RETRAIN_DAG_ID, settings=home)
    assert re.fullmatch(HAND_RUN_ID, run.run_id)
    assert json.loads(record.read_text())["run_id"] == run.run_id


@pytest.mark.slow
def test_the_retrain_notebooks_rerun_by_hand_in_order_leave_one_run_folder(home: Settings, tmp_path: Path) -> None:
    """What a JupyterLab user does: run each notebook of the DAG on its defaults, one after the other."""
    assert [p.name[:2] for p in RETRAIN_NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07"]
    for notebook in RETRAIN_NOTEBOOKS:
        pm.execute_notebook(str(notebook), str(tmp_path / notebook.name), kernel_name="python3", progress_bar=False)
    folders = _run_folders(home, pipeline.RETRAIN_DAG_ID)
    assert len(folders) == 1 and folders[0].startswith(runs.INTERACTIVE_PREFIX), folders
    run_dir = home.reports_dir / pipeline.RETRAIN_DAG_ID / folders[0]
    assert {"data_drift.html", runs.SUMMARY_NAME} <= {p.name for p in run_dir.iterdir()}  # 02's report, 07's summary
    assert runs.safe_run_id(runs.read_summary(run_dir)["run_id"]) == folders[0]
    assert not (home.reports_dir / pipeline.RETRAIN_DAG_ID / runs.OPEN_HAND_RUN_NAME).exists()  # 07 closed it

    # One step alone, then the last step alone: a new hand run, which the last step closes.
    for notebook in (RETRAIN_NOTEBOOKS[2], RETRAIN_NOTEBOOKS[6]):
        pm.execute_notebook(str(notebook), str(tmp_path / f"again-{notebook.name}"), kernel_name="python3",
                            progress_bar=False)
    again = [name for name in _run_folders(home, pipeline.RETRAIN_DAG_ID) if name not in folders]
    assert len(again) == 1, _run_folders(home, pipeline.RETRAIN_DAG_ID)  # 07 joined the run 03 opened
    assert runs.read_summary(home.reports_dir / pipeline.RETRAIN_DAG_ID / again[0])["outcome"]
    assert not (home.reports_dir / pipeline.RETRAIN_DAG_ID / runs.OPEN_HAND_RUN_NAME).exists()


def test_the_state_changing_notebooks_run_by_hand_only_preview(home: Settings, tmp_path: Path) -> None:
    before = _state(home)
    for notebook in COMMIT_NOTEBOOKS:  # on their defaults, as a JupyterLab user reruns them
        output = tmp_path / Path(notebook).name
        pm.execute_notebook(str(NOTEBOOKS / notebook), str(output), kernel_name="python3", progress_bar=False)
        outputs = runs.read_outputs(output)
        assert outputs["committed"] is False, notebook
    assert _state(home) == before  # nothing claimed, registered, promoted or archived
    merged = runs.read_outputs(tmp_path / "04_merge_training_data.ipynb")
    assert merged["production_rows"] == 1200 and "snapshot_id" not in merged
    trained = runs.read_outputs(tmp_path / "05_train_and_gate.ipynb")
    # What a committed run would train on: the reference and the pending rows minus their recent slice (240).
    assert "version" not in trained and trained["training_rows"] == 3960 and trained["recent_rows"] == 240


@pytest.mark.parametrize("notebook", COMMIT_NOTEBOOKS)
def test_state_changing_notebooks_say_so_at_the_top_and_take_commit(notebook: str) -> None:
    # The title cell is what a JupyterLab user reads before running: its words are the contract.
    cells = json.loads((NOTEBOOKS / notebook).read_text())["cells"]
    assert "commit=True" in "".join(cells[0]["source"])
    commit = pm.inspect_notebook(str(NOTEBOOKS / notebook))["commit"]  # the parameter as Papermill sees it
    assert commit["default"] == "False" and commit["help"], commit


def test_a_committed_hand_run_claims_for_itself_and_the_next_one_finds_nothing_left(home: Settings) -> None:
    first = pipeline.open_run(pipeline.RETRAIN_DAG_ID, settings=home)
    claimed = pipeline.merge_training_data(first, commit=True)
    assert claimed.outputs["committed"] is True and claimed.outputs["production_rows"] == 1200
    assert runs.close_hand_run(home.reports_dir, pipeline.RETRAIN_DAG_ID, first.run_id)  # as its notify step does
    second = pipeline.open_run(pipeline.RETRAIN_DAG_ID, settings=home)
    again = pipeline.merge_training_data(second, commit=True)
    assert again.outputs["snapshot_id"] != claimed.outputs["snapshot_id"] and again.outputs["production_rows"] == 0


def test_a_hand_reporting_run_reports_the_rows_of_its_own_moment(home: Settings) -> None:
    first = pipeline.open_run(pipeline.REPORTING_DAG_ID, settings=home)
    assert pipeline.check_data_availability(first).outputs["current_rows"] == 1200
    pipeline.simulate_production_traffic(home, days=1, rows_per_day=50, drift_days=0, seed=5)  # new feedback
    assert runs.close_hand_run(home.reports_dir, pipeline.REPORTING_DAG_ID, first.run_id)  # as send_summary does
    second = pipeline.open_run(pipeline.REPORTING_DAG_ID, settings=home)
    assert pipeline.check_data_availability(second).outputs["current_rows"] == 1250
    assert len(pipeline.current_data(first)) == 1200  # a run's own rows stay frozen for its three reports


def test_mindpulse_reports_lists_hand_runs_apart(home: Settings) -> None:
    from mindpulse.cli import app

    for dag_id, run_id in ((pipeline.RETRAIN_DAG_ID, "scheduled__2026-11-26T00:00:00+00:00"),
                           (pipeline.RETRAIN_DAG_ID, "interactive__2026-11-27T10:00:00.000000+00:00")):
        runs.write_summary(runs.run_dir(home.reports_dir, dag_id, run_id),
                           {"outcome": "skipped", "dag_id": dag_id, "run_id": run_id, "created_at": "2026-11-27T10:00:00+00:00"})
    result = CliRunner().invoke(app, ["reports"])
    assert result.exit_code == 0, result.output
    pipeline_part, _, hand_part = result.output.partition("Hand runs")
    assert "scheduled__2026-11-26T00-00-00-00-00" in pipeline_part and "interactive__" not in pipeline_part
    assert "interactive__2026-11-27T10-00-00.000000-00-00" in hand_part


def test_store_release_frees_a_claimed_snapshot_after_confirmation(home: Settings) -> None:
    from mindpulse.cli import app

    run = pipeline.open_run(pipeline.RETRAIN_DAG_ID, "manual__died", settings=home)
    pipeline.merge_training_data(run, commit=True)
    assert Store.from_settings(home).pending_count() == 0

    refused = CliRunner().invoke(app, ["store", "release", "--run-id", "manual__died"], input="n\n")
    assert refused.exit_code == 1 and "1200 rows" in refused.output
    assert Store.from_settings(home).pending_count() == 0

    released = CliRunner().invoke(app, ["store", "release", "--run-id", "manual__died"], input="y\n")
    assert released.exit_code == 0, released.output
    assert "1200 rows returned to pending" in released.output
    assert Store.from_settings(home).pending_count() == 1200
    assert [s.state for s in Store.from_settings(home).snapshots()] == ["released"]

    unknown = CliRunner().invoke(app, ["store", "release", "--run-id", "manual__nothing", "--yes"])
    assert unknown.exit_code != 0 and "run_id='manual__nothing'" in unknown.output
