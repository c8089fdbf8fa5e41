"""``mindpulse platform``: run the platform on its embedded default (``make run``).

``platform run`` prepares the data (reference, first champion; in a demo home only, synthetic data and
traffic with feedback, added once), starts ``airflow standalone`` with its home in ``<MINDPULSE_HOME>/.airflow``
(SQLite, LocalExecutor, low parallelism, the project's ``dags/`` or ``MINDPULSE_DAGS_DIR`` as
the DAG folder; any folder, even an empty one, can be the home), unpauses and triggers
both DAGs through the REST API, starts the Panel dashboard and JupyterLab, prints where to
look, and stays in the foreground: Ctrl-C, or ``platform stop`` from another shell, stops
everything it started.

The home is prepared by :mod:`mindpulse.platform.home`, the programs are described in
:mod:`mindpulse.platform.components` and started, watched and stopped by
:mod:`mindpulse.platform.supervisor`; this module is the command line and the start-up sequence.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import signal
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import typer

from mindpulse.commands import fail
from mindpulse.commands.store import migrate_store
from mindpulse.platform import components, home as platform_home
from mindpulse.platform.components import ADMIN_USER, AIRFLOW_DIR, PASSWORD_FILE
from mindpulse.platform.home import MINDPULSE_ADMIN, MINDPULSE_PASSWORD_FILE
from mindpulse.platform.supervisor import (
    Service,
    accept_interrupts,
    check_free_space,
    disk_full,
    free_bytes,
    pid_alive,
    port_in_use,
    stop_process_group,
    supervise,
)

STATE_FILE = "platform.json"

DEMO_HELP = ("Demo data (synthetic reference, simulated traffic with feedback, added once): --demo makes an empty home "
             "a demo home; --no-demo adds none. Default: a home that is empty becomes a demo home, one marked as such "
             "stays one, any other home gets no demo data.")


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Run MindPulse on its embedded default (used by 'make run').", no_args_is_help=True)
    group.command("prepare")(prepare)
    group.command("run")(run)
    group.command("stop")(stop)
    app.add_typer(group, name="platform")


def prepare(
    seed: int = typer.Option(None, help="Seed for the synthetic reference data (default MINDPULSE_SEED)."),
    demo: Optional[bool] = typer.Option(None, "--demo/--no-demo", help=DEMO_HELP),
) -> None:
    """Make sure reference data exists (synthetic only in a demo home) and say what was done."""
    from mindpulse.settings import get_settings

    settings = get_settings()
    migrate_store()  # a deploy step, as in 'platform run'
    platform_home.prepare_reference(settings, settings.seed if seed is None else seed, demo, by="platform prepare")


def run(
    airflow_port: int = typer.Option(None, help="Port of the Airflow UI and API (default: the port of MINDPULSE_AIRFLOW_API_URL, 8080)."),
    dashboard_port: int = typer.Option(5006, help="Port of the Panel dashboard."),
    api_port: int = typer.Option(8000, help="Port of the HTTP API (mindpulse api)."),
    jupyter_port: int = typer.Option(8888, help="Port of JupyterLab."),
    parallelism: int = typer.Option(4, min=1, help="Airflow tasks run at once (each notebook task is a kernel)."),
    jupyter: bool = typer.Option(True, "--jupyter/--no-jupyter", help="Start JupyterLab on notebooks/."),
    dashboard: bool = typer.Option(True, "--dashboard/--no-dashboard", help="Start the dashboard (when dashboard/app.py exists)."),
    api: bool = typer.Option(True, "--api/--no-api", help="Start the HTTP API (docs at /api/docs)."),
    trigger: bool = typer.Option(True, "--trigger/--no-trigger", help="Unpause and trigger both DAGs once Airflow is up."),
    schedule: bool = typer.Option(True, "--schedule/--no-schedule",
                                  help="Let the scheduler create the DAGs' scheduled runs (the daily retrain, the six-hourly "
                                       "reports, and the latest one of each when a DAG is unpaused); with --no-schedule "
                                       "they run only when triggered (UI, dashboard, REST API)."),
    seed: int = typer.Option(None, help="Seed of the synthetic data and the first champion (default MINDPULSE_SEED)."),
    demo: Optional[bool] = typer.Option(None, "--demo/--no-demo", help=DEMO_HELP),
) -> None:
    """Prepare data, start Airflow, the dashboard and JupyterLab, trigger both DAGs; Ctrl-C stops it all."""
    from urllib.parse import urlparse

    from mindpulse.settings import get_settings

    settings = get_settings()
    home = settings.home
    airflow_home = home / AIRFLOW_DIR
    logs = airflow_home / "logs"
    airflow_port = airflow_port or urlparse(settings.airflow_api_url).port or 8080
    ports = {"airflow-port": airflow_port, "dashboard-port": dashboard_port if dashboard else None,
             "api-port": api_port if api else None, "jupyter-port": jupyter_port if jupyter else None}
    dags_dir, notebooks_dir = _refuse_to_start(settings, airflow_home, ports)

    # The start-up sequence: the home first, then the programs, each started once the one it needs is up.
    check_free_space(home)
    migrate_store()  # the deploy step: opening the store never migrates
    platform_home.prepare_data(settings, seed, demo)
    admin_created = platform_home.ensure_admin(settings, airflow_home)

    env = components.airflow_environment(home, airflow_home, port=airflow_port, parallelism=parallelism,
                                         dags_dir=dags_dir, notebooks_dir=notebooks_dir, scheduled=schedule)
    airflow_url = f"http://127.0.0.1:{airflow_port}"
    services: list[Service] = []
    accept_interrupts()
    try:
        airflow = components.airflow_service(env, home, logs).start()
        services.append(airflow)
        _write_state(airflow_home, services, {})
        typer.echo(f"Starting Airflow standalone at {airflow_url} (about 20-40 s; log {airflow.log}) ...")
        from mindpulse.airflow_client import AirflowClient

        probe = AirflowClient(airflow_url)
        _wait_for("Airflow's health check", probe.is_healthy, timeout=300, services=services)
        password_file = airflow_home / PASSWORD_FILE
        password = json.loads(password_file.read_text()).get(ADMIN_USER) if password_file.is_file() else None
        client = AirflowClient(airflow_url, ADMIN_USER, password)
        triggered = _trigger_dags(client, services) if trigger else {}

        app_env = {**env, "MINDPULSE_AIRFLOW_API_URL": airflow_url, "MINDPULSE_AIRFLOW_USERNAME": ADMIN_USER,
                   "MINDPULSE_AIRFLOW_PASSWORD": password or ""}
        urls = {"airflow": airflow_url}
        app = settings.dashboard_app
        if dashboard and app.is_file():
            services.append(components.dashboard_service(settings, app, app_env, dashboard_port, logs).start())
            urls["dashboard"] = f"http://127.0.0.1:{dashboard_port}"
        elif dashboard:
            typer.echo(f"No dashboard: {app} does not exist.")
        if api:
            services.append(components.api_service(app_env, home, api_port, logs).start())
            urls["api"] = f"http://127.0.0.1:{api_port}"
        if jupyter:
            token = secrets.token_urlsafe(24)
            services.append(components.jupyterlab_service(app_env, home, jupyter_port, settings.notebooks_dir, token,
                                                          logs).start())
            urls["jupyterlab"] = f"http://127.0.0.1:{jupyter_port}/lab?token={token}"
        _write_state(airflow_home, services, urls)
        _print_banner(settings, airflow_home, urls, triggered, scheduled=schedule, admin_created=admin_created)
        supervise(services, home)
    except KeyboardInterrupt:
        typer.echo("\nStopping MindPulse ...")
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        fail(f"{exc.filename or home}: no space left on the device: {disk_full(home, free_bytes(home) or 0)}", code=1)
    finally:
        for service in reversed(services):
            service.stop()
        (airflow_home / STATE_FILE).unlink(missing_ok=True)
        if services:
            typer.echo("Stopped: " + ", ".join(s.name for s in services) + ".")


def _refuse_to_start(settings: Any, airflow_home: Path, ports: dict[str, int | None]) -> tuple[Path, Path]:
    """The code's folders, once nothing stands in the way: one line (and exit) naming what does otherwise."""
    try:
        dags_dir, notebooks_dir = settings.require_code_folder("dags_dir"), settings.require_code_folder("notebooks_dir")
    except FileNotFoundError as exc:
        fail(str(exc))
    state = _read_state(airflow_home)
    if state and pid_alive(int(state.get("pid", 0))):
        fail(f"MindPulse is already running (pid {state['pid']}, since {state.get('started_at')}); "
             "stop it with 'mindpulse platform stop'")
    for option, port in ports.items():
        if port is not None and port_in_use(port):
            fail(f"--{option}: port {port} is in use on 127.0.0.1; stop what uses it or choose another port")
    return dags_dir, notebooks_dir


