"""Run records of several runs for the trends tests: reporting runs with a performance report and a
label-free estimate, and retrain runs with their outcomes, written as the pipeline writes them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mindpulse import runs
from mindpulse.dag_ids import REPORTING_DAG_ID, RETRAIN_DAG_ID
from mindpulse.io import atomic_write_json
from mindpulse.monitoring import estimation

#: (created_at, drift share, realized accuracy) of the reporting runs, oldest first.
REPORTING_RUNS = [("2026-11-01T06:00:00+00:00", 0.05, 0.84), ("2026-11-08T06:00:00+00:00", 0.12, 0.83),
                  ("2026-11-15T06:00:00+00:00", 0.44, 0.79)]
#: (created_at, outcome, labelled rows waiting, champion before, champion after, challenger).
RETRAIN_RUNS = [("2026-11-02T06:00:00+00:00", "skipped", 300, "v0001-x", "v0001-x", None),
                ("2026-11-09T06:00:00+00:00", "refused", 1_100, "v0001-x", "v0001-x", "v0002-x"),
                ("2026-11-16T06:00:00+00:00", "promoted", 1_400, "v0001-x", "v0003-x", "v0003-x")]


def write_runs(reports_dir: Path, *, seed: int = 3) -> dict[str, Path]:
    """Write the runs' records under ``reports_dir``; returns their folders by run id."""
    rng = np.random.default_rng(seed)
    folders: dict[str, Path] = {}
    for created_at, share, accuracy in REPORTING_RUNS:
        run_id = f"scheduled__{created_at}"
        folder = runs.run_dir(reports_dir, REPORTING_DAG_ID, run_id)
        probability = rng.beta(2, 2, 400)
        estimated = {**estimation.estimate_performance(probability, threshold=0.5, draws=50), "model_version": "v0001-x"}
        atomic_write_json(folder / "data_drift.json", {"kind": "data_drift", "share": share, "status": "no_drift",
                                                       "rows": 400})
        atomic_write_json(folder / "model_performance.json", {
            "kind": "model_performance", "rows": 400, "labelled_rows": 400, "accuracy": accuracy,
            "roc_auc": accuracy + 0.08, "f1": accuracy - 0.05, "model_versions": {"v0001-x": 400},
            "estimated": {"unlabelled": estimated, "check": {"flagged": [], "message": "matches"}}})
        # An HTML page that disagrees with the JSON: the trends must not read it.
        (folder / "model_performance.html").write_text("<html>accuracy 0.111</html>", encoding="utf-8")
        runs.write_summary(folder, {"dag_id": REPORTING_DAG_ID, "run_id": run_id, "created_at": created_at,
                                    "outcome": "reported", "drift_share": share})
        folders[run_id] = folder
    for created_at, outcome, waiting, before, after, challenger in RETRAIN_RUNS:
        run_id = f"scheduled__{created_at}"
        folder = runs.run_dir(reports_dir, RETRAIN_DAG_ID, run_id)
        runs.write_summary(folder, {"dag_id": RETRAIN_DAG_ID, "run_id": run_id, "created_at": created_at,
                                    "outcome": outcome, "rows": waiting, "drift_share": 0.1, "model_before": before,
                                    "model_after": after, "challenger": challenger})
        folders[run_id] = folder
    return folders


def write_hand_run(reports_dir: Path) -> Path:
    """A reporting notebook rerun by hand in JupyterLab: skipped, with a drift share of 0.0 (not a pipeline run)."""
    run_id = f"{runs.INTERACTIVE_RUN_ID}__2026-11-30T10-00-00"
    folder = runs.run_dir(reports_dir, REPORTING_DAG_ID, run_id)
    atomic_write_json(folder / "data_drift.json", {"kind": "data_drift", "share": 0.0, "status": "no_drift", "rows": 40})
    runs.write_summary(folder, {"dag_id": REPORTING_DAG_ID, "run_id": run_id, "created_at": "2026-11-30T10:00:00+00:00",
                                "outcome": "skipped", "drift_share": 0.0})
    return folder
