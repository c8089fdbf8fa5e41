"""The two DAGs run end to end in a real Airflow 3 (isolated AIRFLOW_HOME, SQLite, no mocks).

Runs made with ``airflow dags test``, each on its own copy of a small home: a run that skips and
changes nothing, a forced run, a forced run with no new rows, and a run whose training fails.
Then ``mindpulse platform run`` (``airflow standalone`` and the dashboard) on a home of its own,
outside the checkout: the dashboard's Pipelines page starts runs in its Airflow (left queued, the
DAGs still paused), then runs triggered through the REST API (so they have no logical date, as
from the UI): a reporting run, and a retrain that trains and promotes; ``platform stop`` ends it.
Data stays small (3,000 reference rows) so the file takes a few minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import airflow_support as af
from mindpulse import pipeline, runs
from mindpulse.platform.supervisor import stop_process_group
from mindpulse.registry import ModelRegistry
from mindpulse.settings import Settings
from mindpulse.store import Store
from shared_support import migrated

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
MINDPULSE = str(Path(sys.executable).parent / "mindpulse")
RETRAIN, REPORTING = pipeline.RETRAIN_DAG_ID, pipeline.REPORTING_DAG_ID
RETRAIN_NOTEBOOKS = {"check_production_data", "detect_drift", "backup_model", "merge_training_data", "train_and_gate",
                     "archive_production_data", "notify"}


# --- homes and Airflow metadatabases ---------------------------------------------------------------
@pytest.fixture(scope="module")
def busy_template(demo_template: Path) -> Path:
    """3,000 reference rows, a champion, 1,200 labelled production rows (the last 600 in exam season):
    the session's demo home, copied before any change."""
    return demo_template


