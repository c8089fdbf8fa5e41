"""The production data store on a real SQLite file and a real PostgreSQL database.

Every behaviour test runs on both backends (``store`` is parametrised); the PostgreSQL variant
creates its own database on 127.0.0.1:5432 and drops it after. It fails, never skips, when
PostgreSQL is down.
"""

from __future__ import annotations

import sqlite3
from datetime import timezone

import pandas as pd
import pytest
import sqlalchemy as sa

from mindpulse import contract as c
from mindpulse import synthetic
from mindpulse.store import (
    EXPORT_PREFIX,
    FeedbackConflictError,
    SnapshotError,
    Store,
    StoreError,
    UnknownPredictionError,
)
from mindpulse.store.engine import create_engine, head_revision, normalise_url
from mindpulse.contract import canonical_record
from mindpulse.store.schema import metadata
from postgres_support import fresh_database

@pytest.fixture
def postgres_url():
    """A fresh PostgreSQL database for one test, dropped after it."""
    with fresh_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'mindpulse.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(store_url):
    with Store(store_url) as opened:
        opened.migrate()
        yield opened


def canonical(n: int, seed: int = 1, id_start: int = 1) -> pd.DataFrame:
    return synthetic.generate(n, seed=seed, id_start=id_start).canonical()


def inputs(n: int, seed: int = 1, id_start: int = 1) -> list[dict]:
    """Model inputs as the dashboard sends them: canonical keys, no outcome."""
    return canonical(n, seed, id_start).drop(columns=[c.TARGET]).to_dict("records")


def log(store: Store, records: list[dict]) -> list[int]:
    return [store.log_prediction(r, probability=0.25 + 0.5 * (i % 2), label=i % 2, model_version="v0001")
            for i, r in enumerate(records)]


def row_count(store: Store) -> int:
    return store.stats()["rows_total"]


# -- schema and backends -----------------------------------------------------------------


def test_migrate_twice_keeps_schema_and_data(store):
    ids = log(store, inputs(3))
    assert store.migrate() == head_revision() == store.schema_revision()
    assert store.migrate() == head_revision()
    assert row_count(store) == 3 and store.recent_predictions(10)["prediction_id"].tolist() == ids[::-1]


def test_migrations_build_exactly_the_schema_the_code_uses(store):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = [d for d in compare_metadata(context, metadata) if "mindpulse_alembic_version" not in str(d)]
    assert diff == []


def test_sqlite_file_is_created_in_wal_mode_with_a_busy_timeout(tmp_path):
    from mindpulse.settings import Settings
    from mindpulse.store import migrate_store

    settings = Settings(home=tmp_path / "home")
    assert not settings.data_dir.exists()
    assert migrate_store(settings) == (None, head_revision())  # the deploy step creates the file
    with Store.from_settings(settings) as store:
        assert store.backend == "sqlite"
        assert (settings.data_dir / "mindpulse.db").is_file()
        for _ in range(2):  # every pooled connection is set up, not just the first
            with store.engine.connect() as connection:
                assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    with sqlite3.connect(settings.data_dir / "mindpulse.db") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent in the file


def test_sqlite_writers_queue_on_a_file_lock_beside_the_database(tmp_path):
    import fcntl

    url = f"sqlite:///{tmp_path / 'mindpulse.db'}"
    with Store(url) as first, Store(url) as second:
        first.migrate()
        log(first, inputs(1))
        lock_path = tmp_path / "mindpulse.db.writer.lock"
        assert lock_path.is_file()
        with lock_path.open("a") as other:  # another writer holds the queue: ours waits, then goes
            fcntl.flock(other, fcntl.LOCK_EX)
            import threading

            done = threading.Event()
            thread = threading.Thread(target=lambda: (log(second, inputs(1, seed=2)), done.set()))
            thread.start()
            assert not done.wait(0.5)
            fcntl.flock(other, fcntl.LOCK_UN)
            assert done.wait(30)
            thread.join()
        assert row_count(first) == 2


def test_urls_pick_the_installed_driver_and_refuse_others():
    assert normalise_url("postgresql://postgres@127.0.0.1/x").drivername == "postgresql+psycopg"
    with pytest.raises(ValueError, match="database_url"):
        normalise_url("mysql://root@localhost/x")


# -- predictions -------------------------------------------------------------------------


