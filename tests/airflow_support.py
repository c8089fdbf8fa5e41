"""Running a real Airflow 3 in tests: an isolated AIRFLOW_HOME, free ports, the components as
subprocesses, the REST API, waiting for runs.

Nothing here is specific to MindPulse's DAGs, so other tests (e.g. one with the CeleryExecutor)
can use it: pass ``executor=`` and ``extra=`` to :func:`airflow_env` and pick the components
to start with :class:`AirflowProcesses`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from mindpulse.airflow_client import AirflowClient

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
AIRFLOW = str(VENV_BIN / "airflow")
ADMIN_USER = "admin"


def process_family(pid: int) -> list[psutil.Process]:
    """A process and all its descendants (task processes move to process groups of their own)."""
    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def free_port() -> int:
    """A TCP port nothing listens on right now (bound to port 0, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def airflow_env(
    airflow_home: Path,
    *,
    dags_folder: Path | None = None,
    port: int | None = None,
    executor: str | None = None,
    parallelism: int = 2,
    use_job_schedule: bool = False,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """Environment of an Airflow whose whole state lives in ``airflow_home`` (SQLite, logs, config): the
    platform's own (:func:`mindpulse.airflow_env.airflow_environment`), with a known admin user.

    The scheduler does not create scheduled runs (``use_job_schedule=False``), so a test sees
    only the runs it triggers. ``extra`` is added last (e.g. ``MINDPULSE_HOME``).
    """
    from mindpulse.airflow_env import EMBEDDED_EXECUTOR, airflow_environment

    return airflow_environment(
        airflow_home, port=port or free_port(), dags_dir=dags_folder or REPO / "dags", parallelism=parallelism,
        executor=executor or EMBEDDED_EXECUTOR, scheduled=use_job_schedule, quick_parsing=True,
        extra={"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
               "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False", **(extra or {})},
    )


def pipeline_env(migrated: Path, airflow_home: Path, home: Path, *, notebooks: Path | None = None, retries: int = 0,
                 settings: dict[str, str] | None = None, **airflow: Any) -> dict[str, str]:
    """The environment of a test Airflow in ``airflow_home`` (a copy of the ``migrated`` database) whose
    pipeline runs on the MindPulse ``home``, ``retries`` per task: no other ``MINDPULSE_*`` variable of
    this process leaks in; ``settings`` adds more (and the kernel zygote's variable). ``airflow`` goes to
    :func:`airflow_env`."""
    airflow_home.mkdir(parents=True)
    shutil.copy(migrated, airflow_home / "airflow.db")
    env = airflow_env(airflow_home, **airflow)
    for name in [k for k in env if k.startswith("MINDPULSE_")]:
        del env[name]
    env.update({"MINDPULSE_HOME": str(home), "MINDPULSE_NOTEBOOKS_DIR": str(notebooks or REPO / "notebooks"),
                "MINDPULSE_PIPELINE_RETRIES": str(retries), **(settings or {})})
    return env


def api_url(env: dict[str, str]) -> str:
    return env["AIRFLOW__API__BASE_URL"]


#: ``airflow``, as its script runs it (``airflow.__main__.main``), with the interpreter's garbage
#: collector tuned for a short command that builds much and frees little: it collects ten times
#: less often (``airflow dags test`` builds its in-process execution API, thousands of pydantic and
#: FastAPI objects, and each collection walked them all again: ~1.3 s of CPU a run), and it skips
#: the final collection at exit (~2 s after a ``dags test``, py-spy), memory the exit frees anyway.
#: Airflow's own exit handlers still run first (atexit runs the freeze last). Nothing else changes.
AIRFLOW_WITH_A_LAZIER_GC = [
    str(VENV_BIN / "python"), "-c",
    "import atexit, gc, sys; gc.set_threshold(7000, 100, 100); atexit.register(gc.freeze); "
    "sys.argv[0] = 'airflow'; from airflow.__main__ import main; sys.exit(main())",
]


def run_cli(env: dict[str, str], *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``airflow <args>`` in that environment; on failure the error names the output's tail."""
    result = subprocess.run([*AIRFLOW_WITH_A_LAZIER_GC, *args], env=env, capture_output=True, text=True, timeout=timeout,
                            cwd=env["AIRFLOW_HOME"])
    if check and result.returncode != 0:
        tail = (result.stdout + result.stderr)[-4000:]
        raise RuntimeError(f"airflow {' '.join(args)} exited {result.returncode}:\n{tail}")
    return result


def migrate(env: dict[str, str]) -> None:
    """Create the metadatabase (``airflow db migrate``; ~6 s)."""
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    run_cli(env, "db", "migrate", timeout=300)


def dags_test(env: dict[str, str], dag_id: str, conf: dict[str, Any] | None = None, *, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """``airflow dags test``: one run in this process, with a logical date; no scheduler needed."""
    args = ["dags", "test", dag_id]
    if conf is not None:
        args += ["--conf", json.dumps(conf)]
    return run_cli(env, *args, timeout=timeout, check=False)


def last_run_states(env: dict[str, str], dag_id: str) -> tuple[str, dict[str, str | None]]:
    """The state of ``dag_id``'s newest run and its tasks' states (task_id -> state), as recorded in
    the SQLite metadatabase of that environment (what ``airflow dags list-runs`` and ``airflow
    tasks states-for-dag-run`` print, without starting Airflow twice to ask)."""
    import sqlite3
    from contextlib import closing

    path = Path(env["AIRFLOW_HOME"]) / "airflow.db"
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        found = db.execute("SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)).fetchone()
        if found is None:
            raise AssertionError(f"{path}: no run of {dag_id}")
        run_id, state = found
        tasks = dict(db.execute("SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?", (dag_id, run_id)))
    return state, tasks


def admin_password(airflow_home: Path, user: str = ADMIN_USER, *, timeout: float = 60) -> str:
    """The password the simple auth manager generated for ``user`` (waits for the file)."""
    path = Path(airflow_home) / "simple_auth_manager_passwords.json.generated"
    deadline = time.monotonic() + timeout
    while True:
        if path.is_file():
            try:
                return json.loads(path.read_text())[user]
            except (ValueError, KeyError):
                pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path}: no password for {user!r} after {timeout:.0f} s")
        time.sleep(0.5)


@dataclass
class AirflowProcesses:
    """Airflow components as subprocesses: ``["standalone"]`` or e.g. ``["api-server", "scheduler", "dag-processor"]``.

    Each runs in its own process group with its output in ``AIRFLOW_HOME/<component>.log``;
    :meth:`stop` ends the groups it started (SIGTERM, then SIGKILL after a grace period).
    """

    env: dict[str, str]
    components: tuple[str, ...] = ("standalone",)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return Path(self.env["AIRFLOW_HOME"])

    @property
    def url(self) -> str:
        return api_url(self.env)

    def start(self, *, timeout: float = 180) -> "AirflowProcesses":
        for component in self.components:
            log = open(self.home / f"{component}.log", "ab")
            self.processes[component] = subprocess.Popen(
                [AIRFLOW, *component.split()], env=self.env, cwd=self.home, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()
        self.wait_healthy(timeout=timeout)
        return self

    def wait_healthy(self, *, timeout: float = 180) -> None:
        client = AirflowClient(self.url)
        deadline = time.monotonic() + timeout
        try:
            while not client.is_healthy():
                for name, process in self.processes.items():
                    if process.poll() is not None:
                        raise RuntimeError(f"airflow {name} exited {process.returncode}; see {self.home / (name + '.log')}:\n"
                                           + self.log_tail(name))
                if time.monotonic() > deadline:
                    raise TimeoutError(f"Airflow at {self.url} not healthy after {timeout:.0f} s")
                time.sleep(1)
        finally:
            client.close()

    def log_tail(self, component: str, chars: int = 3000) -> str:
        path = self.home / f"{component}.log"
        return path.read_text(errors="replace")[-chars:] if path.is_file() else ""

    def client(self, user: str = ADMIN_USER) -> AirflowClient:
        """A REST client logged in as ``user`` with the generated password."""
        return AirflowClient(self.url, user, admin_password(self.home, user))

    def stop(self, *, grace: float = 30) -> None:
        """Stop every component and whatever it started; ``standalone`` gets Ctrl-C, as in a terminal."""
        from mindpulse.platform.supervisor import stop_process_group

        for name, process in self.processes.items():
            if name == "standalone":  # Ctrl-C to standalone itself: it stops its components in order
                stop_process_group(process.pid, first_signal=signal.SIGINT, leader_only=True, grace=grace,
                                   airflow_standalone=True)
            else:
                stop_process_group(process.pid, first_signal=signal.SIGTERM, grace=grace)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.processes.clear()


def wait_for_dag(client: AirflowClient, dag_id: str, *, timeout: float = 120) -> dict[str, Any]:
    """Wait until the DAG processor has parsed ``dag_id`` and the API knows it."""
    from mindpulse.airflow_client import AirflowApiError

    deadline = time.monotonic() + timeout
    while True:
        try:
            return client.get_dag(dag_id)
        except AirflowApiError as exc:
            if exc.status_code != 404 or time.monotonic() > deadline:
                raise
        time.sleep(1)


def trigger_and_wait(client: AirflowClient, dag_id: str, conf: dict[str, Any] | None = None, *, timeout: float = 600) -> dict[str, Any]:
    """Trigger a run through the REST API (no logical date) and wait for it to finish."""
    run = client.trigger(dag_id, conf)
    return client.wait_for_run(dag_id, run["dag_run_id"], timeout=timeout)


def task_states(client: AirflowClient, dag_id: str, run_id: str) -> dict[str, str | None]:
    """task_id -> state of one run."""
    return {ti["task_id"]: ti["state"] for ti in client.task_instances(dag_id, run_id)}


class WebhookReceiver:
    """A real local HTTP server (a thread, a free port) that records every JSON body POSTed to it."""

    def __init__(self, status: int = 200):
        import http.server
        import threading

        self.received: list[dict[str, Any]] = []
        received = self.received
        reply = status

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append({"path": self.path, "content_type": self.headers.get("Content-Type"),
                                 "json": json.loads(body or b"null")})
                self.send_response(reply)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/mindpulse"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "WebhookReceiver":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
