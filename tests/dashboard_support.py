"""Test support for the dashboard: a prepared MindPulse home, a real ``panel serve``, Chromium.

Used by the dashboard tests (their fixtures are in tests/fixtures/dashboard.py) and
benchmarks/bench_dashboard.py. The prepared home is real: reference data from the generator,
two trained model versions (a champion and its backup), a migrated SQLite store and report
runs made by the monitoring module; it is built once per test run and copied for each user.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


from mindpulse.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_PATH = "/usr/bin/chromium"
# STACK.md trap 16: the system Chromium, headless, with nothing that reaches the network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_launch_args(base: dict | None = None) -> dict:
    """Launch options for pytest-playwright / playwright: the system Chromium, headless."""
    return {**(base or {}), "executable_path": CHROMIUM_PATH, "headless": True, "args": list(CHROMIUM_ARGS)}


# --- a prepared MindPulse home -----------------------------------------------------------------

REFERENCE_ROWS = 1_500
PRODUCTION_ROWS = 600
SEED = 7


@dataclass(frozen=True)
class PreparedHome:
    """What a prepared home holds, for assertions."""

    settings: Settings
    champion: str
    backup: str
    refused: str
    report_runs: tuple[str, ...]  # run folders, oldest first


REPORTING_DAG = "evidently_reporting_pipeline"
#: One candidate and three folds keep training to seconds; the dashboard does not care which model.
TRAIN_OPTIONS = {"candidates": ("logistic_regression",), "folds": 3}


def click(button) -> None:
    """What a click does in the browser: one more click event, its handlers run to the end.

    The click runs in a fresh thread: there Panel runs an async handler to completion on a new
    event loop, even when pytest-playwright's sync API holds a running loop in the main thread
    (the browser tests may run first in the same session).
    """
    errors: list[BaseException] = []

    def press() -> None:
        try:
            button.clicks += 1
        except BaseException as error:  # re-raised in the test's thread
            errors.append(error)

    worker = threading.Thread(target=press)
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive(), f"the {button.label!r} click did not finish"
    if errors:
        raise errors[0]


def home_settings(home: Path) -> Settings:
    """Settings for ``home`` with every folder and the database inside it, whatever the environment says."""
    return Settings(home=home, data_dir=None, artifacts_dir=None, reports_dir=None, notebooks_dir=None,
                    database_url=None)


def prepare_home(home: Path, *, seed: int = SEED) -> PreparedHome:
    """Reference data, three model versions (backup, champion, one refused by the gate), a
    migrated empty store, and two report runs with Evidently reports and an executed notebook."""
    from mindpulse import monitoring, runs
    from mindpulse.data import generate_reference, load_reference
    from mindpulse.predict import Predictor
    from mindpulse.registry import ModelRegistry
    from mindpulse.store import migrate_store
    from mindpulse.synthetic import generate
    from mindpulse.train import train_register_and_judge

    settings = home_settings(home)
    generate_reference(settings, rows=REFERENCE_ROWS, seed=seed)
    reference = load_reference(settings)
    registry = ModelRegistry.from_settings(settings)
    first = train_register_and_judge(reference, registry, seed=seed, margin=settings.promotion_margin,
                           data_source="reference data (first champion)", **TRAIN_OPTIONS)
    # A margin of 1 passes any challenger: the second version becomes champion, the first its backup.
    second = train_register_and_judge(reference.sample(frac=0.9, random_state=seed), registry, seed=seed + 1, margin=1.0,
                            data_source="reference + feedback", **TRAIN_OPTIONS)
    # Shuffled labels make a model no better than chance: the gate refuses it and says why.
    shuffled = reference.assign(depression=reference["depression"].sample(frac=1.0, random_state=seed).to_numpy())
    refused = train_register_and_judge(shuffled, registry, seed=seed + 2, margin=settings.promotion_margin,
                             data_source="shuffled labels (demonstrates a refusal)", **TRAIN_OPTIONS)
    assert first.promoted and second.promoted and not refused.promoted, (first, second, refused)
    migrate_store(settings)  # the deploy step

    predictor = Predictor.load(registry)
    report_runs = []
    for day, (scenario, created_at) in enumerate([("none", "2026-11-20T06:00:00+00:00"),
                                                  ("exam_season", "2026-11-25T06:00:00+00:00")]):
        run_id = f"scheduled__{created_at}"
        folder = runs.run_dir(settings.reports_dir, REPORTING_DAG, run_id)
        current = predictor.predict_frame(generate(PRODUCTION_ROWS, seed=seed + 10 + day, scenario=scenario).canonical())
        drift = monitoring.data_drift_report(reference, current, folder / "data_drift", settings=settings)
        performance = monitoring.model_performance_report(current, folder / "model_performance", settings=settings)
        if day == 1:  # the newest run has all three reports
            monitoring.data_quality_report(reference, current, folder / "data_quality", settings=settings)
        write_executed_notebook(runs.notebook_path(folder, "data_drift_report"), drift.summary)
        runs.write_summary(folder, {
            "dag_id": REPORTING_DAG, "run_id": run_id, "run_dir": str(folder), "created_at": created_at,
            "outcome": "reported", "rows": len(current), "drift_share": drift.summary.get("share"),
            "drift_status": drift.summary.get("status"),
            "metrics": {"model_performance": {"accuracy": performance.summary.get("accuracy")}},
        })
        report_runs.append(str(folder))
    return PreparedHome(settings, champion=second.version, backup=first.version, refused=refused.version,
                        report_runs=tuple(report_runs))


def write_executed_notebook(path: Path, figures: dict) -> Path:
    """A small notebook with outputs, as papermill leaves one in a run folder."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Data drift\nProduction rows against the reference data."),
        nbformat.v4.new_code_cell("decision", execution_count=1, outputs=[nbformat.v4.new_output(
            "execute_result", {"text/plain": json.dumps({k: figures.get(k) for k in ("status", "share", "reason")})},
            execution_count=1)]),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(path))
    return path