def test_log_prediction_stores_the_canonical_input(store):
    record = inputs(1, seed=4, id_start=77)[0]
    before = pd.Timestamp.now(tz="UTC")
    pid = store.log_prediction(record, probability=0.81, label=1, model_version="v0003")
    recent = store.recent_predictions(5)
    assert len(recent) == 1
    got = recent.iloc[0]
    assert got["prediction_id"] == pid and got["id"] == 77
    for name in c.FEATURES:
        assert got[name] == record[name] or (pd.isna(got[name]) and pd.isna(record[name])), name
    assert (got["probability"], got["prediction"], got["model_version"]) == (0.81, 1, "v0003")
    assert pd.isna(got["depression"]) and got["state"] == "unlabelled"
    assert got["created_at"].tzinfo is not None and got["created_at"] >= before - pd.Timedelta(seconds=5)
    assert store.pending_count() == 0  # no outcome yet


def test_a_record_with_the_real_header_is_cleaned_like_the_contract(store):
    raw = dict(zip(c.RAW_COLUMNS, ["5", "female", "21", "'Pune'", "Student", "3.0", "0.0", "7.5", "2.0", "0.0",
                                   "'7-8 hours'", "Healthy", "BSc", "No", "6.0", "?", "Yes", "1"]))
    pid = store.log_prediction(raw, probability=0.4, label=0, model_version="v1")
    got = store.production_frame().iloc[0]  # Depression in the record: labelled at once
    assert got["prediction_id"] == pid
    assert (got["gender"], got["city"], got["sleep_duration"]) == ("Female", "Pune", "7-8 hours")
    assert pd.isna(got["financial_stress"]) and got["depression"] == 1


def test_fast_path_agrees_with_the_contract():
    frame = synthetic.generate(60, seed=9).canonical()
    frame.loc[::5, "financial_stress"] = float("nan")
    for record in frame.to_dict("records"):
        fast = canonical_record(record, require_target=True)
        slow = c.validate_record(record, require_target=True)
        assert fast == slow


@pytest.mark.parametrize("field, value, named", [
    ("age", 200, "Age"), ("sleep_duration", "9 hours", "Sleep Duration"), ("cgpa", "high", "CGPA"),
])
def test_bad_input_is_refused_with_the_field_and_nothing_is_stored(store, field, value, named):
    record = {**inputs(1)[0], field: value}
    with pytest.raises(c.ContractError, match=named) as caught:
        store.log_prediction(record, probability=0.5, label=1, model_version="v1")
    assert [p.field for p in caught.value.problems] == [named]
    assert row_count(store) == 0


@pytest.mark.parametrize("kwargs, named", [
    ({"probability": 1.5}, "probability"), ({"label": 3}, "prediction"), ({"model_version": ""}, "model_version"),
])
def test_bad_prediction_values_are_refused(store, kwargs, named):
    values = {"probability": 0.5, "label": 1, "model_version": "v1", **kwargs}
    with pytest.raises(c.ContractError, match=named):
        store.log_prediction(inputs(1)[0], **values)
    assert row_count(store) == 0


def test_log_predictions_in_a_batch_keeps_the_order(store):
    frame = canonical(5).drop(columns=[c.TARGET])
    frame["probability"], frame["prediction"], frame["model_version"] = [0.1, 0.2, 0.7, 0.8, 0.9], [0, 0, 1, 1, 1], "v2"
    ids = store.log_predictions(frame)
    recent = store.recent_predictions(10).sort_values("prediction_id")
    assert recent["prediction_id"].tolist() == ids and recent["id"].tolist() == frame["id"].tolist()
    assert recent["probability"].tolist() == [0.1, 0.2, 0.7, 0.8, 0.9]


# -- feedback ----------------------------------------------------------------------------


def test_feedback_for_an_unknown_id_names_it(store):
    log(store, inputs(2))
    with pytest.raises(UnknownPredictionError, match="prediction_id 999"):
        store.record_feedback(999, 1)
    assert store.pending_count() == 0


def test_second_outcome_rule(store):
    pid = log(store, inputs(1))[0]
    assert store.record_feedback(pid, 1).status == "recorded"
    assert store.record_feedback(pid, 1).status == "unchanged"  # a retried request is harmless
    with pytest.raises(FeedbackConflictError, match=rf"prediction_id {pid}: already has outcome 1"):
        store.record_feedback(pid, 0)
    assert store.production_frame()["depression"].tolist() == [1]
    corrected = store.record_feedback(pid, 0, correct=True)
    assert (corrected.status, corrected.previous) == ("corrected", 1)
    assert store.production_frame()["depression"].tolist() == [0] and store.pending_count() == 1
    store.claim_snapshot("run-1")
    with pytest.raises(FeedbackConflictError, match="claimed by retrain snapshot"):
        store.record_feedback(pid, 1, correct=True)


