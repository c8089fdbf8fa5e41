"""Promotion approval through a real Airflow: the retrain DAG with ``MINDPULSE_PROMOTION_APPROVAL=required``.

One Airflow (``airflow standalone``, the embedded platform's executor) on a copy of the demo home
serves every case, one forced run each, a new seed each (so each trains a new challenger), and
a gate margin that lets every challenger pass (what is judged here is the approval):

- the run waits (``await_approval`` parked, the request open in Airflow's Required Actions, the
  champion unchanged, a hand promotion refused); Airflow restarted meanwhile keeps the request;
  an approval through the REST API promotes, with the approver and comment in the version's
  metadata, the run summary and the audit trail;
- a rejection through the REST API refuses;
- a request not answered within its timeout refuses ("not approved within N h");
- the dashboard's Models page, in Chromium, lists the request to an admin and approving it there
  answers the request in Airflow.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import airflow_support as af
from cli_support import invoke
from mindpulse import runs
from mindpulse.audit import AuditTrail
from mindpulse.dag_ids import RETRAIN_DAG_ID
from mindpulse.registry import ModelRegistry
from mindpulse.settings import Settings
from mindpulse.store import Store

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
CONF = {"force": True, "candidates": ["logistic_regression"]}
WAITING = ("awaiting_input", "deferred")  # Airflow 3.3 parks the task in awaiting_input; 3.1-3.2 defer it


@pytest.fixture(scope="module")
def platform(demo_template: Path, migrated_airflow: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    base = tmp_path_factory.mktemp("approval")
    shutil.copytree(demo_template, base / "home")
    airflow_home = base / "airflow"
    airflow_home.mkdir()
    shutil.copy(migrated_airflow, airflow_home / "airflow.db")
    env = af.airflow_env(airflow_home, parallelism=2, extra={
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(af.free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(af.free_port())})
    for name in [k for k in env if k.startswith("MINDPULSE_")]:
        del env[name]
    env.update({"MINDPULSE_HOME": str(base / "home"), "MINDPULSE_NOTEBOOKS_DIR": str(REPO / "notebooks"),
                "MINDPULSE_PIPELINE_RETRIES": "0", "MINDPULSE_PROMOTION_APPROVAL": "required",
                "MINDPULSE_PROMOTION_MARGIN": "0.5"})
    state = {"env": env, "settings": Settings(home=base / "home"), "airflow": af.AirflowProcesses(env)}
    try:
        state["airflow"].start(timeout=480)
        state["client"] = _ready(state["airflow"])
        yield state
    finally:
        state["airflow"].stop()


def _ready(airflow: af.AirflowProcesses) -> Any:
    client = airflow.client()
    af.wait_for_dag(client, RETRAIN_DAG_ID, timeout=240)
    client.set_paused(RETRAIN_DAG_ID, False)
    return client


def _restart(platform: dict) -> None:
    """Stop the whole platform (Ctrl-C to standalone, as in a terminal) and start it again on the same home."""
    platform["airflow"].stop()
    platform["airflow"] = af.AirflowProcesses(platform["env"])  # kept before it starts: the teardown stops it
    platform["airflow"].start(timeout=480)  # a shared 2-core machine is slow at times
    platform["client"] = _ready(platform["airflow"])


def _trigger(platform: dict, seed: int, **conf: Any) -> str:
    return platform["client"].trigger(RETRAIN_DAG_ID, {**CONF, "seed": seed, **conf})["dag_run_id"]


def _wait_for_request(platform: dict, run_id: str, timeout: float = 600) -> dict[str, str | None]:
    """Wait until the run's approval task waits for its answer; the run's task states then."""
    deadline = time.monotonic() + timeout
    while True:
        states = af.task_states(platform["client"], RETRAIN_DAG_ID, run_id)
        if states.get("await_approval") in WAITING:
            # The attempt that parked the task must be seen gone by the scheduler before an answer comes:
            # an answer within a second or two (no person is that fast) races Airflow's executor, which
            # then takes the parked attempt's exit for an external kill and fails the task.
            time.sleep(8)
            return states
        run_state = platform["client"].run_state(RETRAIN_DAG_ID, run_id)
        if run_state in ("success", "failed") or time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} is {run_state} without waiting for approval: {states}")
        time.sleep(3)


def _finish(platform: dict, run_id: str) -> tuple[dict, dict[str, str | None]]:
    run = platform["client"].wait_for_run(RETRAIN_DAG_ID, run_id, timeout=600)
    return run, af.task_states(platform["client"], RETRAIN_DAG_ID, run_id)


def _summary(settings: Settings, run_id: str) -> dict:
    return json.loads((runs.run_dir(settings.reports_dir, RETRAIN_DAG_ID, run_id) / runs.SUMMARY_NAME).read_text())


def _trained(settings: Settings, run_id: str) -> Any:
    registry = ModelRegistry.from_settings(settings)
    return next(v for v in registry.versions() if ((v.metadata.get("lineage") or {}).get("run") or {}).get("run_id") == run_id)


def _audit(settings: Settings, action: str) -> list[Any]:
    with Store.from_settings(settings) as store:
        return AuditTrail(store).events(action=action, limit=20)


def test_a_run_waits_keeps_its_request_over_a_restart_and_an_approval_through_the_rest_api_promotes(platform: dict) -> None:
    settings = platform["settings"]
    registry = ModelRegistry.from_settings(settings)
    champion = registry.champion().version
    run_id = _trigger(platform, seed=21)
    states = _wait_for_request(platform, run_id)
    assert states["archive_production_data"] in ("success", "running", "queued", "scheduled")  # not held by the wait
    assert states["apply_approval"] in (None, "none") and states["notify"] in (None, "none")
    held = _trained(settings, run_id)
    assert held.metadata["approval"]["status"] == "pending" and held.status == "candidate"
    pending = platform["client"].hitl_details(RETRAIN_DAG_ID, pending=True)
    assert [(d["task_instance"]["dag_run_id"], d["task_instance"]["task_id"]) for d in pending] == [(run_id, "await_approval")]
    assert held.version in pending[0]["subject"] and "passed the gate; awaiting approval" in pending[0]["body"]
    assert pending[0]["options"] == ["Approve", "Reject"] and pending[0]["defaults"] == ["Reject"]
    # Nothing changes the champion while the request is open, a hand promotion included.
    refused = invoke("promote", held.version, home=settings.home)
    assert refused.returncode != 0 and "waits for approval" in refused.stdout + refused.stderr
    time.sleep(10)
    assert registry.champion().version == champion
    assert platform["client"].run_state(RETRAIN_DAG_ID, run_id) == "running"

    _restart(platform)
    client = platform["client"]
    detail = client.hitl_detail(RETRAIN_DAG_ID, run_id, "await_approval")
    assert detail["response_received"] is False and held.version in detail["subject"]
    assert af.task_states(client, RETRAIN_DAG_ID, run_id)["await_approval"] in WAITING
    assert registry.champion().version == champion

    client.respond(RETRAIN_DAG_ID, run_id, "await_approval", "Approve",
                   {"approver": "ana", "comment": "card and subgroup figures checked"})
    run, states = _finish(platform, run_id)
    assert run["state"] == "success", states
    assert states["await_approval"] == "success" and states["apply_approval"] == "success"
    assert registry.champion().version == held.version and registry.backup().version == champion
    approval = registry.get(held.version).metadata["approval"]
    assert (approval["status"], approval["by"], approval["comment"], approval["airflow_user"]) == (
        "approved", "ana", "card and subgroup figures checked", af.ADMIN_USER)
    summary = _summary(settings, run_id)
    assert summary["outcome"] == "promoted" and summary["model_after"] == held.version
    assert summary["approval"]["by"] == "ana" and summary["approval"]["comment"] == "card and subgroup figures checked"
    assert summary["steps"]["apply_approval"]["status"] == "succeeded"
    events = _audit(settings, "model_approved")
    assert [(e.actor, e.target) for e in events] == [("ana", held.version)]
    assert events[0].details["comment"] == "card and subgroup figures checked"


def test_a_rejection_through_the_rest_api_refuses(platform: dict) -> None:
    settings = platform["settings"]
    registry = ModelRegistry.from_settings(settings)
    champion = registry.champion().version
    run_id = _trigger(platform, seed=22)
    _wait_for_request(platform, run_id)
    held = _trained(settings, run_id)
    platform["client"].respond(RETRAIN_DAG_ID, run_id, "await_approval", "Reject",
                               {"approver": "bob", "comment": "wait for the exam-season labels"})
    run, states = _finish(platform, run_id)
    assert run["state"] == "success", states  # a refusal is an outcome, not a failure
    assert states["await_approval"] == "success" and states["apply_approval"] == "success"
    assert registry.champion().version == champion
    refused = registry.get(held.version)
    assert refused.status == "refused"
    assert refused.metadata["refusal_reason"] == "refused: rejected by bob: wait for the exam-season labels"
    summary = _summary(settings, run_id)
    assert summary["outcome"] == "refused" and summary["approval"]["status"] == "rejected"
    assert summary["gate_reason"] == "refused: rejected by bob: wait for the exam-season labels"
    assert [(e.actor, e.target) for e in _audit(settings, "model_rejected")] == [("bob", held.version)]


def test_a_request_not_answered_in_time_is_not_approved(platform: dict) -> None:
    settings = platform["settings"]
    registry = ModelRegistry.from_settings(settings)
    champion = registry.champion().version
    run_id = _trigger(platform, seed=23, approval_timeout_hours=0.005)  # 18 s
    _wait_for_request(platform, run_id)
    run, states = _finish(platform, run_id)
    assert run["state"] == "success", states
    held = _trained(settings, run_id)
    assert registry.champion().version == champion and registry.get(held.version).status == "refused"
    summary = _summary(settings, run_id)
    assert summary["outcome"] == "refused" and summary["approval"]["status"] == "timed_out"
    assert summary["gate_reason"] == "refused: not approved within 0.005 h (the request timed out)"
    detail = platform["client"].hitl_detail(RETRAIN_DAG_ID, run_id, "await_approval")
    assert detail["chosen_options"] == ["Reject"] and detail["responded_by_user"] is None
    assert [e.target for e in _audit(settings, "approval_timed_out")] == [held.version]


@pytest.mark.browser
def test_the_models_page_lists_the_request_to_an_admin_and_approving_there_answers_it(platform: dict, page: Any) -> None:
    from playwright.sync_api import expect

    from dashboard_support import serve_dashboard

    settings = platform["settings"]
    registry = ModelRegistry.from_settings(settings)
    champion = registry.champion().version
    run_id = _trigger(platform, seed=24)
    _wait_for_request(platform, run_id)
    held = _trained(settings, run_id)
    airflow = platform["airflow"]
    env = {"MINDPULSE_AIRFLOW_API_URL": airflow.url, "MINDPULSE_AIRFLOW_USERNAME": af.ADMIN_USER,
           "MINDPULSE_AIRFLOW_PASSWORD": af.admin_password(airflow.home)}
    with serve_dashboard(settings.home, env=env) as server:  # the page's session is the MindPulse admin
        page.set_default_timeout(30_000)
        expect.set_options(timeout=30_000)
        page.goto(server.url, timeout=90_000)
        page.locator(".bk-tab", has_text="Models").click()
        section = page.locator(".mp-approvals")
        expect(section).to_contain_text("1 version(s) wait for a decision.")
        expect(section.get_by_role("gridcell", name=held.version)).to_be_visible()
        expect(section.get_by_role("gridcell", name=run_id)).to_be_visible()
        expect(section).to_contain_text("passed the gate; awaiting approval")
        assert registry.champion().version == champion
        section.get_by_label("Comment").fill("reviewed on the Models page")
        section.get_by_role("button", name="Approve").click()
        expect(section).to_contain_text(f"Approved {held.version}.")

    detail = platform["client"].hitl_detail(RETRAIN_DAG_ID, run_id, "await_approval")
    assert detail["response_received"] is True and detail["chosen_options"] == ["Approve"]
    assert detail["params_input"] == {"approver": "admin", "comment": "reviewed on the Models page"}
    run, states = _finish(platform, run_id)
    assert run["state"] == "success", states
    assert registry.champion().version == held.version
    approval = registry.get(held.version).metadata["approval"]
    assert (approval["by"], approval["via"], approval["comment"]) == ("admin", "dashboard", "reviewed on the Models page")
    assert [e.target for e in _audit(settings, "approve_model") if e.actor == "admin"] == [held.version]
