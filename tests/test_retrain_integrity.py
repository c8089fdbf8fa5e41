"""What a retrain may not do on its own: register a copy of a model already registered, undo a
rollback, keep a bad batch in every later training set, or preview another training set than the
one it trains on. The steps are called as the DAG's notebooks call them, on a copy of the
session's demo home (3,000 reference rows, a logistic-regression champion, 1,200 labelled rows).
"""

from __future__ import annotations

import os

from cli_support import invoke
from mindpulse import gate, lineage, pipeline
from mindpulse.registry import ModelRegistry
from mindpulse.settings import Settings
from mindpulse.store import Store
from mindpulse.synthetic import generate

FAST = ["logistic_regression"]


def _retrain(settings: Settings, run_id: str, **gate_options: object) -> dict:
    run = pipeline.open_run(pipeline.RETRAIN_DAG_ID, run_id, settings=settings)
    merged = pipeline.merge_training_data(run, commit=True)
    step = pipeline.train_and_gate(run, seed=7, candidates=FAST, commit=True, **gate_options)
    pipeline.archive_production_data(run, commit=True)
    return {"merged": merged.outputs, "trained": step.outputs, "message": step.message}


def _add_rows(settings: Settings, rows: int, seed: int, *, flip: bool = False) -> None:
    frame = generate(rows, seed=seed, id_start=3_000_000 + seed * 10_000).canonical()
    if flip:
        frame["depression"] = 1 - frame["depression"].astype(int)
    with Store.from_settings(settings) as store:
        store.add_labelled(frame)


def _versions(settings: Settings) -> list[str]:
    return [v.version for v in ModelRegistry.from_settings(settings).versions()]


# --- no copies, no silent undo ------------------------------------------------------------------

def test_a_forced_retrain_after_a_rollback_registers_no_copy_and_does_not_undo_the_rollback(home: Settings) -> None:
    registry = ModelRegistry.from_settings(home)
    first = registry.champion().version
    second = _retrain(home, "manual__promoted", margin=1.0)["trained"]["version"]  # margin 1: promoted
    assert registry.champion().version == second
    registry.rollback()
    assert (registry.champion().version, registry.backup().version) == (first, second)
    versions = _versions(home)

    again = _retrain(home, "manual__forced-after-rollback")
    assert _versions(home) == versions  # no v0003 holding v0002's model
    assert registry.champion().version == first  # the rollback holds
    trained = again["trained"]
    assert trained["skipped"] is True and trained["same_as"] == second and "version" not in trained
    assert f"are those of {second} (rolled back away from at" in trained["reason"]
    assert f"'mindpulse rollback --to {second}'" in trained["reason"] and "no version registered" in trained["reason"]
    assert trained["champion_before"] == trained["champion_after"] == first


def test_a_version_rolled_back_away_from_is_promoted_again_only_when_forced(home: Settings) -> None:
    registry = ModelRegistry.from_settings(home)
    first = registry.champion().version
    second = _retrain(home, "manual__promoted", margin=1.0)["trained"]["version"]
    registry.rollback()

    refused = registry.promote(second, margin=1.0)  # a gate that would pass anything
    assert not refused.promoted and registry.champion().version == first
    assert refused.reason.startswith(f"refused: {second} was rolled back away from at ")
    assert f"'mindpulse promote {second} --force --reason ...'" in refused.reason
    assert registry.history()[-1]["event"] == "refuse" and registry.history()[-1]["version"] == second
    forced = registry.promote(second, force=True, reason="the cause of the rollback is fixed")
    assert forced.promoted and registry.champion().version == second
    registry.rollback()  # and back: an ordinary promotion of the other version is not affected
    assert registry.rolled_back_from(second) is not None and registry.rolled_back_from(first) is None


def test_a_retrain_on_the_data_of_a_refused_version_registers_no_copy_of_it(home: Settings) -> None:
    _add_rows(home, 3000, seed=41, flip=True)  # a batch the gate refuses
    refused = _retrain(home, "manual__refused")["trained"]
    assert refused["promoted"] is False
    listing = invoke("models", home=home.home).stdout  # exits 0 or 1 (a check), either way it lists
    assert f"{refused['version']} refused: fixed holdout ROC-AUC" in listing and "refused: refused" not in listing
    versions = _versions(home)
    again = _retrain(home, "manual__again")["trained"]
    assert again["skipped"] is True and again["same_as"] == refused["version"] and _versions(home) == versions
    assert f"are those of {refused['version']} (refused by the gate: refused: " in again["reason"]
    # Other settings are another training: a different seed trains a new version.
    run = pipeline.open_run(pipeline.RETRAIN_DAG_ID, "manual__other-seed", settings=home)
    other = pipeline.train_and_gate(run, seed=8, candidates=FAST, commit=True).outputs
    assert other.get("version") not in (None, *versions)