@pytest.mark.parametrize("outcome", [2, "yes", None, 0.5])
def test_a_bad_outcome_is_refused_and_nothing_stored(store, outcome):
    pid = log(store, inputs(1))[0]
    with pytest.raises(c.ContractError, match="Depression"):
        store.record_feedback(pid, outcome)
    assert store.pending_count() == 0


def test_labelled_rows_all_or_nothing(store):
    frame = canonical(4, id_start=10)
    assert store.add_labelled(frame) == 4 and store.pending_count() == 4
    bad = canonical(3, seed=2, id_start=20)
    bad.loc[1, "cgpa"] = 11.0
    with pytest.raises(c.ContractError, match="CGPA") as caught:
        store.add_labelled(bad)
    assert [(p.row, p.field) for p in caught.value.problems] == [(1, "CGPA")]
    unlabelled = canonical(2, seed=3, id_start=30).assign(depression=pd.array([pd.NA, 1], dtype="Int64"))
    with pytest.raises(c.ContractError, match="Depression"):
        store.add_labelled(unlabelled)
    with pytest.raises(c.ContractError, match="id.*already stored"):
        store.add_labelled(canonical(2, seed=4, id_start=13))  # id 13 stored above
    assert store.pending_count() == 4


def _write(path, frame: pd.DataFrame):
    frame.to_csv(path, index=False)
    return path


def test_outcomes_csv_stores_good_rows_and_reports_each_bad_one(store, tmp_path):
    ids = log(store, inputs(5))
    store.record_feedback(ids[4], 1)
    csv = _write(tmp_path / "outcomes.csv", pd.DataFrame({
        "prediction_id": [ids[0], ids[1], 424242, ids[2], "x", ids[4], ids[0]],
        "Depression": [1, 0, 1, 7, 1, 0, 1],
    }))
    report = store.import_feedback_csv(csv)
    assert (report.kind, report.rows_read, report.accepted, report.unchanged) == ("outcomes", 7, 2, 1)
    assert [(p.row, p.field) for p in report.rejected] == [
        (4, "prediction_id"), (5, "Depression"), (6, "prediction_id"), (7, "Depression")]
    assert "424242" in report.describe() and "line" not in report.rejected[0].expected
    assert sorted(store.production_frame()["prediction_id"]) == [ids[0], ids[1], ids[4]]

    strict = _write(tmp_path / "strict.csv", pd.DataFrame({"prediction_id": [ids[2], ids[3], 1_000_000],
                                                            "depression": [1, 1, 1]}))
    with pytest.raises(c.ContractError, match="1000000"):
        store.import_feedback_csv(strict, strict=True)
    assert store.pending_count() == 3  # nothing of the strict file was stored

    corrections = _write(tmp_path / "fix.csv", pd.DataFrame({"prediction_id": [ids[4]], "Depression": [0]}))
    assert store.import_feedback_csv(corrections).rejected[0].field == "Depression"
    assert store.import_feedback_csv(corrections, correct=True).accepted == 1


def test_labelled_csv_in_the_real_format(store, tmp_path):
    raw = synthetic.generate(6, seed=5, id_start=500).raw
    raw.loc[2, "Sleep Duration"] = "'9 hours'"
    csv = _write(tmp_path / "labelled.csv", raw)
    report = store.import_feedback_csv(csv)
    assert (report.kind, report.accepted, report.n_rejected) == ("labelled rows", 5, 1)
    assert [(p.row, p.field, p.value) for p in report.rejected] == [(4, "Sleep Duration", "9 hours")]
    again = store.import_feedback_csv(csv)  # the same file twice: no row stored twice
    assert again.accepted == 0 and {p.field for p in again.rejected} == {"id", "Sleep Duration"}
    assert store.pending_count() == 5
    with pytest.raises(c.ContractError, match="Sleep Duration"):
        store.import_feedback_csv(_write(tmp_path / "other.csv", raw.assign(id=raw["id"] + 100)), strict=True)
    assert store.pending_count() == 5


def test_csv_without_an_outcome_column_is_refused(store, tmp_path):
    with pytest.raises(c.ContractError, match="Depression"):
        store.import_feedback_csv(_write(tmp_path / "x.csv", pd.DataFrame({"prediction_id": [1]})))


# -- production data and snapshots -------------------------------------------------------


