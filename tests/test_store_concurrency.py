"""Nothing lost during a retrain: 8 writer processes x 2,000 rows while 5 snapshot cycles run.

Real processes (multiprocessing, fork) on a real SQLite file and a real PostgreSQL database
(127.0.0.1:5432; the PostgreSQL variant fails, never skips, when it is down).
"""

from __future__ import annotations

import multiprocessing as mp
import time
import traceback

import pandas as pd
import pytest

from mindpulse import contract as c
from mindpulse import synthetic
from postgres_support import fresh_database

WRITERS = 8
ROWS_PER_WRITER = 2_000
CYCLES = 5
BATCH = 250  # rows per block: predictions one by one, then labelled rows in one call
CTX = mp.get_context("fork")  # children start in milliseconds; each opens its own Store


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'mindpulse.db'}"
        return
    # Without synchronous_commit off, 16,000 commits wait for the disk's fsync and the test takes minutes.
    with fresh_database(synchronous_commit=False) as url:
        yield url


def record_ids(writer: int) -> range:
    """The contract ids one writer uses: unique across writers, so each row can be traced."""
    return range(writer * 100_000 + 1, writer * 100_000 + ROWS_PER_WRITER + 1)


def _writer(url: str, writer: int, start, errors) -> None:  # type: ignore[no-untyped-def]
    """Half the rows as predictions then their outcome, half as labelled batches, interleaved."""
    from mindpulse.store import Store

    try:
        rows = synthetic.generate(ROWS_PER_WRITER, seed=100 + writer, id_start=record_ids(writer).start).canonical()
        inputs = rows.drop(columns=[c.TARGET]).to_dict("records")
        with Store(url) as store:
            start.wait()
            for begin in range(0, ROWS_PER_WRITER, 2 * BATCH):
                for i in range(begin, begin + BATCH):
                    pid = store.log_prediction(inputs[i], probability=0.5, label=1, model_version="v1")
                    store.record_feedback(pid, int(rows.at[i, c.TARGET]))
                store.add_labelled(rows.iloc[begin + BATCH:begin + 2 * BATCH])
    except BaseException:
        errors.put(f"writer {writer}: {traceback.format_exc()}")
        raise


def _migrator(url: str, start, errors) -> None:  # type: ignore[no-untyped-def]
    from mindpulse.store import Store

    try:
        with Store(url) as store:
            start.wait()
            store.migrate()
    except BaseException:
        errors.put(traceback.format_exc())
        raise


def _same_rows(url: str, start, results) -> None:  # type: ignore[no-untyped-def]
    from mindpulse.store import Store

    rows = synthetic.generate(200, seed=5, id_start=7_000).canonical()
    with Store(url) as store:
        start.wait()
        try:
            results.put(("stored", store.add_labelled(rows)))
        except c.ContractError as exc:
            results.put(("refused", len(exc.problems)))
        except BaseException:
            results.put(("error", traceback.format_exc()))
            raise


def _drain(errors) -> list[str]:  # type: ignore[no-untyped-def]
    found = []
    while not errors.empty():
        found.append(errors.get())
    return found


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_nothing_lost_while_retrains_snapshot_and_archive(store_url, tmp_path):
    from mindpulse.store import Store

    start, errors = CTX.Event(), CTX.Queue()
    with Store(store_url) as setup:
        setup.migrate()
    writers = [CTX.Process(target=_writer, args=(store_url, w, start, errors)) for w in range(WRITERS)]
    for process in writers:
        process.start()
    total = WRITERS * ROWS_PER_WRITER
    export_dir = tmp_path / "archive"
    snapshots, during_writes = [], 0
    with Store(store_url) as store:
        start.set()
        for cycle in range(CYCLES):
            # Spread the cycles over the writing: wait until a share of the rows has arrived.
            deadline = time.monotonic() + 300
            while store.stats()["rows_total"] < (cycle + 1) * total // (CYCLES + 2) and time.monotonic() < deadline:
                if not any(p.is_alive() for p in writers):
                    break
                time.sleep(0.1)
            during_writes += any(p.is_alive() for p in writers)
            run_id = f"scheduled__cycle-{cycle}"
            snapshot = store.claim_snapshot(run_id)
            assert store.claim_snapshot(run_id) == snapshot  # a retried claim is the same snapshot
            frame = store.snapshot_frame(snapshot.id)
            assert len(frame) == snapshot.n_rows and frame["depression"].notna().all()
            if cycle == 1:  # a failed retrain: its rows go back for the next one
                store.release_snapshot(snapshot.id)
                continue
            path = store.archive_snapshot(snapshot.id, export_dir)
            assert store.archive_snapshot(snapshot.id, export_dir) == path  # a retried archive
            snapshots.append(snapshot)
        for process in writers:
            process.join(timeout=300)
        problems = _drain(errors)
        assert not problems, "\n".join(problems)
        assert [p.exitcode for p in writers] == [0] * WRITERS
        assert during_writes >= 3, f"only {during_writes} of {CYCLES} cycles ran while the writers were writing"

        stats = store.stats()
        assert stats["rows_total"] == total
        assert stats["awaiting_feedback"] == 0 and stats["claimed"] == 0
        live = store.production_frame()
        archived = [pd.read_csv(store.get_snapshot(s.id).export_path, dtype={"id": "Int64"}) for s in snapshots]
        for snapshot, export in zip(snapshots, archived):
            assert len(export) == snapshot.n_rows
        archived_ids = pd.concat([a["id"] for a in archived]).tolist() if archived else []
        accounted = live["id"].tolist() + archived_ids
        expected = [i for w in range(WRITERS) for i in record_ids(w)]
        assert len(accounted) == total, f"{len(accounted)} rows accounted for, expected {total}"
        assert len(set(accounted)) == total, "a row is both live and archived, or archived twice"
        assert sorted(accounted) == expected
        assert stats["archived"] == len(archived_ids) and stats["labelled_pending"] == len(live)
        assert sum(s.n_rows for s in snapshots) == len(archived_ids) > 0


@pytest.mark.timeout(300)
def test_concurrent_migrations_from_several_processes(store_url):
    from mindpulse.store import Store
    from mindpulse.store.engine import head_revision

    start, errors = CTX.Event(), CTX.Queue()
    processes = [CTX.Process(target=_migrator, args=(store_url, start, errors)) for _ in range(4)]
    for process in processes:
        process.start()
    start.set()
    for process in processes:
        process.join(timeout=120)
    problems = _drain(errors)
    assert not problems, "\n".join(problems)
    assert [p.exitcode for p in processes] == [0] * 4
    with Store(store_url) as store:
        assert store.schema_revision() == head_revision()
        assert store.stats()["rows_total"] == 0


@pytest.mark.timeout(300)
def test_the_same_labelled_rows_sent_by_four_processes_are_stored_once(store_url):
    from mindpulse.store import Store

    with Store(store_url) as store:
        store.migrate()
    start, results = CTX.Event(), CTX.Queue()
    processes = [CTX.Process(target=_same_rows, args=(store_url, start, results)) for _ in range(4)]
    for process in processes:
        process.start()
    start.set()
    outcomes = sorted(results.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(timeout=60)
    assert outcomes == [("refused", 200)] * 3 + [("stored", 200)], outcomes
    with Store(store_url) as store:
        assert store.pending_count() == 200