def test_training_directly_on_a_registered_versions_data_and_settings_names_it(home: Settings) -> None:
    from mindpulse import train

    registry = ModelRegistry.from_settings(home)
    champion = registry.champion()
    record = train.recorded_training(champion.metadata)
    assert train.same_training_as(registry, record).version == champion.version
    other = {**record, "settings": {**record["settings"], "candidates": ["logistic_regression", "xgboost"]}}
    assert train.same_training_as(registry, other) is None


# --- a bad batch can be set aside ---------------------------------------------------------------

def test_a_refused_batch_with_flipped_labels_is_named_quarantined_and_the_next_retrain_recovers(home: Settings) -> None:
    _retrain(home, "manual__genuine", margin=1.0)  # snapshot 1: the demo's 1,200 genuine rows
    _add_rows(home, 6000, seed=42, flip=True)  # snapshot 2: every label flipped
    bad = _retrain(home, "manual__flipped")
    assert bad["trained"]["promoted"] is False
    scores = {s["snapshot_id"]: s for s in bad["trained"]["snapshot_scores"]}
    assert set(scores) == {1, 2} and scores[2]["rows"] == 6000 and scores[1]["rows"] == 1200
    assert scores[2]["fits"] is False and scores[2]["champion_roc_auc"] < 0.3
    assert scores[1]["fits"] is True and scores[1]["champion_roc_auc"] > 0.85
    assert "Snapshot 2 does not fit" in bad["message"] and "mindpulse store quarantine 2 --reason" in bad["message"]

    quarantined = invoke("store", "quarantine", "2", "--reason", "labels flipped by the export", "--by", "ana",
                         home=home.home, check=True)
    assert "Snapshot 2 (6000 rows) quarantined by ana" in quarantined.stdout
    _add_rows(home, 600, seed=43)  # genuine rows
    recovered = _retrain(home, "manual__recovered")["trained"]
    assert recovered["promoted"] is True, recovered["reason"]
    record = ModelRegistry.from_settings(home).get(recovered["version"]).metadata["lineage"]
    assert [s["id"] for s in record["snapshots"]] == [1, 3]
    assert [(q["id"], q["by"], q["reason"]) for q in record["quarantined"]] == [(2, "ana", "labels flipped by the export")]
    assert recovered["quarantined_snapshots"] == [2]
    assert "snapshot 2 left out (quarantined)" in lineage.describe(record)

    released = invoke("store", "release", "2", "--by", "bo", home=home.home, check=True)
    assert "Snapshot 2 released from quarantine by bo" in released.stdout
    run = pipeline.open_run(pipeline.RETRAIN_DAG_ID, "manual__preview", settings=home)
    preview = pipeline.train_and_gate(run, seed=7, candidates=FAST).outputs
    assert [s["source"] for s in preview["rows_by_source"]] == ["reference", "snapshot 1", "snapshot 2", "snapshot 3"]


def test_a_refused_run_summary_shows_the_champion_on_each_snapshot(home: Settings) -> None:
    _retrain(home, "manual__genuine", margin=1.0)
    _add_rows(home, 6000, seed=44, flip=True)
    run = pipeline.open_run(pipeline.RETRAIN_DAG_ID, "manual__flipped-summary", settings=home)
    merged = pipeline.merge_training_data(run, commit=True)
    step = pipeline.train_and_gate(run, seed=7, candidates=FAST, commit=True)
    from mindpulse import runs

    for name, outputs in (("merge_training_data", merged.outputs), ("train_and_gate", step.outputs)):
        runs.notebook_path(run.dir, name).write_text(_executed(outputs))
    closed = pipeline.finish_retrain(run)
    summary = runs.read_summary(run.dir)
    assert summary["outcome"] == "refused"
    assert [(s["snapshot_id"], s["fits"]) for s in summary["snapshot_scores"]] == [(1, True), (2, False)]
    assert "Snapshot 2 does not fit" in closed.message
    assert "refused: refused" not in closed.message and f"Challenger {step.outputs['version']} refused: " in closed.message


