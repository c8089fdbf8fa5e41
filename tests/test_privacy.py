"""Erasing a student and expiring unanswered predictions, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from cli_support import invoke
from fixtures_models import one_line_error
from mindpulse import contract as c, synthetic
from mindpulse.audit import AuditTrail
from mindpulse.registry import ModelRegistry
from mindpulse.settings import Settings
from mindpulse.store import Store
from mindpulse.store.erasure import delete_stale_predictions, erase_student, student_ref
from mindpulse.store.schema import production_rows
from mindpulse.train import train_register_and_judge
from postgres_support import fresh_database
from shared_support import migrated

STUDENT = 424242


def records(n: int, *, seed: int, id_start: int) -> list[dict]:
    return synthetic.generate(n, seed=seed, id_start=id_start).canonical().drop(columns=[c.TARGET]).to_dict("records")


def log(store: Store, rows: list[dict]) -> list[int]:
    return [store.log_prediction(r, probability=0.3, label=0, model_version="v0001", actor="tester") for r in rows]


def student_rows(store: Store) -> int:
    with store.read_transaction() as connection:
        return int(connection.execute(sa.select(sa.func.count()).where(production_rows.c.record_id == STUDENT)).scalar_one())


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        with Store(f"sqlite:///{tmp_path / 'store.db'}", archive_dir=tmp_path / "archive") as opened:
            opened.migrate()
            yield opened
        return
    with fresh_database() as url, Store(url, archive_dir=tmp_path / "archive") as opened:
        opened.migrate()
        yield opened


def test_erasing_a_student_removes_every_row_rewrites_the_archive_and_names_the_models(store: Store, tmp_path: Path) -> None:
    others = log(store, records(30, seed=1, id_start=1))
    archived_id, = log(store, records(1, seed=2, id_start=STUDENT))
    store.record_feedback(archived_id, 1)
    store.record_feedback(others[0], 0)
    snapshot = store.claim_snapshot("retrain-1")
    export = store.archive_snapshot(snapshot.id)
    assert str(archived_id) in export.read_text()
    pending_id, = log(store, records(1, seed=3, id_start=STUDENT))
    store.record_feedback(pending_id, 0)
    log(store, records(1, seed=4, id_start=STUDENT))  # unanswered
    registry = ModelRegistry(tmp_path / "registry")
    frame = synthetic.generate(600, seed=5).canonical()
    lineage = {"run": None, "reference": {"path": None, "sha256": "x", "rows": len(frame)},
               "snapshots": [{"id": snapshot.id, "rows": 2, "sha256": "y"}], "window": None, "seed": 1,
               "recent": {"snapshots": [], "rows": 0}}
    trained = train_register_and_judge(frame, registry, seed=1, margin=0.005, data_source="test", candidates=("logistic_regression",),
                             folds=3, lineage=lineage).version
    total = store.stats()["rows_total"]

    erasure = erase_student(store, str(STUDENT), registry=registry, actor="os:tester", via="cli")

    assert erasure.rows == 3 and erasure.by_state == {"archived": 1, "pending": 1, "unlabelled": 1}
    assert erasure.snapshots == [snapshot.id] and erasure.models == [trained]
    assert student_rows(store) == 0 and store.stats()["rows_total"] == total - 3
    assert str(archived_id) not in set(pd.read_csv(export, dtype=str)["prediction_id"])
    assert len(pd.read_csv(export)) == 1  # the other student's archived row stays
    assert store.get_snapshot(snapshot.id).n_rows == 1 and len(store.snapshot_frame(snapshot.id)) == 1
    event, = AuditTrail(store).events(action="student_erased")
    assert event.details["student_sha256"] == student_ref(STUDENT) and event.details["rows"] == 3
    assert str(STUDENT) not in json.dumps(event.as_dict())
    assert trained in erasure.describe() and "next retrain" in erasure.describe()
    again = erase_student(store, STUDENT, registry=registry, actor="os:tester", via="cli")
    assert again.rows == 0 and "nothing was erased" in again.describe()


def test_unanswered_predictions_expire_after_the_retention_period(store: Store) -> None:
    old = log(store, records(3, seed=6, id_start=1))
    store.record_feedback(old[0], 1)
    with store.write_transaction() as connection:  # logged 40 days ago
        connection.execute(production_rows.update().where(production_rows.c.id.in_(old))
                           .values(created_at=datetime.now(timezone.utc) - timedelta(days=40)))
    recent = log(store, records(2, seed=7, id_start=10))
    assert delete_stale_predictions(store, 30, actor="airflow", via="pipeline") == 2
    remaining = {int(i) for i in store.recent_predictions(100)["prediction_id"]}
    assert remaining == {old[0], *recent}  # the answered one is kept, however old
    assert AuditTrail(store).events(action="predictions_expired")[0].details == {"rows": 2, "older_than_days": 30}
    assert delete_stale_predictions(store, 30, actor="airflow", via="pipeline") == 0


def test_erase_from_the_command_line(tmp_path: Path) -> None:
    settings = migrated(Settings(home=tmp_path))
    with Store.from_settings(settings) as opened:
        log(opened, [{**r, "id": STUDENT} for r in records(2, seed=8, id_start=1)])  # the same student, screened twice
    assert "'student_id': got 'abc'" in one_line_error(invoke("store", "erase", "--student-id", "abc", "--yes", home=tmp_path))
    out = invoke("store", "erase", "--student-id", str(STUDENT), "--yes", home=tmp_path, check=True).stdout
    assert "Erased 2 production row(s)" in out
    with Store.from_settings(settings) as opened:
        assert student_rows(opened) == 0
    assert "MINDPULSE_PREDICTION_RETENTION_DAYS" in one_line_error(invoke("store", "expire", home=tmp_path))
    assert "Deleted 0 prediction(s)" in invoke("store", "expire", "--days", "5", home=tmp_path, check=True).stdout