def test_production_frame_is_in_the_reference_form(store):
    ids = log(store, inputs(4, seed=6))
    store.record_feedback(ids[0], 1)
    store.record_feedback(ids[2], 0)
    store.add_labelled(canonical(3, seed=7, id_start=900))
    frame = store.production_frame()
    assert store.pending_count() == len(frame) == 5
    assert list(frame.columns) == [*c.CANONICAL_COLUMNS, "prediction", "probability", "model_version",
                                   "created_at", "prediction_id"]
    reference = synthetic.generate(3, seed=1).canonical()
    assert frame[list(c.CANONICAL_COLUMNS)].dtypes.equals(reference.dtypes)
    assert c.validate_frame(frame[list(c.CANONICAL_COLUMNS)], require_target=True).problems == []
    assert str(frame["created_at"].dt.tz) == "UTC"
    assert frame["prediction"].isna().sum() == 3  # labelled rows came without a prediction


def test_claim_is_idempotent_and_later_rows_stay_pending(store):
    store.add_labelled(canonical(5, id_start=1))
    first = store.claim_snapshot("manual__2026-11-05T10:00:00+00:00")
    assert (first.n_rows, first.state) == (5, "claimed") and store.pending_count() == 0
    store.add_labelled(canonical(3, seed=2, id_start=100))  # arrives while the retrain runs
    assert store.claim_snapshot("manual__2026-11-05T10:00:00+00:00") == first  # a retried task
    assert len(store.snapshot_frame(first.id)) == 5 and store.pending_count() == 3
    second = store.claim_snapshot("run-2")
    assert second.id != first.id and second.n_rows == 3
    assert set(store.snapshot_frame(second.id)["id"]) == {100, 101, 102}


def test_release_returns_rows_to_pending(store, tmp_path):
    store.add_labelled(canonical(4))
    snapshot = store.claim_snapshot("run-a")
    released = store.release_snapshot(snapshot.id)
    assert released.state == "released" and store.pending_count() == 4
    assert store.release_snapshot(snapshot.id).state == "released"  # twice is harmless
    with pytest.raises(SnapshotError, match="released"):
        store.archive_snapshot(snapshot.id, tmp_path)
    with pytest.raises(SnapshotError, match="released"):
        store.snapshot_frame(snapshot.id)
    again = store.claim_snapshot("run-a")  # the run retried after its release
    assert again.id == snapshot.id and again.state == "claimed" and again.n_rows == 4
    with pytest.raises(SnapshotError, match="snapshot_id"):
        store.release_snapshot(12345)


def test_archive_exports_exactly_the_snapshot(store, tmp_path):
    ids = log(store, inputs(3, seed=8, id_start=40))
    for pid, outcome in zip(ids, (1, 0, 1)):
        store.record_feedback(pid, outcome)
    store.add_labelled(canonical(2, seed=9, id_start=60))
    snapshot = store.claim_snapshot("run-x")
    store.add_labelled(canonical(2, seed=10, id_start=70))  # not part of this snapshot
    export_dir = tmp_path / "archive"
    path = store.archive_snapshot(snapshot.id, export_dir)
    assert path.parent == export_dir and path.name.startswith(EXPORT_PREFIX) and path.suffix == ".csv"
    assert path.name == f"{EXPORT_PREFIX}{snapshot.claimed_at.astimezone(timezone.utc):%Y%m%dT%H%M%S.%fZ}.csv"
    assert [p.name for p in export_dir.iterdir()] == [path.name]  # no temporary file left

    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(raw.columns) == [*c.RAW_COLUMNS, "prediction_id", "prediction", "probability", "model_version", "created_at"]
    parsed = c.read_csv(path)
    assert parsed.problems == [] and parsed.n_valid == snapshot.n_rows == 5
    assert sorted(parsed.valid["id"]) == [40, 41, 42, 60, 61]
    assert raw.set_index("id").loc[["40", "41", "42"], "Depression"].tolist() == ["1", "0", "1"]
    assert raw["model_version"].tolist().count("v0001") == 3 and raw["prediction_id"].tolist()[:3] == [str(i) for i in ids]
    assert (raw["Sleep Duration"].str.startswith("'") | ~raw["Sleep Duration"].str.contains(" ")).all()

    mtime = path.stat().st_mtime_ns
    assert store.archive_snapshot(snapshot.id, export_dir) == path and path.stat().st_mtime_ns == mtime
    stats = store.stats()
    assert (stats["archived"], stats["labelled_pending"], stats["last_archive_path"]) == (5, 2, str(path))
    assert len(store.snapshot_frame(snapshot.id)) == 5  # still readable after archiving
    assert set(store.production_frame()["id"]) == {70, 71}
    with pytest.raises(SnapshotError, match="archived already"):
        store.release_snapshot(snapshot.id)
    with pytest.raises(FeedbackConflictError, match="archived"):
        store.record_feedback(ids[0], 0, correct=True)
    path.unlink()  # someone deleted the export: archiving again restores it
    assert store.archive_snapshot(snapshot.id, export_dir) == path and c.read_csv(path).n_valid == 5


