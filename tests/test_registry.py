"""The registry: integrity, rollback, pruning, the lock, and promotion surviving a SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from filelock import FileLock

from fixtures_models import build_template, copy_registry, quick_train, synthetic
from mindpulse.predict import Predictor
from mindpulse.registry import ModelIntegrityError, ModelRegistry, RegistryError
from mindpulse.train import train_candidates


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return build_template(tmp_path_factory.mktemp("template") / "artifacts")


@pytest.fixture
def registry(template, tmp_path):
    return copy_registry(template, tmp_path / "artifacts")


def add_candidate(registry: ModelRegistry, seed: int = 3, rows: int = 800, *, useless: bool = False) -> str:
    """Register a model without putting it through the gate (status candidate).

    ``useless``: trained on shuffled labels, so the gate refuses it.
    """
    frame = registry.exclude_holdout(synthetic(rows, seed=seed).canonical())
    if useless:
        frame = frame.assign(depression=frame["depression"].sample(frac=1.0, random_state=seed).to_numpy())
    result = train_candidates(frame, seed=seed, folds=3, candidates=("logistic_regression",))
    return registry.register(result.model, {"data": {"rows": len(frame)}}).version


def test_a_tampered_model_file_is_refused_with_a_clear_error(registry):
    champion = registry.champion()
    payload = bytearray(champion.model_path.read_bytes())
    payload[len(payload) // 2] ^= 0xFF
    champion.model_path.write_bytes(bytes(payload))
    with pytest.raises(ModelIntegrityError) as error:
        Predictor.load(registry)
    message = str(error.value)
    assert champion.version in message and "sha256" in message and "does not match" in message
    assert registry.check() and "champion" in registry.check()[0]


def test_rollback_returns_to_the_previous_champion_and_to_a_named_version(registry):
    first = registry.champion().version
    second = add_candidate(registry, seed=3)
    assert registry.promote(second, force=True, reason="test").promoted
    third = add_candidate(registry, seed=4)
    registry.promote(third, force=True, reason="test")
    assert (registry.champion().version, registry.backup().version) == (third, second)

    assert registry.rollback().version == second
    assert (registry.champion().version, registry.backup().version) == (second, third)
    assert Predictor.load(registry).version == second
    assert registry.rollback(to=first).version == first
    assert registry.get(first).status == "champion" and registry.get(second).status == "backup"
    assert registry.get(third).status == "archived"
    assert json.loads((registry.get(third).path / "metadata.json").read_text())["status"] == "archived"
    events = [e["event"] for e in registry.history()]
    assert events == ["promote", "force_promote", "force_promote", "rollback", "rollback"]


def test_rollback_refuses_what_was_never_champion(registry):
    with pytest.raises(RegistryError, match="no backup"):
        registry.rollback()
    candidate = add_candidate(registry)
    with pytest.raises(RegistryError, match="never been champion"):
        registry.rollback(to=candidate)
    with pytest.raises(RegistryError, match="expected one of the registered versions"):
        registry.rollback(to="v0099-20260101T000000Z")
    with pytest.raises(RegistryError, match="expected a registry version"):
        registry.rollback(to="latest")


def test_the_gate_compares_on_the_same_holdout_and_force_needs_a_reason(registry):
    champion = registry.champion().version
    candidate = add_candidate(registry)
    decision = registry.promote(candidate, margin=0.0)
    expected = registry.score_holdout(champion)["roc_auc"]
    assert decision.champion_auc == pytest.approx(expected)
    assert decision.challenger_auc == pytest.approx(registry.score_holdout(candidate)["roc_auc"])
    assert decision.promoted == (decision.challenger_auc >= expected)
    with pytest.raises(RegistryError, match="reason"):
        registry.promote(candidate, force=True)
    strict = registry.promote(add_candidate(registry, seed=8), margin=0.0, force=True, reason="audit asked")
    assert strict.promoted and strict.forced and "audit asked" in strict.reason
    assert registry.history()[-1]["event"] == "force_promote"


def test_only_a_promotion_moves_the_backup_to_the_champion_it_replaces(registry):
    first = registry.champion().version
    assert registry.backup() is None  # one champion so far: nothing to go back to
    second = add_candidate(registry, seed=3)
    registry.promote(second, force=True, reason="test")
    assert (registry.champion().version, registry.backup().version) == (second, first)
    before = registry.pointer()
    refused = add_candidate(registry, seed=5, useless=True)
    assert not registry.promote(refused).promoted
    after = registry.pointer()
    assert (after["champion"], after["backup"]) == (second, first)  # a refusal moves neither pointer
    assert after["best_promoted"] == before["best_promoted"]


def test_prune_keeps_the_newest_the_champion_the_backup_and_former_champions(registry):
    first = registry.champion().version
    added = [add_candidate(registry, seed=s, rows=300) for s in range(20, 25)]
    removed = registry.prune(keep=2)
    left = [v.version for v in registry.versions()]
    assert left == [first, *added[-2:]]
    assert sorted(removed) == sorted(added[:3])
    assert not any(p.name.startswith(".trash") for p in registry.models_dir.iterdir())


def test_backup_and_rollback_survive_promotions_refusals_and_prunes(tmp_path):
    """The issue's sequence: promote v2 over v1, refuse challengers, prune; rollback still has a target."""
    registry = ModelRegistry(tmp_path / "artifacts", keep=2, former_keep=3)
    frame = synthetic(1500, seed=31).canonical()
    v1 = quick_train(frame, registry, seed=31).version
    v2 = add_candidate(registry, seed=32)
    assert registry.promote(v2, force=True, reason="v2 over v1").promoted
    for attempt in range(10):
        challenger = add_candidate(registry, seed=40 + attempt, rows=300, useless=True)
        assert not registry.promote(challenger).promoted
        registry.prune()
        pointer = registry.pointer()
        assert pointer["champion"] != pointer["backup"] and pointer["backup"] is not None
        assert {pointer["champion"], pointer["backup"]} <= {v.version for v in registry.versions()}
    assert v1 in {v.version for v in registry.versions()}  # the first champion was not pruned away
    assert (registry.champion().version, registry.backup().version) == (v2, v1)
    assert registry.rollback().version == v1
    assert Predictor.load(registry).version == v1
    assert registry.rollback().version == v2  # and the rollback can itself be undone