def _wait_for(what: str, check: Any, *, timeout: float, services: list[Service]) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        for service in services:
            if not service.running():
                fail(f"{service.name} stopped while waiting for {what}; see {service.log}")
        if time.monotonic() > deadline:
            fail(f"{what}: not ready after {timeout:.0f} s; see the logs in {services[0].log.parent}")
        time.sleep(1)


def _trigger_dags(client: Any, services: list[Service]) -> dict[str, str]:
    from mindpulse.airflow_client import AirflowApiError
    from mindpulse.dag_ids import DAG_IDS

    triggered = {}
    for dag_id in DAG_IDS:
        def parsed(dag_id: str = dag_id) -> bool:
            try:
                client.get_dag(dag_id)
            except AirflowApiError as exc:
                if exc.status_code == 404:
                    return False
                raise
            return True

        _wait_for(f"the DAG {dag_id} to be parsed", parsed, timeout=180, services=services)
        client.set_paused(dag_id, False)
        triggered[dag_id] = client.trigger(dag_id, {}, note="triggered by 'mindpulse platform run'")["dag_run_id"]
    return triggered


# --- the state file: which 'platform run' runs in this home, and its programs ---------------------
def _read_state(airflow_home: Path) -> dict[str, Any] | None:
    path = airflow_home / STATE_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_state(airflow_home: Path, services: list[Service], urls: dict[str, str]) -> None:
    from mindpulse.io import atomic_write_json

    atomic_write_json(airflow_home / STATE_FILE, {
        "pid": os.getpid(), "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "services": {s.name: s.describe() for s in services}, "urls": urls,
    })