def copy_home(prepared: PreparedHome, target: Path) -> PreparedHome:
    """A private copy of a prepared home in ``target`` (tests that change it do not disturb each other)."""
    shutil.copytree(prepared.settings.home, target, dirs_exist_ok=True)
    return moved_home(prepared, target)


def moved_home(prepared: PreparedHome, target: Path) -> PreparedHome:
    """What ``prepared`` holds, for its copy in ``target``."""
    source = str(prepared.settings.home)
    runs = tuple(run.replace(source, str(target), 1) for run in prepared.report_runs)
    return dataclasses.replace(prepared, settings=home_settings(target), report_runs=runs)


# --- accounts and signed-in sessions ----------------------------------------------------------

#: Signs the sessions of the test dashboards (PANEL_COOKIE_SECRET), so a test can sign a session itself.
TEST_COOKIE_SECRET = "mindpulse-dashboard-tests-" + "s" * 32
PASSWORD = "dashboard test password"
#: One account per role in every home the tests serve (username = role).
ACCOUNTS = ("viewer", "counsellor", "admin")


def ensure_prepared(home: Path) -> None:
    """``home`` prepared by :func:`prepare_home` unless it already holds reference data (the scripts'
    ``--home``, reused between runs)."""
    if not (home / "data" / "reference.csv").is_file():
        started = time.perf_counter()
        prepare_home(home)
        print(f"prepared a demo home in {time.perf_counter() - started:.1f} s: {home}")


def ensure_accounts(home: Path) -> None:
    """One account per role (password :data:`PASSWORD`) in ``home``'s store, unless there already
    (the store migrated first, as a deployment does before it serves the dashboard)."""
    from mindpulse.accounts import Accounts
    from mindpulse.store import Store
    from shared_support import migrated

    with Store.from_settings(migrated(home_settings(home))) as store:
        accounts = Accounts(store)
        existing = {a.username for a in accounts.list()}
        for role in ACCOUNTS:
            if role not in existing:
                accounts.add(role, role, PASSWORD)
        # The browser contexts hold sessions signed when the test run began: a password set after
        # a session signed in would end it (dashboard.auth), so these count as set long before.
        from datetime import datetime, timezone

        from mindpulse.store.schema import accounts as accounts_table

        with store.write_transaction() as connection:
            connection.execute(accounts_table.update().where(accounts_table.c.username.in_(ACCOUNTS))
                               .values(password_changed_at=datetime(2000, 1, 1, tzinfo=timezone.utc)))