def test_a_quarantine_keeps_who_when_and_why_until_released_and_its_history_after(store, tmp_path):
    store.add_labelled(canonical(6, seed=11, id_start=300))
    first = store.claim_snapshot("run-q1")
    with pytest.raises(SnapshotError, match="it is claimed"):  # a run is still training on it
        store.quarantine_snapshot(first.id, reason="flipped labels", by="ana")
    store.archive_snapshot(first.id, tmp_path)
    assert store.quarantined() == {} and store.stats()["snapshots_quarantined"] == 0

    held = store.quarantine_snapshot(str(first.id), reason="  flipped labels from the export job  ", by="ana")
    assert (held.snapshot_id, held.reason, held.quarantined_by, held.in_force) == (first.id, "flipped labels from the export job", "ana", True)
    assert held.quarantined_at.tzinfo is not None and store.quarantined() == {first.id: held}
    assert store.stats()["snapshots_quarantined"] == 1
    with pytest.raises(SnapshotError, match="already quarantined since .* by ana"):
        store.quarantine_snapshot(first.id, reason="again", by="bo")
    assert len(store.snapshot_frame(first.id)) == 6 and store.get_snapshot(first.id).state == "archived"  # rows kept

    lifted = store.release_quarantine(first.id, by="bo")
    assert (lifted.released_by, lifted.in_force, lifted.reason) == ("bo", False, "flipped labels from the export job")
    assert store.quarantined() == {}
    with pytest.raises(SnapshotError, match="not quarantined"):
        store.release_quarantine(first.id, by="bo")
    again = store.quarantine_snapshot(first.id, reason="second look", by="cy")  # the history stays
    assert [q.reason for q in store.quarantines()] == ["second look", "flipped labels from the export job"]
    assert [q.snapshot_id for q in store.quarantines(in_force=True)] == [first.id] and again.in_force


@pytest.mark.parametrize("field, kwargs", [
    ("reason", {"reason": "   ", "by": "ana"}),
    ("reason", {"reason": "bad \x9b[31m batch", "by": "ana"}),  # a C1 control (CSI)
    ("reason", {"reason": "x" * 1001, "by": "ana"}),
    ("by", {"reason": "flipped", "by": ""}),
])
def test_a_quarantine_without_a_printable_reason_or_author_is_refused_naming_the_field(store, tmp_path, field, kwargs):
    store.add_labelled(canonical(2, seed=12, id_start=400))
    snapshot = store.claim_snapshot("run-q2")
    store.archive_snapshot(snapshot.id, tmp_path)
    with pytest.raises(StoreError, match=f"^{field}: got"):
        store.quarantine_snapshot(snapshot.id, **kwargs)
    with pytest.raises(SnapshotError, match="snapshot_id: got 999"):
        store.quarantine_snapshot(999, reason="flipped", by="ana")
    assert store.quarantines() == []


def test_archive_to_the_settings_folder(settings):
    with Store.from_settings(settings) as store:
        store.add_labelled(canonical(2))
        path = store.archive_snapshot(store.claim_snapshot("r").id)
        assert path.parent == settings.archive_dir


def test_stats_counts_by_state(store):
    ids = log(store, inputs(4))
    store.record_feedback(ids[0], 1)
    store.add_labelled(canonical(2, seed=3, id_start=50))
    stats = store.stats()
    assert stats["backend"] == store.backend and stats["schema_revision"] == head_revision()
    assert stats["rows_by_state"] == {"unlabelled": 3, "pending": 3, "claimed": 0, "archived": 0}
    assert (stats["predictions_logged"], stats["labelled_rows_submitted"], stats["awaiting_feedback"]) == (4, 2, 3)
    assert stats["last_archive_at"] is None


def counted(store: Store) -> dict[tuple[str, str], int]:
    """Rows per (source, state), counted over the rows themselves."""
    with store.engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT source, state, count(*) FROM production_rows GROUP BY source, state").all()
    return {(source, state): int(n) for source, state, n in rows}