def _executed(outputs: dict) -> str:
    """An executed notebook as papermill leaves it, with ``outputs`` glued (scrapbook's format)."""
    import json

    cells = [{"output_type": "display_data", "metadata": {},
              "data": {"application/scrapbook.scrap.json+json": {"name": k, "data": v, "encoder": "json", "version": 1}}}
             for k, v in outputs.items()]
    return json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "source": [], "outputs": cells}], "metadata": {},
                       "nbformat": 4, "nbformat_minor": 5})


# --- previews tell the truth --------------------------------------------------------------------

def test_the_preview_counts_exactly_what_the_committed_run_trains_on(home: Settings) -> None:
    _retrain(home, "manual__first", margin=1.0)  # snapshot 1 archived (1,200 rows)
    with Store.from_settings(home) as store:  # snapshot 2, archived and in quarantine: left out of both
        store.add_labelled(generate(50, seed=47, id_start=4_000_000).canonical())
        store.archive_snapshot(store.claim_snapshot("manual__aside").id)
        store.quarantine_snapshot(2, reason="test", by="t")
    for rows, seed in ((600, 45), (400, 46), (1000, 49)):
        _add_rows(home, rows, seed=seed)
    run = pipeline.open_run(pipeline.RETRAIN_DAG_ID, "manual__committed", settings=home)
    merged_preview = pipeline.merge_training_data(run).outputs
    preview = pipeline.train_and_gate(run, seed=7, candidates=FAST)
    assert preview.outputs["committed"] is False and "snapshot_id" not in preview.outputs

    merged = pipeline.merge_training_data(run, commit=True).outputs
    committed = pipeline.train_and_gate(run, seed=7, candidates=FAST, commit=True).outputs
    keys = ("training_rows", "fitted_rows", "holdout_rows_excluded", "recent_rows", "recent_snapshots", "quarantined_snapshots")
    assert {k: preview.outputs[k] for k in keys} == {k: committed[k] for k in keys} == {k: merged_preview[k] for k in keys}
    counts = [(s["rows"], s["trained_rows"], s["recent_rows"]) for s in preview.outputs["rows_by_source"]]
    assert counts == [(s["rows"], s["trained_rows"], s["recent_rows"]) for s in committed["rows_by_source"]]
    assert counts == [(3000, 3000, 0), (1200, 960, 240), (2000, 1600, 400)]  # reference, snapshot 1, the new rows
    assert [s["source"] for s in preview.outputs["rows_by_source"]][-1] == "pending rows (snapshot 3 once claimed)"
    assert preview.outputs["quarantined_snapshots"] == [2] and merged["snapshot_id"] == 3
    assert preview.message.startswith(f"Would train a challenger on {committed['training_rows']} rows (reference 3000 + "
                                      "snapshot 1 960 of 1200 + pending rows (snapshot 3 once claimed) 1600 of 2000)")
    metadata = ModelRegistry.from_settings(home).get(committed["version"]).metadata["data"]
    assert (metadata["rows_offered"], metadata["rows"]) == (committed["training_rows"], committed["fitted_rows"])


# --- the smaller things -------------------------------------------------------------------------

def test_a_verdict_is_said_once_even_when_the_reason_begins_with_it() -> None:
    assert gate.in_words(False, "refused: fixed-holdout ROC-AUC 0.9128 is below") == "refused: fixed-holdout ROC-AUC 0.9128 is below"
    assert gate.in_words(True, "promoted: fixed holdout ...") == "promoted to champion: fixed holdout ..."
    assert gate.in_words(True, "first model: no champion yet") == "promoted to champion: first model: no champion yet"


def test_a_summary_leaves_empty_snapshots_out() -> None:
    record = {"reference": {"rows": 3000, "sha256": "ab" * 32},
              "snapshots": [{"id": 1, "rows": 1200, "trained_rows": 960}, {"id": 3, "rows": 0, "trained_rows": 0}]}
    text = lineage.describe(record)
    assert "snapshot 1 (960 of 1200 rows)" in text and "snapshot 3" not in text and "0 of 0" not in text


def test_an_extra_file_is_part_of_what_identifies_the_training_data() -> None:
    base = {"reference": {"sha256": "a" * 64}, "snapshots": [], "seed": None}
    with_extra = {**base, "extra": {"path": "/x.csv", "rows": 600, "sha256": "b" * 64}}
    assert lineage.data_key(base) != lineage.data_key(with_extra)
    assert lineage.data_key(with_extra) == lineage.data_key({**with_extra, "extra": {**with_extra["extra"], "path": "/y.csv"}})
