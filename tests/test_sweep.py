"""The sweep at the start of each retrain run settles the claims of runs that died: released, or
archived when the registry holds the model that run trained; each one logged and notified."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

from airflow_support import WebhookReceiver
from mindpulse import pipeline
from mindpulse.dag_ids import RETRAIN_DAG_ID
from mindpulse.registry import ModelRegistry
from mindpulse.settings import Settings
from mindpulse.store import Store
from mindpulse.synthetic import generate
from mindpulse.train import train_register_and_judge
from shared_support import migrated

UNTRAINED, TRAINED, RECENT = "manual__2026-11-29T01:00:00+00:00", "manual__2026-11-29T02:00:00+00:00", "manual__now"


def _claim(settings: Settings, run_id: str, rows: int, seed: int, hours_ago: float) -> int:
    store = Store.from_settings(settings)
    store.add_labelled(generate(rows, seed=seed, id_start=1_000_000 + seed * 10_000).canonical())
    snapshot = store.claim_snapshot(run_id)
    stamp = (datetime.now(timezone.utc) - timedelta(hours=hours_ago)).replace(tzinfo=None)
    with sqlite3.connect(settings.data_dir / "mindpulse.db") as db:  # the claim's age, as if it were that old
        db.execute("UPDATE snapshots SET claimed_at = ? WHERE id = ?", (stamp.isoformat(sep=" "), snapshot.id))
    return snapshot.id


def test_stale_claims_are_released_or_archived_from_the_registry_and_notified(tmp_path: Path, caplog) -> None:
    with WebhookReceiver() as hook:
        settings = migrated(Settings(home=tmp_path / "home", webhook_url=hook.url, pipeline_run_timeout_minutes=120))
        untrained = _claim(settings, UNTRAINED, 30, seed=1, hours_ago=3)
        trained = _claim(settings, TRAINED, 40, seed=2, hours_ago=2.5)
        recent = _claim(settings, RECENT, 50, seed=3, hours_ago=0.5)
        # The run that claimed TRAINED registered its model, then died before archiving.
        version = train_register_and_judge(generate(800, seed=9).canonical(), ModelRegistry.from_settings(settings), seed=1,
                                 margin=0.005, data_source="a run that died", candidates=["logistic_regression"], folds=3,
                                 lineage={"run": {"dag_id": RETRAIN_DAG_ID, "run_id": TRAINED}, "reference": None,
                                          "snapshots": [], "window": None}).version

        run = pipeline.open_run(RETRAIN_DAG_ID, "scheduled__2026-11-29T12:00:00+00:00", settings=settings)
        with caplog.at_level(logging.WARNING, logger="mindpulse.pipeline"):
            result = pipeline.sweep_stale_claims(run)

    store = Store.from_settings(settings)
    states = {s.id: s.state for s in store.snapshots()}
    assert states == {untrained: "released", trained: "archived", recent: "claimed"}
    assert store.pending_count() == 30  # the untrained run's rows wait for the next claim
    assert [(e["snapshot_id"], e["action"], e["model_version"]) for e in result.outputs["swept"]] == [
        (trained, "archived", version), (untrained, "released", None)]
    assert len([r for r in caplog.records if "Stale claim swept" in r.getMessage()]) == 2
    assert sorted(m["json"]["subject"] for m in hook.received) == [
        f"{RETRAIN_DAG_ID}: stale claim archived", f"{RETRAIN_DAG_ID}: stale claim released"]

    again = pipeline.sweep_stale_claims(run)
    assert again.outputs["swept"] == [] and again.message.startswith("No claim older than 2:00:00")


def test_the_dag_task_keeps_the_sweep_in_the_run_folder(tmp_path: Path, monkeypatch) -> None:
    from mindpulse.settings import get_settings

    settings = migrated(Settings(home=tmp_path / "home", pipeline_run_timeout_minutes=120))
    _claim(settings, UNTRAINED, 30, seed=1, hours_ago=3)
    folder = tmp_path / "run"
    for name in [k for k in os.environ if k.startswith("MINDPULSE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MINDPULSE_HOME", str(settings.home))  # the worker's settings, as in the DAG task
    get_settings.cache_clear()
    try:
        assert pipeline.sweep_before_run(RETRAIN_DAG_ID, "scheduled__x", str(folder)) == 1
    finally:
        get_settings.cache_clear()
    record = json.loads((folder / "sweep_stale_claims.json").read_text())
    assert [e["action"] for e in record["swept"]] == ["released"]


def test_a_run_whose_training_registered_a_model_but_died_before_its_glue_archives_its_rows(tmp_path: Path) -> None:
    """The notify step decides from the registry: the rows the registered model was trained on are not released."""
    settings = migrated(Settings(home=tmp_path / "home"))
    run_id = "manual__kernel-died"
    snapshot = _claim(settings, run_id, 40, seed=4, hours_ago=0)
    version = train_register_and_judge(generate(800, seed=9).canonical(), ModelRegistry.from_settings(settings), seed=1,
                             margin=0.005, data_source="a kernel that died", candidates=["logistic_regression"], folds=3,
                             lineage={"run": {"dag_id": RETRAIN_DAG_ID, "run_id": run_id}, "reference": None,
                                      "snapshots": [], "window": None}).version
    run = pipeline.open_run(RETRAIN_DAG_ID, run_id, settings=settings)
    failed = {"cells": [{"cell_type": "code", "metadata": {}, "source": [], "outputs": [
        {"output_type": "error", "ename": "DeadKernelError", "evalue": "Kernel died", "traceback": []}]}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    run.notebook("train_and_gate").write_text(json.dumps(failed))

    pipeline.finish_retrain(run)
    summary = json.loads((run.dir / "run_summary.json").read_text())
    assert summary["outcome"] == "failed" and summary["snapshot"]["released"] is False
    assert summary["snapshot"]["model_version"] == version and summary["snapshot"]["archived_to"]
    assert {s.id: s.state for s in Store.from_settings(settings).snapshots()} == {snapshot: "archived"}
    assert Store.from_settings(settings).pending_count() == 0


def test_the_sweep_applies_the_retention_period_to_unanswered_predictions(tmp_path: Path) -> None:
    from mindpulse.audit import AuditTrail

    settings = migrated(Settings(home=tmp_path / "home", prediction_retention_days=30))
    store = Store.from_settings(settings)
    students = generate(3, seed=4).canonical().drop(columns=["depression"]).to_dict("records")
    ids = [store.log_prediction(s, probability=0.2, label=0, model_version="v0001") for s in students]
    store.record_feedback(ids[0], 1)
    stamp = (datetime.now(timezone.utc) - timedelta(days=45)).replace(tzinfo=None)
    with sqlite3.connect(settings.data_dir / "mindpulse.db") as db:  # logged 45 days ago
        db.execute(f"UPDATE production_rows SET created_at = ? WHERE id IN ({ids[0]}, {ids[1]})", (stamp.isoformat(sep=" "),))
    run = pipeline.open_run(RETRAIN_DAG_ID, "scheduled__2026-12-01T00:00:00+00:00", settings=settings)
    result = pipeline.sweep_stale_claims(run)
    assert result.outputs["expired_predictions"] == 1 and "MINDPULSE_PREDICTION_RETENTION_DAYS" in result.message
    left = set(store.recent_predictions(10)["prediction_id"].astype(int))
    assert left == {ids[0], ids[2]}  # the answered one stays, and so does the recent one
    assert AuditTrail(store).events(action="predictions_expired")[0].actor == f"airflow:{RETRAIN_DAG_ID}"
    unset = pipeline.sweep_stale_claims(pipeline.open_run(RETRAIN_DAG_ID, "scheduled__y", settings=Settings(home=settings.home)))
    assert unset.outputs["expired_predictions"] == 0
