"""A forced retrain goes on when drift cannot be measured (the drift step failed, or too few rows),
and the reason is kept in the gate's decision and in ``run_summary.json``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mindpulse import pipeline, runs
from mindpulse.settings import Settings
from shared_support import migrated

RETRAIN = pipeline.RETRAIN_DAG_ID


def _executed(folder: Path, step: str, outputs: dict | None = None, error: tuple[str, str] | None = None) -> None:
    """An executed notebook as papermill leaves it: glued values (scrapbook's format) or an error."""
    cell_outputs = [{"output_type": "display_data", "metadata": {},
                     "data": {"application/scrapbook.scrap.json+json": {"name": k, "data": v, "encoder": "json", "version": 1}}}
                    for k, v in (outputs or {}).items()]
    if error:
        cell_outputs.append({"output_type": "error", "ename": error[0], "evalue": error[1], "traceback": []})
    document = {"cells": [{"cell_type": "code", "metadata": {}, "source": [], "outputs": cell_outputs}], "metadata": {},
                "nbformat": 4, "nbformat_minor": 5}
    runs.notebook_path(folder, step).write_text(json.dumps(document))


def test_a_forced_run_goes_on_when_the_drift_step_failed(tmp_path: Path) -> None:
    _executed(tmp_path, "check_production_data", {"rows": 40})
    _executed(tmp_path, "detect_drift", error=("ValueError", "Evidently could not compare the columns"))

    decision = pipeline.decide_retrain(tmp_path, min_rows=1000, feature_drift_threshold=0.3, prediction_drift_threshold=0.1, force=True)
    assert decision.proceed is True
    assert decision.reasons == ["forced by the run's conf (force=true)"]
    assert decision.drift_not_measured == "the detect_drift step failed: ValueError: Evidently could not compare the columns"
    recorded = json.loads((tmp_path / "decide_retrain.json").read_text())
    assert recorded["proceed"] is True and recorded["drift_not_measured"] == decision.drift_not_measured


def test_an_unforced_run_still_fails_its_gate_when_the_drift_step_failed(tmp_path: Path) -> None:
    _executed(tmp_path, "check_production_data", {"rows": 40})
    _executed(tmp_path, "detect_drift", error=("ValueError", "boom"))
    with pytest.raises(RuntimeError, match="the detect_drift step failed: ValueError: boom"):
        pipeline.decide_retrain(tmp_path, min_rows=1000, feature_drift_threshold=0.3, prediction_drift_threshold=0.1, force=False)


def test_a_forced_run_with_too_few_rows_for_drift_records_why_in_its_summary(tmp_path: Path) -> None:
    _executed(tmp_path, "check_production_data", {"rows": 40})
    reason = "not enough data: the current data has 40 rows; a drift decision needs at least 500 (drift_min_rows)"
    _executed(tmp_path, "detect_drift", {"drift_status": "not_enough_data", "n_rows": 40, "reason": reason})
    decision = pipeline.decide_retrain(tmp_path, min_rows=1000, feature_drift_threshold=0.3, prediction_drift_threshold=0.1, force=True)
    assert decision.proceed and decision.drift_not_measured == reason

    run = pipeline.open_run(RETRAIN, "manual__forced", run_dir=tmp_path, settings=migrated(Settings(home=tmp_path / "home")))
    pipeline.finish_retrain(run, force=True)
    summary = runs.read_summary(tmp_path)
    assert summary["trigger"]["drift_not_measured"] == decision.drift_not_measured