def reported(store: Store) -> dict[tuple[str, str], int]:
    """Rows per (source, state) as the trigger-kept counts say (zeros left out)."""
    with store.engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT source, state, sum(n) FROM row_counts GROUP BY source, state").all()
    return {(source, state): int(n) for source, state, n in rows if n}


def test_row_counts_follow_every_write_path(store, tmp_path):
    """stats() reads counts kept by triggers; after each kind of write they equal a real count."""
    ids = log(store, inputs(6))
    store.log_predictions(pd.DataFrame(inputs(5, seed=2)).assign(probability=0.5, prediction=1, model_version="v1"))
    assert reported(store) == counted(store) == {("prediction", "unlabelled"): 11}
    store.record_feedback(ids[0], 1)
    store.record_feedback(ids[1], 0)
    store.add_labelled(canonical(3, seed=3, id_start=50))
    assert reported(store) == counted(store)
    first = store.claim_snapshot("r1")
    assert reported(store) == counted(store) and counted(store)[("labelled", "claimed")] == 3
    store.release_snapshot(first.id)
    assert reported(store) == counted(store)
    store.archive_snapshot(store.claim_snapshot("r2").id, tmp_path / "archive")
    store.record_feedback(ids[2], 1)
    assert reported(store) == counted(store)
    with store.engine.begin() as connection:  # any SQL run by hand is counted too
        connection.exec_driver_sql(f"DELETE FROM production_rows WHERE id IN ({ids[3]}, {ids[2]})")
    assert reported(store) == counted(store)
    stats = store.stats()
    assert stats["rows_by_state"] == {"unlabelled": 7, "pending": 0, "claimed": 0, "archived": 5}
    assert (stats["predictions_logged"], stats["labelled_rows_submitted"]) == (9, 3)


def test_upgrading_a_filled_store_counts_the_rows_already_there(store_url):
    with Store(store_url) as store:
        from mindpulse.store import engine as db

        assert db.migrate(store.engine, "0001") == "0001"
        ids = log(store, inputs(4))
        with store.engine.begin() as connection:  # rows written at 0001: no trigger yet
            connection.exec_driver_sql(f"UPDATE production_rows SET state = 'pending', depression = 1 WHERE id = {ids[0]}")
        assert store.migrate() == head_revision()
        assert reported(store) == counted(store) == {("prediction", "unlabelled"): 3, ("prediction", "pending"): 1}
        assert store.stats()["rows_by_state"]["pending"] == store.pending_count() == 1


def test_production_frame_reads_the_pending_rows_through_the_state_id_index(store):
    store.add_labelled(canonical(3))
    log(store, inputs(3, seed=4))
    sql = str(store._frame_select().where(sa.column("state") == "pending").order_by(sa.column("id"))
              .compile(dialect=store.engine.dialect, compile_kwargs={"literal_binds": True}))
    with store.engine.connect() as connection:
        if store.backend == "sqlite":
            plan = " ".join(str(r[-1]) for r in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
        else:
            connection.exec_driver_sql("SET enable_seqscan = off")
            connection.exec_driver_sql("SET enable_sort = off")
            plan = " ".join(r[0] for r in connection.exec_driver_sql(f"EXPLAIN {sql}"))
    assert "ix_production_rows_state_id" in plan and "TEMP B-TREE" not in plan
    frame = store.production_frame()
    assert len(frame) == 3 and frame["prediction_id"].is_monotonic_increasing


def test_run_id_is_checked(store):
    with pytest.raises(StoreError, match="run_id"):
        store.claim_snapshot("")


def test_pending_count_uses_the_state_index(store):
    store.add_labelled(canonical(2))
    query = sa.text("SELECT count(*) FROM production_rows WHERE state = 'pending'")
    with store.engine.connect() as connection:
        if store.backend == "sqlite":
            plan = " ".join(str(r[-1]) for r in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {query.text}"))
            assert "ix_production_rows_state" in plan
        else:
            connection.exec_driver_sql("SET enable_seqscan = off")
            plan = " ".join(r[0] for r in connection.execute(sa.text(f"EXPLAIN {query.text}")))
            assert "ix_production_rows_state" in plan


def test_engine_for_a_missing_folder_creates_it(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'a' / 'b' / 'x.db'}")
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")
    engine.dispose()
    assert (tmp_path / "a" / "b" / "x.db").is_file()
