"""``mindpulse platform``: run the platform on its embedded default (``make run``).

``platform run`` prepares the data (reference, first champion; in a demo home only, synthetic data and
traffic with feedback, added once), starts ``airflow standalone`` with its home in ``<MINDPULSE_HOME>/.airflow``
(SQLite, LocalExecutor, low parallelism, the project's ``dags/`` or ``MINDPULSE_DAGS_DIR`` as
the DAG folder; any folder, even an empty one, can be the home), unpauses and triggers
both DAGs through the REST API, starts the Panel dashboard and JupyterLab, prints where to
look, and stays in the foreground: Ctrl-C, or ``platform stop`` from another shell, stops
everything it started.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Iterator
from typing import Any, Optional

import typer

from mindpulse.commands import fail

AIRFLOW_DIR = ".airflow"
STATE_FILE = "platform.json"
ADMIN_USER = "admin"
PASSWORD_FILE = "simple_auth_manager_passwords.json.generated"
#: The MindPulse admin made for a new home (dashboard and HTTP API), as Airflow's standalone makes its own.
MINDPULSE_PASSWORD_FILE = "mindpulse_passwords.json.generated"
MINDPULSE_ADMIN = "admin"
#: Signs the dashboard's sessions (kept in DATA_DIR, as ``python -m dashboard`` keeps it).
SESSION_SECRET_FILE = ".dashboard-session-secret"



#: What JupyterLab's file browser leaves out: Jupyter Server's defaults plus the notebook tests'
#: pytest configuration (``notebooks/conftest.py`` is for nbval, not a notebook to open).
JUPYTER_HIDE_GLOBS = ("__pycache__", "*.pyc", "*.pyo", ".DS_Store", "*~", "conftest.py")


#: The ``jupyter lab`` option that starts its kernels on IPC (:mod:`mindpulse.jupyter_kernels`).
JUPYTERLAB_KERNEL_FLAG = "--MappingKernelManager.kernel_manager_class=mindpulse.jupyter_kernels.IPCServerKernelManager"


def jupyter_hide_flags() -> list[str]:
    """``jupyter lab`` options that hide :data:`JUPYTER_HIDE_GLOBS` from its file browser."""
    return [f"--ContentsManager.hide_globs={pattern}" for pattern in JUPYTER_HIDE_GLOBS]


def jupyterlab_command(port: int, notebooks_dir: Path, token: str) -> list[str]:
    """The ``jupyter lab`` command the platform runs: loopback only, on ``notebooks_dir``."""
    return [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0", f"--ServerApp.root_dir={notebooks_dir}",
            f"--IdentityProvider.token={token}",
            *jupyter_hide_flags(),
            JUPYTERLAB_KERNEL_FLAG,  # kernels on IPC: no port to race for (mindpulse.jupyter_kernels)
            # JupyterLab refuses root unless told; containers often run as root.
            *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])]

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
    from mindpulse.commands.store import migrate_store
    migrate_store()  # a deploy step, as in 'platform run'
    _prepare_reference(settings, settings.seed if seed is None else seed, demo, by="platform prepare")


def _prepare_reference(settings: Any, seed: int, demo: bool | None, *, by: str) -> Any:
    """Reference data for the run: synthetic in a demo home (which it records), else the user's, which must be there.

    Returns the demo decision; a home that cannot run ends the command with one line.
    """
    from mindpulse.pipeline import demo as demo_home

    try:
        decision = demo_home.decide_demo(settings, demo)
        if decision.demo:
            demo_home.mark_demo_home(settings, seed=seed, by=by)
            typer.echo(f"Demo home ({decision.reason}): {demo_home.demo_marker_path(settings)}")
            typer.echo(demo_home.generate_demo_reference(settings, seed=seed))
        else:
            demo_home.require_reference(settings)
            typer.echo(f"Reference data: {settings.reference_path} (kept)")
    except demo_home.DemoRefused as exc:
        fail(str(exc))
    return decision


# --- processes --------------------------------------------------------------------------------------
def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _group_processes(pgid: int) -> Iterator[Any]:
    """The processes of group ``pgid`` (``psutil.Process``; one may end while the caller looks at it)."""
    import psutil

    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid:
                yield process
        except (ProcessLookupError, psutil.Error):
            continue


def group_alive(pgid: int) -> bool:
    """True while a process of group ``pgid`` runs (zombies waiting to be reaped do not count)."""
    import psutil

    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    for process in _group_processes(pgid):
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                return True
        except psutil.Error:
            continue
    return False


def stop_process_group(pgid: int, *, first_signal: int = signal.SIGTERM, leader_only: bool = False,
                       grace: float = 30.0, airflow_standalone: bool = False) -> None:
    """Signal a process group (or only its leader), wait up to ``grace`` seconds, then SIGTERM and SIGKILL what is left.

    ``airflow standalone`` wants Ctrl-C on its own process only (``SIGINT``, ``leader_only``):
    it then stops its components in order within seconds, while a SIGINT to all of them at
    once leaves them waiting for each other. With ``airflow_standalone``, a triggerer stalled
    after its trigger runner has exited is ended meanwhile (:func:`end_stalled_triggerers`).
    """
    steps = ((first_signal, leader_only, grace), (signal.SIGTERM, False, 10.0), (signal.SIGKILL, False, 10.0))
    for sig, leader, wait in steps:
        try:
            os.kill(pgid, sig) if leader else os.killpg(pgid, sig)
        except ProcessLookupError:
            if not group_alive(pgid):
                return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not group_alive(pgid):
                return
            if airflow_standalone:
                end_stalled_triggerers(pgid)
            time.sleep(0.2)


def end_stalled_triggerers(pgid: int) -> list[int]:
    """End the Airflow triggerers of group ``pgid`` whose trigger runner has exited; return their pids.

    A stopped triggerer tells its trigger runner (a child process) to exit, then waits for it by
    polling the runner's sockets. The runner closes them just before it exits; when the poll
    sees the close before the exit, it has nothing left to watch and sleeps out its whole 10 s
    escalation delay before it looks again (about one stop in two on a 2-core machine), and
    ``airflow standalone`` waits for it. Once the runner has exited (a child not reaped yet) the
    triggerer has no trigger left to clean up, only its own exit to log: it is ended here, with
    the rest of its children (its log server), so the stop goes on. Only called while stopping.
    """
    import psutil

    ended = []
    for process in _group_processes(pgid):
        try:
            if process.cmdline()[-1:] != ["triggerer"]:
                continue
            children = process.children()
            if not any(child.status() == psutil.STATUS_ZOMBIE for child in children):
                continue  # still cleaning up (or a runner itself: it has the same command line)
            for member in (process, *children):
                member.kill()
            ended.append(process.pid)
        except psutil.Error:
            continue
    return ended


class Service:
    """One program of the platform, in its own process group, its output in a log file."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], cwd: Path, log: Path,
                 stop_signal: int = signal.SIGTERM, signal_leader_only: bool = False, stop_grace: float = 20.0,
                 airflow_standalone: bool = False):
        self.name, self.argv, self.env, self.cwd, self.log = name, argv, env, cwd, log
        self.stop_signal, self.signal_leader_only, self.stop_grace = stop_signal, signal_leader_only, stop_grace
        self.airflow_standalone = airflow_standalone
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "Service":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None:
            return
        # A running task gets the grace period to finish; Airflow marks it failed (and retries it) otherwise.
        stop_process_group(self.process.pid, first_signal=self.stop_signal, leader_only=self.signal_leader_only,
                           grace=self.stop_grace, airflow_standalone=self.airflow_standalone)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def describe(self) -> dict[str, Any]:
        return {"pid": self.pid, "log": str(self.log)}


