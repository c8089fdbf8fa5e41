"""Promotion approval without Airflow: a held challenger, its answers, and what may not happen meanwhile.

The retrain steps are called as the DAG calls them, on a copy of the session's demo home, with
``MINDPULSE_PROMOTION_APPROVAL=required``; the answers are the ApprovalOperator's results as its
XCom holds them. (tests/test_approval_airflow.py runs the same through a real Airflow.)
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from cli_support import invoke
from mindpulse import approval, pipeline
from mindpulse.audit import AuditTrail
from mindpulse.pipeline.approval import apply_approval, approval_request
from mindpulse.registry import ModelRegistry
from mindpulse.settings import Settings
from mindpulse.store import Store

FAST = ["logistic_regression"]


@pytest.fixture
def home(demo_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    target = tmp_path / "home"
    shutil.copytree(demo_template, target)
    for name in [k for k in os.environ if k.startswith("MINDPULSE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MINDPULSE_HOME", str(target))
    monkeypatch.setenv("MINDPULSE_PROMOTION_APPROVAL", "required")
    monkeypatch.setenv("MINDPULSE_PROMOTION_MARGIN", "0.5")  # the gate passes: what is judged here is the approval
    return Settings()


def _held_run(settings: Settings, run_id: str, seed: int = 7) -> tuple[pipeline.Run, dict]:
    run = pipeline.open_run(pipeline.RETRAIN_DAG_ID, run_id, settings=settings)
    pipeline.merge_training_data(run, commit=True)
    step = pipeline.train_and_gate(run, seed=seed, candidates=FAST, commit=True)
    pipeline.archive_production_data(run, commit=True)
    return run, {"outputs": step.outputs, "message": step.message}


def _answer(option: str, *, approver: str = "", comment: str = "", user: dict | None = None) -> dict:
    """What the ApprovalOperator returns (its XCom): no user when the request timed out."""
    return {"chosen_options": [option], "params_input": {"approver": approver, "comment": comment},
            "responded_at": datetime(2026, 12, 6, 23, 0, tzinfo=timezone.utc), "responded_by_user": user}


def _actions(settings: Settings) -> list[tuple[str, str, str | None]]:
    with Store.from_settings(settings) as store:
        return [(e.actor, e.action, e.target) for e in AuditTrail(store).events(limit=50)]


def test_a_challenger_that_passes_the_gate_waits_and_an_approval_promotes_it(home: Settings) -> None:
    registry = ModelRegistry.from_settings(home)
    champion = registry.champion().version
    run, trained = _held_run(home, "manual__approve")
    version = trained["outputs"]["version"]
    assert trained["outputs"]["promoted"] is False
    assert trained["outputs"]["reason"].startswith("passed the gate; awaiting approval (")
    assert f"champion {champion} stays until an admin decides" in trained["message"]
    held = registry.get(version)
    assert held.status == "candidate" and approval.is_pending(held)
    assert held.metadata["approval"]["champion_at_request"] == champion
    assert registry.champion().version == champion  # nothing promoted while the request is open
    # The archive does not wait: the rows were trained on, whatever becomes of the model.
    assert [s.state for s in Store.from_settings(home).snapshots() if s.run_id == run.run_id] == ["archived"]
    assert ("airflow:ml_retrain_pipeline", "approval_requested", version) in _actions(home)

    # A hand promotion of the held version is refused unless forced.
    refused = invoke("promote", version, home=home.home)
    assert refused.returncode != 0 and "waits for approval" in refused.stdout + refused.stderr, refused
    assert registry.champion().version == champion

    request = approval_request(run, timeout_hours=2)
    assert request["version"] == version and version in request["subject"] and request["notifications"]["log"] == "sent"
    assert "passed the gate; awaiting approval" in request["body"] and "within 2 h" in request["body"]

    record = apply_approval(run, _answer("Approve", approver="ana", comment="checked the card",
                                         user={"id": "admin", "name": "admin"}), timeout_hours=2)
    assert record["status"] == "approved" and record["promoted"] is True
    assert registry.champion().version == version and registry.backup().version == champion
    meta = registry.get(version).metadata["approval"]
    assert (meta["status"], meta["by"], meta["comment"], meta["airflow_user"], meta["via"]) == (
        "approved", "ana", "checked the card", "admin", "dashboard")
    assert ("ana", "model_approved", version) in _actions(home)

    result = pipeline.finish_retrain(run)
    summary = json.loads((run.dir / "run_summary.json").read_text())
    assert summary["outcome"] == "promoted" and summary["model_after"] == version
    assert summary["approval"]["by"] == "ana" and summary["approval"]["comment"] == "checked the card"
    assert "Approved by ana (checked the card)" in result.message

    # Applying the same answer again (a retried step) changes nothing.
    again = apply_approval(run, _answer("Approve", approver="ana", user={"id": "admin", "name": "admin"}))
    assert again["promoted"] is True and again["already_settled"] is True
    assert [a for a in _actions(home) if a[1] == "model_approved"] == [("ana", "model_approved", version)]


def test_a_rejection_and_a_timeout_are_refusals_with_their_reasons(home: Settings) -> None:
    registry = ModelRegistry.from_settings(home)
    champion = registry.champion().version
    run, trained = _held_run(home, "manual__reject")
    version = trained["outputs"]["version"]
    record = apply_approval(run, _answer("Reject", comment="wait for the exam-season labels",
                                         user={"id": "bob", "name": "bob"}))
    assert record["status"] == "rejected" and record["promoted"] is False
    assert record["reason"] == "refused: rejected by airflow:bob: wait for the exam-season labels"
    rejected = registry.get(version)
    assert rejected.status == "refused" and rejected.metadata["refusal_reason"] == record["reason"]
    assert rejected.metadata["approval"]["via"] == "airflow"
    assert registry.champion().version == champion
    assert registry.history()[-1]["event"] == "refuse" and registry.history()[-1]["version"] == version
    assert ("airflow:bob", "model_rejected", version) in _actions(home)
    pipeline.finish_retrain(run)
    summary = json.loads((run.dir / "run_summary.json").read_text())
    assert summary["outcome"] == "refused" and summary["approval"]["status"] == "rejected"

    # Another seed, another challenger: nobody answers in time.
    run, trained = _held_run(home, "manual__timeout", seed=8)
    late = trained["outputs"]["version"]
    record = apply_approval(run, _answer("Reject"), timeout_hours=0.25)
    assert record["status"] == "timed_out" and record["reason"] == "refused: not approved within 0.25 h (the request timed out)"
    assert registry.get(late).status == "refused" and registry.champion().version == champion
    assert ("airflow:ml_retrain_pipeline", "approval_timed_out", late) in _actions(home)


def test_an_approval_is_judged_against_the_champion_of_that_moment(home: Settings) -> None:
    registry = ModelRegistry.from_settings(home)
    first = registry.champion().version
    run, trained = _held_run(home, "manual__first")
    held = trained["outputs"]["version"]
    # Forced by hand while the first request is open: the champion changes under it.
    other_run, other = _held_run(home, "manual__second", seed=8)
    forced = registry.promote(other["outputs"]["version"], force=True, reason="an urgent fix")
    assert forced.promoted
    record = apply_approval(run, _answer("Approve", approver="ana", user={"id": "admin", "name": "admin"}))
    assert record["champion_changed"] is True and record["champion_before"] == other["outputs"]["version"]
    assert f"the champion changed from {first} to {other['outputs']['version']}" in record["reason"]
    assert registry.champion().version == (held if record["promoted"] else other["outputs"]["version"])


def test_with_auto_nothing_waits(home: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINDPULSE_PROMOTION_APPROVAL", "auto")
    settings = Settings()
    run, trained = _held_run(settings, "manual__auto")
    assert trained["outputs"]["promoted"] is True and "approval" not in trained["outputs"]
    assert approval_request(run) is None and apply_approval(run, None) is None
    assert ModelRegistry.from_settings(settings).champion().version == trained["outputs"]["version"]


def test_an_answer_needs_a_named_account() -> None:
    with pytest.raises(approval.ApprovalError, match="approver: got ''"):
        approval.Answer("approved", by="")
    with pytest.raises(approval.ApprovalError, match="status: got 'maybe'"):
        approval.Answer("maybe")


def test_the_models_page_store_lists_a_held_version_and_answers_only_for_a_named_admin(home: Settings,
                                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard.stores.approvals import ApprovalStore
    from dashboard.stores.common import DashboardError
    from mindpulse.accounts import Accounts, Principal

    monkeypatch.setenv("MINDPULSE_AIRFLOW_API_URL", "http://127.0.0.1:9")  # the discard port: nothing answers
    settings = Settings()
    run, trained = _held_run(settings, "manual__page")
    version = trained["outputs"]["version"]
    with Store.from_settings(settings) as store:
        accounts = Accounts(store)
        accounts.add("ana", "admin", "a long enough password")
        accounts.add("vic", "viewer", "a long enough password")
        ana, vic = (Principal(accounts.get(n), accounts.get(n).rights) for n in ("ana", "vic"))
    admin = ApprovalStore(settings=settings, principal=ana)
    [row] = admin.pending()
    assert (row["version"], row["run"], row["dag_id"]) == (version, run.run_id, pipeline.RETRAIN_DAG_ID)
    assert row["gate"].startswith("passed the gate; awaiting approval")
    assert row["model_card"] and Path(row["model_card"]).is_file()  # written when the gate decided
    assert list(admin.table()["version"]) == [version]

    with pytest.raises(DashboardError, match="may not reject a model"):
        ApprovalStore(settings=settings, principal=vic).answer(version, False, "no")
    with pytest.raises(DashboardError, match="comment: a rejection needs a comment"):
        admin.answer(version, False, "  ")
    with pytest.raises(DashboardError, match="does not wait for approval"):
        admin.answer("v0999-20261206T000000Z", True, "")
    with pytest.raises(DashboardError, match="Airflow is not reachable at http://127.0.0.1:9: the answer was not sent"):
        admin.answer(version, True, "fine")
    assert ModelRegistry.from_settings(settings).get(version).metadata["approval"]["status"] == "pending"
    assert ("vic", "reject_a_model", None) in _actions(settings)


def test_compose_requires_approval_by_default_and_env_can_turn_it_off(tmp_path: Path) -> None:
    from test_compose import compose, example_values, write_env

    def setting(extra: dict[str, str]) -> dict[str, str | None]:
        env_file = write_env(tmp_path / ".env", {**example_values(), **extra})
        result = compose(env_file, "config", "--format", "json")
        assert result.returncode == 0, result.stderr
        services = json.loads(result.stdout)["services"]
        return {name: services[name]["environment"].get("MINDPULSE_PROMOTION_APPROVAL")
                for name in ("airflow-scheduler", "airflow-worker", "dashboard")}

    assert set(setting({}).values()) == {"required"}
    assert set(setting({"MINDPULSE_PROMOTION_APPROVAL": "auto"}).values()) == {"auto"}


@pytest.mark.airflow
@pytest.mark.slow
def test_with_auto_the_retrain_dag_skips_both_approval_tasks_and_promotes_at_once(
        demo_template: Path, migrated_airflow: Path, kernel_zygote: dict, tmp_path: Path) -> None:
    """``airflow dags test`` of the retrain DAG with the embedded default (auto): as before, plus two skipped tasks."""
    import airflow_support as af
    from mindpulse import runs

    shutil.copytree(demo_template, tmp_path / "home")
    (tmp_path / "airflow").mkdir()
    shutil.copy(migrated_airflow, tmp_path / "airflow" / "airflow.db")
    env = af.airflow_env(tmp_path / "airflow")
    for name in [k for k in env if k.startswith("MINDPULSE_")]:
        del env[name]
    env.update({"MINDPULSE_HOME": str(tmp_path / "home"), "MINDPULSE_NOTEBOOKS_DIR": str(Path(__file__).parents[1] / "notebooks"),
                "MINDPULSE_PIPELINE_RETRIES": "0", "MINDPULSE_PROMOTION_MARGIN": "1", **kernel_zygote})
    settings = Settings(home=tmp_path / "home")
    before = ModelRegistry.from_settings(settings).champion().version
    result = af.dags_test(env, pipeline.RETRAIN_DAG_ID, {"force": True, "candidates": FAST})
    assert result.returncode == 0, result.stdout[-3000:]
    state, tasks = af.last_run_states(env, pipeline.RETRAIN_DAG_ID)
    assert state == "success" and tasks["await_approval"] == "skipped" and tasks["apply_approval"] == "skipped", tasks
    [folder] = [p for p in (settings.reports_dir / pipeline.RETRAIN_DAG_ID).iterdir() if p.is_dir()]
    summary = runs.read_summary(folder)
    assert summary["outcome"] == "promoted" and summary["approval"] is None
    champion = ModelRegistry.from_settings(settings).champion()
    assert champion.version == summary["challenger"] != before and "approval" not in champion.metadata


def test_only_an_admin_gets_the_pending_approvals_on_the_models_page(home: Settings) -> None:
    from dashboard.stores.models import ModelStore
    from dashboard.views.models import ModelsView
    from mindpulse.accounts import Accounts, Principal

    run, trained = _held_run(home, "manual__view")
    version = trained["outputs"]["version"]
    with Store.from_settings(home) as store:
        accounts = Accounts(store)
        for name, role in (("ana", "admin"), ("vic", "viewer")):
            accounts.add(name, role, "a long enough password")
        principals = {n: Principal(accounts.get(n), accounts.get(n).rights) for n in ("ana", "vic")}
    viewer = ModelsView(store=ModelStore(settings=home, principal=principals["vic"]))
    assert viewer.approvals is None
    admin = ModelsView(store=ModelStore(settings=home, principal=principals["ana"]))
    assert list(admin.approvals.table.value["version"]) == [version] and admin.approvals.version.value == version
    assert admin.approvals.note.object == "1 version(s) wait for a decision." and not admin.approvals.approve_button.disabled
    note = admin.table.value.set_index("version").loc[version, "note"]
    assert note.startswith("passed the gate; awaiting approval")