@pytest.fixture(scope="module")
def quiet_template(busy_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same reference and champion, but only 200 labelled production rows and no drift."""
    home = tmp_path_factory.mktemp("quiet-home")
    for folder in ("data", "artifacts"):
        shutil.copytree(busy_template / folder, home / folder, dirs_exist_ok=True)
    (home / "data" / "mindpulse.db").unlink()
    pipeline.simulate_production_traffic(migrated(Settings(home=home)), days=1, rows_per_day=200, drift_days=0, seed=11)
    return home


def _copy_home(template: Path, target: Path) -> Settings:
    shutil.copytree(template, target)
    return Settings(home=target)


def _env(migrated: Path, airflow_home: Path, settings: Settings, **extra: str) -> dict[str, str]:
    return af.pipeline_env(migrated, airflow_home, settings.home, settings=extra)


def _state(settings: Settings) -> dict[str, object]:
    registry = ModelRegistry.from_settings(settings)
    store = Store.from_settings(settings)
    archive = settings.archive_dir
    return {"champion": registry.champion().version, "backup": registry.backup().version if registry.backup() else None,
            "versions": [v.version for v in registry.versions()], "pending": store.pending_count(),
            "snapshots": [(s.id, s.state, s.n_rows) for s in store.snapshots()],
            "archive": sorted(p.name for p in archive.iterdir()) if archive.is_dir() else []}


def _only_run_folder(settings: Settings, dag_id: str) -> Path:
    folders = [p for p in (settings.reports_dir / dag_id).iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    return folders[0]


def _error_lines(airflow_home: Path, dag_id: str, run_id: str) -> list[str]:
    """The ``"level":"error"`` lines of a run's task logs (Airflow writes one JSON object a line)."""
    logs = sorted((airflow_home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}").rglob("*.log"))
    assert logs, f"no task logs for {dag_id} {run_id}"
    return [f"{path.parent.name}: {line}" for path in logs for line in path.read_text().splitlines()
            if '"level":"error"' in line.replace(" ", "")]


# --- runs through `airflow dags test` ----------------------------------------------------------------
def test_a_run_with_too_little_data_no_drift_and_no_force_skips_and_changes_nothing(
        quiet_template: Path, migrated_airflow: Path, kernel_zygote: dict, tmp_path: Path) -> None:
    settings = _copy_home(quiet_template, tmp_path / "home")
    env = _env(migrated_airflow, tmp_path / "airflow", settings, **kernel_zygote)
    before = _state(settings)

    result = af.dags_test(env, RETRAIN)
    assert result.returncode == 0, result.stdout[-3000:]
    assert af.last_run_states(env, RETRAIN)[0] == "success"

    assert _state(settings) == before  # registry, store rows and snapshots, archive folder
    folder = _only_run_folder(settings, RETRAIN)
    summary = runs.read_summary(folder)
    assert summary["outcome"] == "skipped" and summary["trigger"]["proceed"] is False
    assert summary["trigger"]["reasons"] == ["200 labelled production rows < min_rows 1000",
                                             "drift not measured (not enough production rows)", "not forced"]
    assert summary["model_before"] == summary["model_after"] == before["champion"]
    assert {p.stem for p in folder.glob("*.ipynb")} == {"check_production_data", "detect_drift", "notify"}


def test_a_forced_run_trains_on_little_data_and_archives_it(quiet_template: Path, migrated_airflow: Path,
                                                            kernel_zygote: dict, tmp_path: Path) -> None:
    settings = _copy_home(quiet_template, tmp_path / "home")
    env = _env(migrated_airflow, tmp_path / "airflow", settings, **kernel_zygote)
    before = _state(settings)

    result = af.dags_test(env, RETRAIN, {"force": True, "candidates": ["logistic_regression"]})
    assert result.returncode == 0, result.stdout[-3000:]
    assert af.last_run_states(env, RETRAIN)[0] == "success"

    after = _state(settings)
    folder = _only_run_folder(settings, RETRAIN)
    summary = runs.read_summary(folder)
    assert summary["outcome"] in ("promoted", "refused")
    assert summary["trigger"]["reasons"][0] == "forced by the run's conf (force=true)"
    assert len(after["versions"]) == len(before["versions"]) + 1 and summary["challenger"] == after["versions"][-1]
    assert after["champion"] == (summary["challenger"] if summary["outcome"] == "promoted" else before["champion"])
    # Only a promotion moves the backup, to the champion it replaced; a refusal leaves both pointers alone.
    assert after["backup"] == (before["champion"] if summary["outcome"] == "promoted" else before["backup"])
    assert after["pending"] == 0 and after["snapshots"] == [(1, "archived", 200)] and len(after["archive"]) == 1
    assert {p.stem for p in folder.glob("*.ipynb")} == RETRAIN_NOTEBOOKS
    assert summary["metrics"]["model"] == "logistic_regression"


def test_a_forced_retrain_with_no_new_rows_keeps_the_champion_and_its_production_lineage(
        busy_template: Path, migrated_airflow: Path, kernel_zygote: dict, tmp_path: Path) -> None:
    """Promote on production rows, force a retrain with none new: nothing is undone, no empty archive.
    Then roll back and force again: no copy registered, the rollback holds."""
    settings = _copy_home(busy_template, tmp_path / "home")
    env = _env(migrated_airflow, tmp_path / "airflow", settings, **kernel_zygote)
    first_champion = _state(settings)["champion"]

    # A margin of 1 promotes whatever the scores: this run is about what the next one keeps.
    promoted = af.dags_test({**env, "MINDPULSE_PROMOTION_MARGIN": "1"}, RETRAIN, {"candidates": ["logistic_regression"]})
    assert promoted.returncode == 0, promoted.stdout[-3000:]
    after_first = _state(settings)
    assert after_first["champion"] != first_champion and after_first["backup"] == first_champion
    assert after_first["snapshots"] == [(1, "archived", 1200)] and len(after_first["archive"]) == 1

    forced = af.dags_test(env, RETRAIN, {"force": True, "candidates": ["logistic_regression"]})
    assert forced.returncode == 0, forced.stdout[-3000:]
    after = _state(settings)
    assert after["champion"] == after_first["champion"] and after["versions"] == after_first["versions"]
    champion = ModelRegistry.from_settings(settings).champion()
    lineage = champion.metadata["lineage"]
    assert [(s["id"], s["rows"]) for s in lineage["snapshots"]] == [(1, 1200)]  # still the production rows
    assert lineage["run"]["dag_id"] == RETRAIN
    assert after["archive"] == after_first["archive"]  # no second, header-only archive
    for path in settings.archive_dir.iterdir():
        assert len(path.read_text().splitlines()) > 1, path
    assert Store.from_settings(settings).stats()["last_archive_rows"] == 1200

    summaries = [runs.read_summary(p) for p in (settings.reports_dir / RETRAIN).iterdir() if p.is_dir()]
    second = next(s for s in summaries if s["trigger"].get("force"))
    assert second["outcome"] == "skipped" and second["same_as"] == after["champion"]
    assert f"the training data and settings are those of {after['champion']} (champion)" in second["gate_reason"]
    assert second["model_before"] == second["model_after"] == after["champion"]

    # Roll back, then force a retrain with no new rows: no copy of the model rolled back away from
    # is registered, and the rollback holds; the summary names that version and says why.
    rolled_back = after["champion"]
    ModelRegistry.from_settings(settings).rollback()
    forced_again = af.dags_test(env, RETRAIN, {"force": True, "candidates": ["logistic_regression"]})
    assert forced_again.returncode == 0, forced_again.stdout[-3000:]
    final = _state(settings)
    assert final["champion"] == first_champion and final["backup"] == rolled_back
    assert final["versions"] == after["versions"] and final["archive"] == after["archive"]
    third = max((runs.read_summary(p) for p in (settings.reports_dir / RETRAIN).iterdir() if p.is_dir()),
                key=lambda summary: summary["created_at"])
    assert third["outcome"] == "skipped" and third["same_as"] == rolled_back and third.get("challenger") is None
    assert f"are those of {rolled_back} (rolled back away from at" in third["gate_reason"]
    assert third["model_before"] == third["model_after"] == first_champion


def test_a_refused_batch_with_flipped_labels_is_named_quarantined_and_the_next_run_promotes(
        busy_template: Path, migrated_airflow: Path, kernel_zygote: dict, tmp_path: Path) -> None:
    """The flipped-labels sequence: refused, the summary points at the batch, quarantined from the CLI,
    and the next run with genuine rows trains without it and is promoted."""
    from cli_support import invoke
    from mindpulse.synthetic import generate

    settings = _copy_home(busy_template, tmp_path / "home")
    env = _env(migrated_airflow, tmp_path / "airflow", settings, **kernel_zygote)
    with Store.from_settings(settings) as store:  # snapshot 1: the demo's 1,200 genuine rows, archived
        store.archive_snapshot(store.claim_snapshot("manual__genuine").id)
        flipped = generate(6000, seed=81, id_start=5_000_000).canonical()
        flipped["depression"] = 1 - flipped["depression"].astype(int)
        store.add_labelled(flipped)  # snapshot 2, once claimed: every label flipped
    champion = _state(settings)["champion"]

    bad = af.dags_test(env, RETRAIN, {"candidates": ["logistic_regression"]})
    assert bad.returncode == 0, bad.stdout[-3000:]
    refused = runs.read_summary(_only_run_folder(settings, RETRAIN))
    assert refused["outcome"] == "refused" and refused["model_after"] == champion
    scores = {s["snapshot_id"]: s for s in refused["snapshot_scores"]}
    assert scores[2]["fits"] is False and scores[2]["rows"] == 6000 and scores[2]["champion_roc_auc"] < 0.3
    assert scores[1]["fits"] is True and scores[1]["rows"] == 1200

    invoke("store", "quarantine", "2", "--reason", "labels flipped", "--by", "ops", home=settings.home, check=True)
    with Store.from_settings(settings) as store:
        store.add_labelled(generate(600, seed=82, id_start=6_000_000).canonical())
    good = af.dags_test(env, RETRAIN, {"force": True, "candidates": ["logistic_regression"]})
    assert good.returncode == 0, good.stdout[-3000:]
    summaries = [runs.read_summary(p) for p in (settings.reports_dir / RETRAIN).iterdir() if p.is_dir()]
    recovered = next(s for s in summaries if s["trigger"].get("force"))
    assert recovered["outcome"] == "promoted", recovered["gate_reason"]
    assert recovered["training_set"]["quarantined_snapshots"] == [2]
    assert [s["id"] for s in recovered["lineage"]["snapshots"]] == [1, 3]
    assert recovered["lineage"]["quarantined"][0]["by"] == "ops"
    assert _state(settings)["champion"] == recovered["challenger"]


def test_a_run_whose_training_fails_fails_keeps_the_champion_releases_the_snapshot_and_notifies(
        quiet_template: Path, migrated_airflow: Path, kernel_zygote: dict, tmp_path: Path) -> None:
    settings = _copy_home(quiet_template, tmp_path / "home")
    with af.WebhookReceiver() as hook:
        env = _env(migrated_airflow, tmp_path / "airflow", settings, MINDPULSE_WEBHOOK_URL=hook.url, **kernel_zygote)
        before = _state(settings)
        af.dags_test(env, RETRAIN, {"force": True, "candidates": ["no_such_model"]})
        assert af.last_run_states(env, RETRAIN)[0] == "failed"

    after = _state(settings)
    assert after["champion"] == before["champion"] and after["versions"] == before["versions"]
    assert after["pending"] == 200 and after["archive"] == []
    assert [state for _, state, _ in after["snapshots"]] == ["released"]
    folder = _only_run_folder(settings, RETRAIN)
    assert runs.notebook_error(folder / "train_and_gate.ipynb").startswith("ValueError: candidate: got 'no_such_model'")
    summary = runs.read_summary(folder)
    assert summary["outcome"] == "failed" and summary["failed_steps"] == ["train_and_gate"]
    assert summary["snapshot"]["released"] is True
    subjects = [m["json"]["subject"] for m in hook.received]
    assert f"{RETRAIN}: step train_and_gate failed" in subjects  # the Airflow failure notifier
    assert f"{RETRAIN}: failed" in subjects  # the notify step's summary
    assert all(m["json"]["level"] == "failure" for m in hook.received)


# --- runs triggered through the REST API of the platform (`mindpulse platform run`) ------------------
def _wait_for_text(log: Path, text: str, process: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        output = log.read_text(errors="replace") if log.is_file() else ""
        if text in output:
            return output
        if process.poll() is not None:
            raise AssertionError(f"platform run exited {process.returncode} before {text!r}:\n{output[-4000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {text!r} after {timeout:.0f} s:\n{output[-4000:]}")
        time.sleep(0.5)


def _http_status(url: str, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.fixture(scope="module")
def platform(busy_template: Path, tmp_path_factory: pytest.TempPathFactory):
    """``mindpulse platform run`` as a user starts it, on a home of its own: a copy of the busy home
    in a temporary folder outside the checkout, holding data only (the DAGs, notebooks and
    dashboard come from the installed project). No JupyterLab, nothing triggered and the schedules
    off (``--no-schedule``): the tests see only the runs they trigger. The DAGs start paused, as new
    DAGs do, until a test asks for ``unpaused``; the last test stops the platform."""
    base = tmp_path_factory.mktemp("platform")
    home = base / "home"
    shutil.copytree(busy_template, home)
    assert REPO not in home.resolve().parents
    assert sorted(p.name for p in home.iterdir()) == ["artifacts", "data"]  # no code in the home
    airflow_port, dashboard_port, api_port = af.free_port(), af.free_port(), af.free_port()
    log = base / "platform.log"
    with af.WebhookReceiver() as hook:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MINDPULSE_", "AIRFLOW"))}
        env.update({"MINDPULSE_HOME": str(home), "MINDPULSE_PIPELINE_RETRIES": "0", "MINDPULSE_WEBHOOK_URL": hook.url,
                    "PYTHONUNBUFFERED": "1"})
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [MINDPULSE, "platform", "run", "--airflow-port", str(airflow_port), "--dashboard-port", str(dashboard_port),
                 "--api-port", str(api_port), "--no-jupyter", "--no-trigger", "--no-schedule", "--parallelism", "2"],
                env=env, cwd=home, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            banner = _wait_for_text(log, "MindPulse is running", process, timeout=400)
            airflow_home = home / ".airflow"
            client = af.AirflowClient(f"http://127.0.0.1:{airflow_port}", af.ADMIN_USER, af.admin_password(airflow_home),
                                      timeout=60)  # a loaded machine answers slowly
            dags = {dag_id: af.wait_for_dag(client, dag_id, timeout=240) for dag_id in (RETRAIN, REPORTING)}
            yield {"client": client, "settings": Settings(home=home), "hook": hook, "process": process, "env": env,
                   "banner": banner, "dags": dags, "airflow_home": airflow_home, "dashboard_port": dashboard_port,
                   "api_port": api_port}
        finally:
            if process.poll() is None:
                stop_process_group(process.pid, first_signal=signal.SIGINT, leader_only=True, grace=60)


@pytest.fixture
def unpaused(platform: dict) -> dict:
    for dag_id in platform["dags"]:
        platform["client"].set_paused(dag_id, False)
    return platform


def _airflow_log_tail(platform: dict) -> str:
    return (platform["airflow_home"] / "logs" / "standalone.log").read_text(errors="replace")[-3000:]


def test_platform_run_serves_airflow_and_the_dashboard_from_the_installed_project(platform: dict) -> None:
    assert f"Dashboard    http://127.0.0.1:{platform['dashboard_port']}" in platform["banner"]
    assert "Schedules    off (--no-schedule)" in platform["banner"]
    assert _http_status(f"http://127.0.0.1:{platform['dashboard_port']}/", timeout=120) == 200
    for dag in platform["dags"].values():
        assert Path(dag["fileloc"]).parent == REPO / "dags"


def test_platform_run_makes_an_admin_and_signs_it_in_to_the_dashboard_and_the_api(platform: dict) -> None:
    """A new home gets a MindPulse admin with a generated password, kept where the banner says, as
    Airflow's standalone does; the dashboard asks for it and the HTTP API gives a token for it."""
    import re

    import httpx

    password_file = platform["airflow_home"] / "mindpulse_passwords.json.generated"
    assert f"user admin, password in {password_file}" in platform["banner"]
    assert f"HTTP API     http://127.0.0.1:{platform['api_port']}/api/v1" in platform["banner"]
    assert password_file.stat().st_mode & 0o077 == 0  # the owner's only
    password = json.loads(password_file.read_text())["admin"]
    api = f"http://127.0.0.1:{platform['api_port']}"
    assert _http_status(f"{api}/healthz", timeout=120) == 200  # the banner comes as the API starts
    token = httpx.post(f"{api}/api/v1/auth/token", json={"username": "admin", "password": password}, timeout=60)
    assert token.status_code == 200, token.text
    me = httpx.get(f"{api}/api/v1/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"}, timeout=60)
    assert me.json()["role"] == "admin"
    with httpx.Client(base_url=f"http://127.0.0.1:{platform['dashboard_port']}", timeout=120) as browser:
        assert browser.get("/app", follow_redirects=False).status_code == 302  # no session: the sign-in page
        form = browser.get("/login")
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form.text).group(1)
        signed = browser.post("/login", data={"username": "admin", "password": password, "_xsrf": xsrf, "next": "/app"},
                              follow_redirects=False)
        assert signed.status_code == 302
        assert browser.get("/app", follow_redirects=False).status_code == 200


def test_the_dashboards_pipelines_page_lists_and_starts_runs_in_the_platforms_airflow(platform: dict) -> None:
    """The Pipelines page on the platform's Airflow, as its dashboard is set up (URL, admin user), while
    the DAGs are still paused: the runs the page starts stay queued, and are deleted afterwards so the
    REST runs below are the only ones."""
    from dashboard.stores import DashboardStore
    from dashboard.views import PipelinesView
    from dashboard_support import click

    client = platform["client"]
    settings = platform["settings"].model_copy(update={
        "airflow_api_url": client.base_url, "airflow_username": client.username, "airflow_password": client.password})
    try:
        view = PipelinesView(store=DashboardStore.from_settings(settings).pipelines)
        click(view.refresh_button)
        assert view.connection.alert_type == "success", view.connection.object
        assert view.tables[RETRAIN].value.empty
        assert RETRAIN in view.paused.object and REPORTING in view.paused.object

        view.force.value = True
        click(view.retrain_button)
        assert "Started run" in view.status.object, view.status.object
        retrain_runs = view.tables[RETRAIN].value
        assert len(retrain_runs) == 1 and json.loads(retrain_runs["conf"].iloc[0]) == {"force": True}
        click(view.reporting_button)
        reporting_runs = view.tables[REPORTING].value
        assert len(reporting_runs) == 1

        # Airflow itself holds the runs the page started.
        assert client.get_run(RETRAIN, retrain_runs["run_id"].iloc[0])["conf"] == {"force": True}
        assert client.list_runs(REPORTING)[0]["dag_run_id"] == reporting_runs["run_id"].iloc[0]

        wrong = settings.model_copy(update={"airflow_password": "not-the-password"})
        refused = PipelinesView(store=DashboardStore.from_settings(wrong).pipelines)
        click(refused.refresh_button)
        assert "refused the request" in refused.connection.object and "MINDPULSE_AIRFLOW_PASSWORD" in refused.connection.object
    finally:
        for dag_id in (RETRAIN, REPORTING):
            for run in client.list_runs(dag_id):
                client.request("DELETE", f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}")


@pytest.mark.usefixtures("unpaused")
def test_a_reporting_run_triggered_through_the_rest_api_writes_all_three_reports(platform: dict) -> None:
    client, settings = platform["client"], platform["settings"]
    run = client.trigger(REPORTING, {})
    assert run["logical_date"] is None  # as from the UI: {{ ds }} would be undefined here
    done = client.wait_for_run(REPORTING, run["dag_run_id"], timeout=600)
    states = af.task_states(client, REPORTING, run["dag_run_id"])
    assert done["state"] == "success", (states, _airflow_log_tail(platform))
    assert states["fail_if_any_step_failed"] == "skipped"
    # A successful run's task logs hold no error lines an operator would have to rule out (kernel
    # shutdown noise, a transport warning).
    assert _error_lines(platform["airflow_home"], REPORTING, run["dag_run_id"]) == []

    folder = runs.run_dir(settings.reports_dir, REPORTING, run["dag_run_id"])
    summary = runs.read_summary(folder)
    assert summary["outcome"] == "reported" and summary["rows"] == 1200
    for kind in ("data_quality", "data_drift", "model_performance"):
        assert (folder / summary["reports"][kind]).is_file(), kind
        assert (folder / f"{kind}_report.ipynb").is_file()


@pytest.mark.usefixtures("unpaused")
def test_a_retrain_triggered_through_the_rest_api_trains_and_promotes(platform: dict) -> None:
    client, settings, hook = platform["client"], platform["settings"], platform["hook"]
    before = _state(settings)
    run = client.trigger(RETRAIN, {})
    done = client.wait_for_run(RETRAIN, run["dag_run_id"], timeout=900)
    states = af.task_states(client, RETRAIN, run["dag_run_id"])
    assert done["state"] == "success", (states, _airflow_log_tail(platform))
    assert [r["dag_run_id"] for r in client.list_runs(RETRAIN)] == [run["dag_run_id"]]
    assert _error_lines(platform["airflow_home"], RETRAIN, run["dag_run_id"]) == []

    folder = runs.run_dir(settings.reports_dir, RETRAIN, run["dag_run_id"])
    summary = runs.read_summary(folder)
    assert summary["outcome"] == "promoted", summary.get("gate_reason")
    assert summary["trigger"]["reasons"][0] == "1200 labelled production rows >= min_rows 1000"
    after = _state(settings)
    assert after["champion"] == summary["model_after"] == summary["challenger"] != before["champion"]
    assert summary["model_before"] == before["champion"] == after["backup"]
    assert after["pending"] == 0 and after["snapshots"] == [(1, "archived", 1200)]
    assert {p.stem for p in folder.glob("*.ipynb")} == RETRAIN_NOTEBOOKS
    assert (folder / summary["reports"]["data_drift"]).is_file()
    promoted = [m["json"] for m in hook.received if m["json"]["subject"] == f"{RETRAIN}: promoted"]
    assert promoted and promoted[0]["payload"]["run_id"] == run["dag_run_id"]


def test_platform_stop_finds_the_platform_through_the_home_and_stops_it(platform: dict) -> None:
    """Last in this file: it stops the module's platform."""
    process, home = platform["process"], platform["settings"].home
    stopped = subprocess.run([MINDPULSE, "platform", "stop"], env=platform["env"], cwd=home, capture_output=True,
                             text=True, timeout=240)  # it may kill what a loaded machine stops slowly
    assert stopped.returncode == 0 and f"(pid {process.pid})" in stopped.stdout, stopped.stdout + stopped.stderr
    process.wait(timeout=30)
    assert not (home / "dags").exists() and not (home / "notebooks").exists()