# --- supervision --------------------------------------------------------------------------------
#: The components ``airflow standalone`` runs, each a child process whose command ends with its name.
AIRFLOW_COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server")
#: Free space the home's disk must keep (Airflow's logs, executed notebooks, Evidently reports, models).
MIN_FREE_BYTES = 256 * 2**20
LOG_TAIL_LINES = 15
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def check_free_space(home: Path, *, minimum: int = MIN_FREE_BYTES) -> None:
    """Refuse to start (one line naming the folder) when the disk holding ``home`` is nearly full."""
    free = _free_bytes(home)
    if free is not None and free < minimum:
        fail(_disk_full(home, free))


def _free_bytes(home: Path) -> int | None:
    import shutil

    try:
        return shutil.disk_usage(home).free
    except OSError:
        return None


def _disk_full(home: Path, free: int) -> str:
    return (f"the disk holding {home} is full ({free / 2**20:.0f} MB free, the platform needs {MIN_FREE_BYTES / 2**20:.0f} MB "
            "for Airflow's logs, reports and models): free space there, then start it again")


def airflow_components(leader: int) -> dict[str, Any]:
    """The running components of the ``airflow standalone`` whose pid is ``leader`` (name -> ``psutil.Process``)."""
    import psutil

    found = {}
    try:
        children = psutil.Process(leader).children()
    except psutil.Error:
        return found
    for child in children:
        try:
            name = _component(child.cmdline())
            if name and child.status() != psutil.STATUS_ZOMBIE:
                found[name] = child
        except psutil.Error:
            continue
    return found


