"""The retrain loop keeps what it learned: lineage, accumulated training data, the no-op retrain."""

from __future__ import annotations

from mindpulse import lineage, pipeline
from mindpulse.registry import ModelRegistry
from mindpulse.settings import Settings
from mindpulse.store import Store
from mindpulse.synthetic import generate

FAST = ["logistic_regression"]


def _retrain(settings: Settings, run_id: str, **gate: object) -> dict:
    run = pipeline.open_run(pipeline.RETRAIN_DAG_ID, run_id, settings=settings)
    pipeline.merge_training_data(run, commit=True)
    step = pipeline.train_and_gate(run, seed=7, candidates=FAST, commit=True, **gate)
    archived = pipeline.archive_production_data(run, commit=True).outputs
    return {"trained": step.outputs, "archived": archived, "table": step.table}


def _add_rows(settings: Settings, rows: int, seed: int) -> None:
    Store.from_settings(settings).add_labelled(generate(rows, seed=seed, id_start=2_000_000 + seed * 10_000).canonical())


def test_each_retrain_trains_on_everything_labelled_so_far_with_its_lineage(home: Settings) -> None:
    first = _retrain(home, "manual__first", margin=1.0)  # margin 1: promoted whatever its scores
    assert first["trained"]["promoted"] and first["archived"]["archived"]
    _add_rows(home, 600, seed=21)
    second = _retrain(home, "manual__second")
    registry = ModelRegistry.from_settings(home)
    record = registry.get(second["trained"]["version"]).metadata["lineage"]
    assert record["run"] == {"dag_id": pipeline.RETRAIN_DAG_ID, "run_id": "manual__second"}
    assert record["reference"]["rows"] == 3_000 and len(record["reference"]["sha256"]) == 64
    assert [(s["id"], s["rows"]) for s in record["snapshots"]] == [(first["trained"]["snapshot_id"], 1200),
                                                                  (second["trained"]["snapshot_id"], 600)]
    # Everything so far, minus each snapshot's recent slice (20 %): 3,000 + 960 + 480.
    assert second["trained"]["training_rows"] == 4_440
    # The gate scored both models on the newest held-out rows: the second snapshot's 120, then the first's 240.
    assert record["recent"] == {"snapshots": [second["trained"]["snapshot_id"], first["trained"]["snapshot_id"]],
                                "rows": 360}
    gate = registry.get(second["trained"]["version"]).metadata["gate"]
    assert {c["slice"] for c in gate["comparisons"]} == {"fixed_holdout", "recent"}
    # The notebook's table: both scores with 4 decimals, the interval, and the decision in words.
    table = second["table"].set_index("slice")
    fixed = next(c for c in gate["comparisons"] if c["slice"] == "fixed_holdout")
    assert table.loc["fixed holdout", "challenger ROC-AUC"] == round(fixed["challenger_auc"], 4)
    assert table.loc["fixed holdout", "95 % interval"] == f"[{fixed['interval'][0]:+.4f}, {fixed['interval'][1]:+.4f}]"
    assert table.loc["decision", "verdict"] == gate["reason"] and gate["reason"].startswith(("promoted", "refused"))


def test_the_rows_of_a_refused_retrain_join_the_next_one(home: Settings) -> None:
    # A margin of 0 and a bound at the best model: this challenger may well be refused; either way its rows stay.
    first = _retrain(home, "manual__maybe-refused", margin=0.0)
    assert first["archived"]["archived"]
    _add_rows(home, 300, seed=22)
    second = _retrain(home, "manual__next")
    ids = [s["id"] for s in second["trained"]["lineage"]["snapshots"]]
    assert first["trained"]["snapshot_id"] in ids


def test_a_retrain_with_no_new_rows_and_the_champions_data_registers_nothing(home: Settings) -> None:
    first = _retrain(home, "manual__promote", margin=1.0)
    champion = first["trained"]["version"]
    registry = ModelRegistry.from_settings(home)
    versions = [v.version for v in registry.versions()]
    archives = sorted(home.archive_dir.glob("*.csv"))

    again = _retrain(home, "manual__forced-no-rows")
    assert again["trained"]["skipped"] is True and again["trained"].get("version") is None
    assert f"the training data and settings are those of {champion} (champion)" in again["trained"]["reason"]
    assert again["trained"]["same_as"] == champion
    assert [v.version for v in registry.versions()] == versions  # nothing registered
    assert registry.champion().version == champion
    assert registry.champion().metadata["lineage"]["snapshots"][0]["rows"] == 1200
    assert again["archived"]["archived"] is False
    assert sorted(home.archive_dir.glob("*.csv")) == archives  # no header-only archive
    assert Store.from_settings(home).stats()["last_archive_rows"] == 1200


def test_the_window_leaves_old_snapshots_out(home: Settings) -> None:
    first = _retrain(home, "manual__old", margin=1.0)
    _add_rows(home, 300, seed=23)
    settings = home.model_copy(update={"training_window_days": 1})
    store = Store.from_settings(settings)
    snapshot = store.claim_snapshot("manual__windowed")
    from datetime import datetime, timedelta, timezone

    later = datetime.now(timezone.utc) + timedelta(days=2)
    chosen = lineage.included_snapshots(store, snapshot, window_days=1, now=later)
    assert [s.id for s in chosen] == [snapshot.id]  # the first snapshot is older than a day by then
    everything = lineage.included_snapshots(store, snapshot, window_days=None, now=later)
    assert [s.id for s in everything] == [first["trained"]["snapshot_id"], snapshot.id]


def test_the_run_a_version_was_trained_for_is_found_by_lineage_and_in_models_without_one(home: Settings) -> None:
    from mindpulse.pipeline.training import version_trained_for

    registry = ModelRegistry.from_settings(home)
    model = registry.load_model()
    run = pipeline.open_run(pipeline.RETRAIN_DAG_ID, "manual__lookup", settings=home)
    assert version_trained_for(registry, run) is None
    old = registry.register(model, {"data": {"source": f"{pipeline.RETRAIN_DAG_ID}/manual__lookup: reference (3000 rows)"}})
    assert version_trained_for(registry, run).version == old.version  # a model registered before lineage records
    new = registry.register(model, {"lineage": {"run": {"dag_id": pipeline.RETRAIN_DAG_ID, "run_id": "manual__lookup"}}})
    assert version_trained_for(registry, run).version == new.version
    other = pipeline.open_run(pipeline.RETRAIN_DAG_ID, "manual__lookup-2", settings=home)
    assert version_trained_for(registry, other) is None  # a run id that only starts the same is another run