def _print_banner(settings: Any, airflow_home: Path, urls: dict[str, str], triggered: dict[str, str], *,
                  scheduled: bool = True, admin_created: bool = False) -> None:
    lines = [
        "",
        "MindPulse is running (a screening aid, never a diagnosis).",
        f"  Airflow UI   {urls['airflow']}   user {ADMIN_USER}, password in {airflow_home / PASSWORD_FILE}",
    ]
    password_file = airflow_home / MINDPULSE_PASSWORD_FILE
    account = (f"user {MINDPULSE_ADMIN}, password in {password_file}" if password_file.is_file()
               else "accounts: 'mindpulse users'")
    if admin_created:
        account += " (new)"
    if "dashboard" in urls:
        lines.append(f"  Dashboard    {urls['dashboard']}   {account}")
    if "api" in urls:
        lines.append(f"  HTTP API     {urls['api']}/api/v1   docs {urls['api']}/api/docs   (tokens: 'mindpulse tokens create')")
    if "jupyterlab" in urls:
        lines.append(f"  JupyterLab   {urls['jupyterlab']}")
    lines += [
        f"  Reports      {settings.reports_dir}/<dag_id>/<run id>/  (executed notebooks, Evidently HTML, run_summary.json)",
        f"  Logs         {airflow_home / 'logs'}",
    ]
    for dag_id, run_id in triggered.items():
        lines.append(f"  Triggered    {dag_id}: {run_id}")
    if not scheduled:
        lines.append("  Schedules    off (--no-schedule): the DAGs run only when triggered")
    lines += ["Ctrl-C here, or 'mindpulse platform stop' in another shell, stops everything.", ""]
    typer.echo("\n".join(lines))


def stop(timeout: float = typer.Option(90, help="Seconds to wait for a clean stop before killing what is left.")) -> None:
    """Stop a running 'mindpulse platform run' (Airflow, dashboard, JupyterLab) from another shell."""
    from mindpulse.settings import get_settings

    airflow_home = get_settings().home / AIRFLOW_DIR
    state = _read_state(airflow_home)
    if not state or not pid_alive(int(state.get("pid", 0))):
        (airflow_home / STATE_FILE).unlink(missing_ok=True)
        typer.echo("MindPulse is not running.")
        return
    pid = int(state["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    if pid_alive(pid):
        for service in state.get("services", {}).values():
            if service.get("pid"):
                stop_process_group(int(service["pid"]), first_signal=signal.SIGKILL, grace=5)
        os.kill(pid, signal.SIGKILL)
        (airflow_home / STATE_FILE).unlink(missing_ok=True)
        typer.echo(f"MindPulse (pid {pid}) did not stop within {timeout:.0f} s: killed it and its services.")
        return
    typer.echo(f"MindPulse (pid {pid}) stopped.")