def _component(cmdline: list[str]) -> str | None:
    """``airflow <component>``, or the title a component gives itself (``airflow api_server -- host:...``)."""
    if cmdline[-1:] and cmdline[-1] in AIRFLOW_COMPONENTS:
        return cmdline[-1]
    title = " ".join(cmdline)
    return next((name for name in AIRFLOW_COMPONENTS if title.startswith(f"airflow {name.replace('-', '_')} ")), None)


def log_tail(log: Path, component: str | None = None, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last lines of ``log``; with ``component``, those ``airflow standalone`` prefixed with its name."""
    try:
        with open(log, "rb") as fh:
            fh.seek(max(0, fh.seek(0, 2) - 512 * 1024))
            text = fh.read().decode(errors="replace")
    except OSError:
        return []
    found = [_ANSI.sub("", line).rstrip() for line in text.splitlines()]
    if component is not None:
        found = [line.split("|", 1)[1].strip() for line in found if line.split("|", 1)[0].strip() == component and "|" in line]
    return found[-lines:]


def _is_alive(process: Any) -> bool:
    import psutil

    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def supervise(services: list["Service"], home: Path, *, interval: float = 2.0, startup_grace: float = 30.0) -> None:
    """Watch every program of the platform until one dies; then say which, why, and exit non-zero.

    Watched: the services started here (``airflow standalone``, the dashboard, JupyterLab) and
    the Airflow components standalone runs (scheduler, dag-processor, triggerer, API server),
    found among its children (one not seen within ``startup_grace`` seconds died before it could
    be). standalone itself goes on when one of its components dies (seen:
    the scheduler and the DAG processor killed by a full disk while the API server answered, and
    runs read "running" for 23 minutes). A dead component is not restarted: what killed it (a
    full disk, a bug, the machine's memory) is still there, and a platform that restarts it in a
    loop hides that. The platform stops, and the caller's ``finally`` stops the rest; starting it
    again recovers the runs (Airflow's scheduler fails the task attempts it finds orphaned and
    retries them).
    """
    airflow = next(s for s in services if s.airflow_standalone)
    components: dict[str, Any] = {}
    started = time.monotonic()
    while True:
        for name, process in airflow_components(airflow.pid).items():
            components.setdefault(name, process)
        dead = [(name, process.pid, airflow.log, name) for name, process in components.items() if not _is_alive(process)]
        if time.monotonic() - started > startup_grace:  # one that died before it was first seen
            dead += [(name, None, airflow.log, name) for name in AIRFLOW_COMPONENTS if name not in components]
        dead += [(s.name, s.pid, s.log, None) for s in services if not s.running()]
        if dead:
            name, pid, log, component = dead[0]
            what = f"Airflow's {name}" if component else name
            tail = log_tail(log, component)
            typer.echo(f"{what} ({f'pid {pid}' if pid else 'never seen running'}) died. "
                       f"The last lines of its output ({log}):", err=True)
            for line in tail or ["(nothing)"]:
                typer.echo(f"  {line}", err=True)
            free = _free_bytes(home)
            if (free is not None and free < MIN_FREE_BYTES) or any("No space left on device" in line or "Errno 28" in line
                                                                    for line in tail):
                fail(f"{what} died: {_disk_full(home, free if free is not None else 0)}", code=1)
            fail(f"{what} died{f' (pid {pid})' if pid else ''}; MindPulse stops. See {log}", code=1)
        time.sleep(interval)


# --- the embedded Airflow -----------------------------------------------------------------------
def airflow_environment(home: Path, airflow_home: Path, *, port: int, parallelism: int, dags_dir: Path | None = None,
                        notebooks_dir: Path | None = None, scheduled: bool = True) -> dict[str, str]:
    """The environment of the embedded Airflow and of everything it runs (the notebooks see MINDPULSE_HOME).

    Built by :func:`mindpulse.airflow_env.airflow_environment`, as the tests' Airflow is. The code's folders (default: those of the settings for ``home``) are passed on by name, so
    every task finds the same DAGs and notebooks whatever its working folder.
    """
    if dags_dir is None or notebooks_dir is None:
        from mindpulse.settings import Settings

        defaults = Settings(home=home)
        dags_dir, notebooks_dir = dags_dir or defaults.dags_dir, notebooks_dir or defaults.notebooks_dir
    from mindpulse.airflow_env import airflow_environment as environment

    inherited = {k: v for k, v in os.environ.items() if k.startswith("MINDPULSE_")}
    return environment(airflow_home, port=port, dags_dir=dags_dir, parallelism=parallelism, scheduled=scheduled,
                       mindpulse={**inherited, "MINDPULSE_HOME": str(home), "MINDPULSE_DAGS_DIR": str(dags_dir),
                                  "MINDPULSE_NOTEBOOKS_DIR": str(notebooks_dir)})


def _read_state(airflow_home: Path) -> dict[str, Any] | None:
    path = airflow_home / STATE_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    """True while process ``pid`` runs. A process that has ended but that its parent has not reaped
    yet (a zombie) is not running: ``platform stop`` is not the parent of ``platform run``, and
    the shell or program that is reaps it only when it next waits."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _wait_for(what: str, check: Any, *, timeout: float, services: list[Service]) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        for service in services:
            if not service.running():
                fail(f"{service.name} stopped while waiting for {what}; see {service.log}")
        if time.monotonic() > deadline:
            fail(f"{what}: not ready after {timeout:.0f} s; see the logs in {services[0].log.parent}")
        time.sleep(1)


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
    try:
        dags_dir, notebooks_dir = settings.require_code_folder("dags_dir"), settings.require_code_folder("notebooks_dir")
    except FileNotFoundError as exc:
        fail(str(exc))
    state = _read_state(airflow_home)
    if state and _pid_alive(int(state.get("pid", 0))):
        fail(f"MindPulse is already running (pid {state['pid']}, since {state.get('started_at')}); "
             "stop it with 'mindpulse platform stop'")
    airflow_port = airflow_port or urlparse(settings.airflow_api_url).port or 8080
    wanted = {"airflow-port": airflow_port}
    if dashboard:
        wanted["dashboard-port"] = dashboard_port
    if api:
        wanted["api-port"] = api_port
    if jupyter:
        wanted["jupyter-port"] = jupyter_port
    for option, port in wanted.items():
        if port_in_use(port):
            fail(f"--{option}: port {port} is in use on 127.0.0.1; stop what uses it or choose another port")

    check_free_space(home)
    from mindpulse.commands.store import migrate_store
    migrate_store()  # the deploy step: opening the store never migrates
    _prepare_data(settings, seed, demo)
    admin_created = _ensure_admin(settings, airflow_home)

    env = airflow_environment(home, airflow_home, port=airflow_port, parallelism=parallelism, dags_dir=dags_dir,
                              notebooks_dir=notebooks_dir, scheduled=schedule)
    airflow_url = f"http://127.0.0.1:{airflow_port}"
    services: list[Service] = []
    accept_interrupts()
    try:
        airflow = Service("airflow", [str(Path(sys.executable).parent / "airflow"), "standalone"], env=env, cwd=home,
                          log=logs / "standalone.log", stop_signal=signal.SIGINT, signal_leader_only=True,
                          airflow_standalone=True).start()
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
            settings.reports_dir.mkdir(parents=True, exist_ok=True)  # served as static files
            # The app imports its own package (dashboard.stores, ...): run it from the folder holding dashboard/.
            code_root = app.parent.parent
            dashboard_env = {**app_env, "PYTHONPATH": os.pathsep.join(filter(None, [str(code_root), app_env.get("PYTHONPATH")]))}
            if not dashboard_env.get("PANEL_COOKIE_SECRET"):  # signs the sign-in sessions
                from mindpulse.accounts import session_secret

                dashboard_env["PANEL_COOKIE_SECRET"] = session_secret(settings.data_dir / SESSION_SECRET_FILE)
            services.append(Service("dashboard", [str(Path(sys.executable).parent / "panel"), "serve", str(app),
                                                  "--address", "127.0.0.1", "--port", str(dashboard_port),
                                                  "--allow-websocket-origin", f"127.0.0.1:{dashboard_port}",
                                                  "--allow-websocket-origin", f"localhost:{dashboard_port}",
                                                  "--static-dirs", f"reports={settings.reports_dir}",
                                                  "--plugins", "dashboard.http_policy",  # policy, model cards
                                                  # Sign-in with MindPulse accounts (dashboard/auth.py), XSRF-checked.
                                                  "--auth-module", str(app.parent / "auth.py"), "--enable-xsrf-cookies"],
                                    env=dashboard_env, cwd=code_root, log=logs / "dashboard.log").start())
            urls["dashboard"] = f"http://127.0.0.1:{dashboard_port}"
        elif dashboard:
            typer.echo(f"No dashboard: {app} does not exist.")
        if api:
            services.append(Service("api", [str(Path(sys.executable).parent / "mindpulse"), "api", "--host", "127.0.0.1",
                                            "--port", str(api_port)], env=app_env, cwd=home, log=logs / "api.log").start())
            urls["api"] = f"http://127.0.0.1:{api_port}"
        if jupyter:
            token = secrets.token_urlsafe(24)
            services.append(Service("jupyterlab", jupyterlab_command(jupyter_port, settings.notebooks_dir, token),
                                    env=app_env, cwd=home, log=logs / "jupyterlab.log").start())
            urls["jupyterlab"] = f"http://127.0.0.1:{jupyter_port}/lab?token={token}"
        _write_state(airflow_home, services, urls)
        _print_banner(settings, airflow_home, urls, triggered, scheduled=schedule, admin_created=admin_created)
        supervise(services, home)
    except KeyboardInterrupt:
        typer.echo("\nStopping MindPulse ...")
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        fail(f"{exc.filename or home}: no space left on the device: {_disk_full(home, _free_bytes(home) or 0)}", code=1)
    finally:
        for service in reversed(services):
            service.stop()
        (airflow_home / STATE_FILE).unlink(missing_ok=True)
        if services:
            typer.echo("Stopped: " + ", ".join(s.name for s in services) + ".")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def accept_interrupts() -> None:
    """Ctrl-C and SIGTERM (``platform stop``) end the run through its ``finally``, which stops the services.

    Ctrl-C is handled even when this process started with SIGINT ignored, as a background job of a
    script does: an ignored signal stays ignored across ``exec``, so ``airflow standalone`` would
    inherit it, ignore the Ctrl-C it is stopped with, and keep a stop waiting for its grace period.
    A handled signal is reset to its default in the programs started from here.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)


def _prepare_data(settings: Any, seed: int | None, demo: bool | None = None) -> None:
    """The reference and a first champion; in a demo home, synthetic data and its traffic, added once."""
    from mindpulse import pipeline
    from mindpulse.pipeline import demo as demo_home

    seed = settings.seed if seed is None else seed
    decision = _prepare_reference(settings, seed, demo, by="platform run")
    typer.echo("First champion: training on the reference data if there is none (about 30-60 s) ...")
    typer.echo(f"  champion: {pipeline.train_first_champion(settings, seed=seed)}")
    if not decision.demo:
        typer.echo(f"Production traffic: none added ({decision.reason}: no demo data); predictions logged "
                   "('predict --log', the dashboard) and outcomes fed back ('feedback') make the retrain's data")
        return
    traffic = demo_home.add_demo_traffic(settings, days=4, rows_per_day=300, drift_days=2, seed=seed + 1)
    if isinstance(traffic, str):
        typer.echo(f"Production traffic: none added ({traffic})")
        return
    typer.echo(f"Production traffic: {traffic['predictions_logged']} predictions over {traffic['days']} days "
               f"(the last {traffic['drift_days']} in exam season), {traffic['feedback_recorded']} with feedback; "
               f"{traffic['pending']} labelled rows wait for a retrain")


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


def _write_state(airflow_home: Path, services: list[Service], urls: dict[str, str]) -> None:
    from mindpulse.io import atomic_write_json

    atomic_write_json(airflow_home / STATE_FILE, {
        "pid": os.getpid(), "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "services": {s.name: s.describe() for s in services}, "urls": urls,
    })


def _ensure_admin(settings: Any, airflow_home: Path) -> bool:
    """A MindPulse admin for the dashboard and the API: made with a generated password (written to
    ``MINDPULSE_PASSWORD_FILE``) when the home has no active admin. True when made now."""
    from mindpulse.accounts import Accounts
    from mindpulse.store import Store

    with Store.from_settings(settings) as store:
        _, created = Accounts(store).ensure_admin(airflow_home / MINDPULSE_PASSWORD_FILE, MINDPULSE_ADMIN)
    return created


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
    if not state or not _pid_alive(int(state.get("pid", 0))):
        (airflow_home / STATE_FILE).unlink(missing_ok=True)
        typer.echo("MindPulse is not running.")
        return
    pid = int(state["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    if _pid_alive(pid):
        for service in state.get("services", {}).values():
            if service.get("pid"):
                stop_process_group(int(service["pid"]), first_signal=signal.SIGKILL, grace=5)
        os.kill(pid, signal.SIGKILL)
        (airflow_home / STATE_FILE).unlink(missing_ok=True)
        typer.echo(f"MindPulse (pid {pid}) did not stop within {timeout:.0f} s: killed it and its services.")
        return
    typer.echo(f"MindPulse (pid {pid}) stopped.")