def session_cookie(username: str = "admin") -> dict[str, str]:
    """The cookie of a session signed in as ``username`` on a test dashboard (as /login would set it)."""
    import tornado.web

    from dashboard.auth import COOKIE, session_value

    return {COOKIE: tornado.web.create_signed_value(TEST_COOKIE_SECRET, COOKIE, session_value(username)).decode()}


def signed_in_context_args(base: dict | None = None, username: str = "admin") -> dict:
    """Playwright context options whose pages are signed in as ``username`` on any test dashboard."""
    cookies = [{"name": name, "value": value, "domain": "127.0.0.1", "path": "/", "expires": -1, "httpOnly": True,
                "secure": False, "sameSite": "Strict"} for name, value in session_cookie(username).items()]
    return {**(base or {}), "storage_state": {"cookies": cookies, "origins": []}}


# --- pages in the browser -----------------------------------------------------------------------

def wait_until_idle(page) -> None:  # noqa: ANN001 - a playwright Page
    """Wait until Bokeh has rendered every root of the page's document: a click on a button drawn
    before that can be lost (seen at load ~4: Predict pressed, nothing reached the server)."""
    page.wait_for_function("() => { const docs = window.Bokeh && window.Bokeh.documents;"
                           " return Boolean(docs && docs.length && docs.every((doc) => doc.is_idle)); }")


def open_page(page, name: str) -> None:  # noqa: ANN001 - a playwright Page
    """Switch to a page of the dashboard. Its tabs are dynamic: a page is built when it is opened, and
    a click on a widget drawn before Bokeh has rendered it can be lost, as on the first load."""
    page.locator(".bk-tab", has_text=name).click()
    wait_until_idle(page)


# --- a real dashboard server -------------------------------------------------------------------

def dashboard_env(home: Path, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a dashboard subprocess: this home and nothing else of MINDPULSE_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINDPULSE_")}
    env["MINDPULSE_HOME"] = str(home)
    env["MINDPULSE_AIRFLOW_API_URL"] = "http://127.0.0.1:9"  # discard port: nothing answers
    env["PANEL_COOKIE_SECRET"] = TEST_COOKIE_SECRET
    env.update(overrides or {})
    return env


@dataclass
class DashboardServer:
    """A running ``python -m dashboard`` subprocess."""

    process: subprocess.Popen
    url: str  # the app's page, e.g. http://127.0.0.1:41234/app
    log: list[str]

    @property
    def root(self) -> str:
        return self.url.rsplit("/", 1)[0]


@contextmanager
def serve_dashboard(home: Path, *, timeout: float = 90.0, extra: tuple[str, ...] = (),
                    env: dict[str, str] | None = None) -> Iterator[DashboardServer]:
    """Start the dashboard on a free port (bound to 127.0.0.1) for ``home``, with one account per role
    (:func:`ensure_accounts`); stop it afterwards."""
    ensure_accounts(home)
    command = [sys.executable, "-m", "dashboard", "--port", "0"]
    if extra:
        command += ["--", *extra]
    process = subprocess.Popen(command, cwd=home, env=dashboard_env(home, env), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, bufsize=1)
    log: list[str] = []
    found = threading.Event()
    url: list[str] = []

    def drain() -> None:  # keep reading so the server never blocks on a full pipe
        for line in process.stdout:  # type: ignore[union-attr]
            log.append(line.rstrip())
            match = re.search(r"Bokeh app running at: (http://\S+)", line)
            if match and not url:
                url.append(match.group(1))
                found.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        while not found.wait(0.2):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the dashboard did not start:\n" + "\n".join(log[-40:]))
        yield DashboardServer(process, url[0], log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        reader.join(timeout=5)
