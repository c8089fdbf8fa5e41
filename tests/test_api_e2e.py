"""End to end through the HTTP API: a survey system posts a cohort, a counselling system posts the outcomes,
the retrain DAG runs in a real Airflow (``airflow dags test``), and the audit trail names the account behind
each step: who logged the predictions, who entered the outcomes, and which accounts' rows the new model learned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import airflow_support as af
import api_support as api
from mindpulse import contract as c, data, pipeline, runs
from mindpulse.accounts import Accounts
from mindpulse.audit import AuditTrail
from mindpulse.registry import ModelRegistry
from mindpulse.settings import Settings
from mindpulse.store import Store
from mindpulse.synthetic import generate
from shared_support import migrated

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
COHORT = 1_000


def test_a_cohort_and_its_outcomes_through_the_api_retrain_and_the_audit_names_each_account(
        migrated_airflow: Path, kernel_zygote: dict, tmp_path: Path) -> None:
    settings = migrated(Settings(home=tmp_path / "home"))
    data.generate_reference(settings, rows=3_000, seed=7)
    pipeline.train_first_champion(settings, seed=7, candidates=["logistic_regression"])
    with Store.from_settings(settings) as store:
        accounts = Accounts(store)
        accounts.add("survey-system", "counsellor", api.PASSWORD)
        accounts.add("counselling-system", "counsellor", api.PASSWORD)
        survey, _ = accounts.create_token("survey-system", "posts screenings", scopes="predict")
        counselling, _ = accounts.create_token("counselling-system", "posts outcomes", scopes="outcomes")

    cohort = generate(COHORT, seed=31, id_start=900_000).canonical()
    records = json.loads(c.to_raw(cohort).drop(columns=["Depression"]).to_json(orient="records"))
    server = api.start_server(settings.home, {})
    try:
        with server.client(token=survey) as client:
            logged = client.post("/api/v1/predictions", json=records, headers={"Idempotency-Key": "cohort-1"})
        assert logged.status_code == 201, logged.text[:500]
        ids = [p["prediction_id"] for p in logged.json()["predictions"]]
        outcomes = [{"prediction_id": pid, "Depression": int(label)} for pid, label in zip(ids, cohort["depression"])]
        with server.client(token=counselling) as client:
            answered = client.post("/api/v1/outcomes", json=outcomes)
        assert answered.status_code == 200 and answered.json()["accepted"] == COHORT, answered.text[:500]
    finally:
        server.stop()

    env = af.pipeline_env(migrated_airflow, tmp_path / "airflow", settings.home, settings=kernel_zygote)
    result = af.dags_test(env, pipeline.RETRAIN_DAG_ID, {"candidates": ["logistic_regression"]})
    assert result.returncode == 0, result.stdout[-3000:]
    folder = next(p for p in (settings.reports_dir / pipeline.RETRAIN_DAG_ID).iterdir() if p.is_dir())
    summary = runs.read_summary(folder)
    assert summary["outcome"] in ("promoted", "refused"), summary
    version = summary["challenger"]
    assert ModelRegistry.from_settings(settings).get(version).metadata["lineage"]["snapshots"][0]["rows"] == COHORT

    with Store.from_settings(settings) as store:
        trail = AuditTrail(store)
        logged_event, = trail.events(action="predictions_logged")
        assert logged_event.actor == "survey-system" and logged_event.details["count"] == COHORT
        recorded, = trail.events(action="outcomes_recorded")
        assert recorded.actor == "counselling-system" and recorded.details["count"] == COHORT
        trained, = [e for e in trail.events(actor=f"airflow:{pipeline.RETRAIN_DAG_ID}")
                    if e.action in ("model_promoted", "model_refused")]
        assert trained.target == version and trained.via == "pipeline"
        assert trained.details["rows"] == {"logged_by": {"survey-system": COHORT},
                                           "labelled_by": {"counselling-system": COHORT}}
        archived, = trail.events(action="snapshot_archived")
        assert archived.details["model_version"] == version and archived.details["rows"] == COHORT
