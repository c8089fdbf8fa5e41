"""Clean-up keeps run records by outcome: a promotion, a refusal or a failure is never deleted, nor a run
a kept model version was trained in; skipped and reported runs keep the newest ``reports_keep``, and
hand runs the newest ``reports_keep`` of their own."""

from __future__ import annotations

from pathlib import Path

import pytest

from mindpulse import pipeline, runs
from mindpulse.dag_ids import REPORTING_DAG_ID, RETRAIN_DAG_ID
from mindpulse.registry import ModelRegistry
from mindpulse.settings import Settings
from mindpulse.synthetic import generate
from mindpulse.train import train_register_and_judge

KEEP = 3


def _record(settings: Settings, dag_id: str, run_id: str, day: int, outcome: str | None) -> str:
    folder = runs.run_dir(settings.reports_dir, dag_id, run_id)
    folder.mkdir(parents=True)
    if outcome is None:  # a run that died before its last step: notebooks, no summary
        (folder / "check_production_data.ipynb").write_text("{}")
    else:
        runs.write_summary(folder, {"outcome": outcome, "dag_id": dag_id, "run_id": run_id,
                                    "created_at": f"2026-01-{day:02d}T00:00:00+00:00"})
    return f"{dag_id}/{folder.name}"


@pytest.fixture
def reports(tmp_path: Path) -> tuple[Settings, set[str], set[str]]:
    """A home whose report folders hold every kind of run record, the older ones first."""
    settings = Settings(home=tmp_path / "home", reports_keep=KEEP)
    registry = ModelRegistry.from_settings(settings)
    frame = generate(800, seed=4).canonical()
    lineage = {"run": {"dag_id": RETRAIN_DAG_ID, "run_id": "scheduled__2026-01-04T00:00:00+00:00"},
               "reference": None, "snapshots": [], "window": None}
    train_register_and_judge(frame, registry, seed=1, margin=0.005, data_source="lineage names the run", lineage=lineage,
                   candidates=["logistic_regression"], folds=3)
    train_register_and_judge(frame, registry, seed=2, margin=0.005, candidates=["logistic_regression"], folds=3,
                   data_source=f"{RETRAIN_DAG_ID}/manual__2026-01-05T00:00:00+00:00: reference (800 rows) + snapshot 1")

    kept = {
        _record(settings, RETRAIN_DAG_ID, "scheduled__2026-01-01T00:00:00+00:00", 1, "promoted"),
        _record(settings, RETRAIN_DAG_ID, "scheduled__2026-01-02T00:00:00+00:00", 2, "refused"),
        _record(settings, RETRAIN_DAG_ID, "scheduled__2026-01-03T00:00:00+00:00", 3, "failed"),
        _record(settings, RETRAIN_DAG_ID, "scheduled__2026-01-04T00:00:00+00:00", 4, "skipped"),  # lineage
        _record(settings, RETRAIN_DAG_ID, "manual__2026-01-05T00:00:00+00:00", 5, "skipped"),  # data source
        _record(settings, RETRAIN_DAG_ID, "scheduled__2026-01-06T00:00:00+00:00", 6, None),
        _record(settings, REPORTING_DAG_ID, "scheduled__2026-01-01T00:00:00+00:00", 1, "failed"),
    }
    removed = set()
    for day in range(10, 22):  # ten-odd daily runs that did nothing, newer than all of the above
        name = _record(settings, RETRAIN_DAG_ID, f"scheduled__2026-01-{day:02d}T00:00:00+00:00", day, "skipped")
        (kept if day >= 22 - KEEP else removed).add(name)
        name = _record(settings, REPORTING_DAG_ID, f"scheduled__2026-01-{day:02d}T00:00:00+00:00", day, "reported")
        (kept if day >= 22 - KEEP else removed).add(name)
    for day in range(22, 22 + KEEP + 1):  # hand runs are pruned among themselves
        name = _record(settings, RETRAIN_DAG_ID, f"interactive__2026-01-{day:02d}T00:00:00.000000+00:00", day, "failed")
        (kept if day > 22 else removed).add(name)
    return settings, kept, removed


def _folders(settings: Settings) -> set[str]:
    """The run folders (a DAG's folder also holds its open hand run's record, a file)."""
    return {f"{dag.name}/{run.name}" for dag in settings.reports_dir.iterdir() for run in dag.iterdir() if run.is_dir()}


def test_clean_up_keeps_records_by_outcome_and_those_models_refer_to(reports) -> None:
    settings, kept, removed = reports
    run = pipeline.open_run(REPORTING_DAG_ID, "scheduled__2026-02-01T00:00:00+00:00", settings=settings)
    result = pipeline.clean_up_reports(run, commit=True)
    assert set(result.outputs["removed"]) == removed
    assert _folders(settings) == kept | {f"{REPORTING_DAG_ID}/{run.dir.name}"}


def test_clean_up_run_by_hand_lists_what_it_would_remove_and_removes_nothing(reports) -> None:
    settings, kept, removed = reports
    before = _folders(settings)
    result = pipeline.clean_up_reports(pipeline.open_run(REPORTING_DAG_ID, settings=settings))
    assert result.outputs["committed"] is False and set(result.outputs["would_remove"]) == removed
    assert _folders(settings) - before == {f"{REPORTING_DAG_ID}/{p.name}" for p in (settings.reports_dir / REPORTING_DAG_ID).iterdir()
                                           if p.name.startswith("interactive__")}
    assert before <= _folders(settings)