def test_prune_keeps_the_last_former_champions_and_what_run_records_name(tmp_path):
    registry = ModelRegistry(tmp_path / "artifacts", keep=1, former_keep=3)
    champions = [quick_train(synthetic(1500, seed=50).canonical(), registry, seed=50).version]
    for seed in range(51, 56):
        version = add_candidate(registry, seed=seed, rows=300)
        registry.promote(version, force=True, reason="chain")
        champions.append(version)
    named = add_candidate(registry, seed=60, rows=300)
    add_candidate(registry, seed=61, rows=300)  # the newest: kept by keep=1
    registry.prune(protect=[named])
    left = {v.version for v in registry.versions()}
    assert champions[-1] in left and set(champions[-4:-1]) <= left  # champion + 3 former champions
    assert not set(champions[:2]) & left  # older former champions go
    assert named in left
    assert registry.former_champions()[:3] == champions[-2:-5:-1]


def test_the_holdout_is_fixed_and_checked(registry):
    holdout = registry.holdout()
    assert registry.ensure_holdout(synthetic(500, seed=9).canonical(), seed=1).equals(holdout)
    text = registry.holdout_path.read_text().splitlines()
    text[1] = text[1].replace("Male", "Female", 1) if "Male" in text[1] else text[1].replace("Female", "Male", 1)
    registry.holdout_path.write_text("\n".join(text) + "\n")
    with pytest.raises(RegistryError, match="holdout must stay fixed"):
        registry.holdout()


def test_two_processes_cannot_change_the_registry_at_once(registry):
    candidate = add_candidate(registry)
    impatient = ModelRegistry(registry.root, lock_timeout=0.5)
    other = FileLock(str(registry.root / "registry.lock"))  # another holder of the same lock file
    with other:
        with pytest.raises(RegistryError, match="another process"):
            impatient.promote(candidate, force=True, reason="test")
    assert impatient.promote(candidate, force=True, reason="test").promoted


def test_a_waiting_promotion_goes_ahead_when_the_lock_is_released(registry):
    candidate = add_candidate(registry)
    holder = FileLock(str(registry.root / "registry.lock"))
    holder.acquire()
    result = {}
    worker = threading.Thread(target=lambda: result.update(d=registry.promote(candidate, force=True, reason="t")))
    worker.start()
    time.sleep(0.5)
    assert "d" not in result  # still waiting for the lock
    holder.release()
    worker.join(timeout=30)
    assert result["d"].promoted and registry.champion().version == candidate


def test_a_promotion_scores_without_the_lock_and_again_when_the_champion_changed_meanwhile(registry, monkeypatch):
    first = registry.champion().version
    challenger, other = add_candidate(registry, seed=3), add_candidate(registry, seed=4)
    elsewhere = ModelRegistry(registry.root)  # another process's view of the same registry
    real_scores = registry.scores
    scored: list[str] = []

    def scores(version, recent=None):
        with FileLock(str(registry.root / "registry.lock"), timeout=0):  # nobody holds it while models are scored
            pass
        if version == first and first not in scored:
            assert elsewhere.promote(other, force=True, reason="promoted while the challenger was scored").promoted
        scored.append(version)
        return real_scores(version, recent)

    monkeypatch.setattr(registry, "scores", scores)
    decision = registry.promote(challenger, margin=1.0)
    # The first comparison was against a champion that had been replaced: it was thrown away.
    assert scored == [challenger, first, other]
    assert decision.champion_before == other and decision.promoted
    assert (registry.champion().version, registry.backup().version) == (challenger, other)
    assert registry.history()[-1]["champion_before"] == other
    assert registry.get(challenger).metadata["gate"]["champion_before"] == other


def test_a_promotion_refuses_when_the_champion_keeps_changing_while_it_scores(registry, monkeypatch):
    from mindpulse.promotion import MAX_ATTEMPTS

    first = registry.champion().version
    second = add_candidate(registry, seed=3)
    assert registry.promote(second, force=True, reason="a backup to roll back to").promoted
    challenger = add_candidate(registry, seed=4)
    elsewhere = ModelRegistry(registry.root)
    real_scores = registry.scores
    rollbacks = []

    def scores(version, recent=None):
        if version != challenger:  # each time the champion is scored, another process rolls back
            rollbacks.append(elsewhere.rollback().version)
        return real_scores(version, recent)

    monkeypatch.setattr(registry, "scores", scores)
    with pytest.raises(RegistryError) as error:
        registry.promote(challenger, margin=1.0)
    assert len(rollbacks) == MAX_ATTEMPTS
    message = str(error.value)
    assert f"version {challenger}: the champion changed each of the {MAX_ATTEMPTS} times" in message
    assert registry.champion().version == rollbacks[-1] and registry.get(challenger).status == "candidate"
    assert "gate" not in registry.get(challenger).metadata and first in rollbacks


def test_a_group_column_the_data_does_not_have_stops_the_gate_with_a_clear_error(registry):
    candidate = add_candidate(registry)
    strict = ModelRegistry(registry.root, group_columns=["city", "no_such_column"])
    with pytest.raises(RegistryError) as error:
        strict.promote(candidate)
    message = str(error.value)
    assert "group_columns: got ['city', 'no_such_column']" in message and "MINDPULSE_GROUP_COLUMNS" in message
    assert "'no_such_column' is not a column of the data" in message
    assert strict.get(candidate).status == "candidate"  # nothing recorded
    decision = ModelRegistry(registry.root, group_columns=["city"]).promote(candidate, margin=1.0)
    assert {g["attribute"] for g in decision.groups} == {"gender", "age_band", "city"}


#: A promotion in its own process that stops between its writes (step 1: after the challenger's
#: metadata, before the champion pointer; step 2: after the pointer, before the statuses), so the
#: test can kill it there. The pause is patched in here: production code has no test hook.
PAUSED_PROMOTION = """
import sys, time
from mindpulse.registry import ModelRegistry

step = int(sys.argv[3])
real_write_pointer = ModelRegistry._write_pointer

def write_pointer(self, pointer, event):
    if step == 1:
        print("paused in promotion at step 1", file=sys.stderr, flush=True)
        time.sleep(60)
    real_write_pointer(self, pointer, event)
    if step == 2:
        print("paused in promotion at step 2", file=sys.stderr, flush=True)
        time.sleep(60)

ModelRegistry._write_pointer = write_pointer
ModelRegistry(sys.argv[1]).promote(sys.argv[2], force=True, reason="kill test")
"""


@pytest.mark.parametrize("step", [1, 2])
def test_killing_a_promotion_leaves_a_loadable_champion(registry, step):
    before = registry.champion().version
    candidate = add_candidate(registry)
    env = {"PATH": os.environ["PATH"], "MINDPULSE_ARTIFACTS_DIR": str(registry.root),
           "MINDPULSE_HOME": str(registry.root.parent)}
    process = subprocess.Popen([sys.executable, "-c", PAUSED_PROMOTION, str(registry.root), candidate, str(step)],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            line = process.stderr.readline()
            assert line, f"promotion ended before step {step}: {process.stderr.read()}"
            if f"paused in promotion at step {step}" in line:
                break
            assert time.monotonic() < deadline
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL

    reopened = ModelRegistry(registry.root, lock_timeout=5)
    expected = before if step == 1 else candidate
    assert reopened.champion().version == expected
    assert reopened.check() == []
    assert Predictor.load(reopened).version == expected
    # The lock died with the process: the registry keeps working.
    follow_up = add_candidate(reopened, seed=12)
    assert reopened.promote(follow_up, force=True, reason="after the kill").promoted
    statuses = {v.version: v.status for v in reopened.versions()}
    assert statuses[follow_up] == "champion" and statuses[expected] == "backup"
    for version in reopened.versions():
        on_disk = json.loads((version.path / "metadata.json").read_text())["status"]
        assert on_disk == version.status


def test_reading_the_registry_does_not_import_the_statistics_of_the_gate():
    """Every command that reads the registry (`models`, `predict`, `rollback`, the dashboard) imports it:
    scipy.stats (~0.9 s) is imported only when a gate computes its intervals."""
    probe = "import sys, mindpulse.registry; print(sorted(m for m in ('scipy.stats', 'sklearn') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
