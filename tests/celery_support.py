"""Test support for the production path: Airflow's CeleryExecutor on the local PostgreSQL and Redis.

``celery_airflow`` starts the four processes the compose file runs as containers (api-server,
scheduler, dag-processor and a Celery worker), each in its own process group, with an isolated
AIRFLOW_HOME, a fresh metadata database and a private Celery queue; ``postgres_database`` makes a
throwaway database and drops it afterwards. Used by tests/test_celery_e2e.py.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import psutil

from airflow_support import process_family

if TYPE_CHECKING:
    from mindpulse.settings import Settings

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"
REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
# A Redis database of its own; a private queue name keeps concurrent runs apart inside it.
REDIS_DB = 5

VENV_BIN = Path(sys.executable).parent
AIRFLOW = str(VENV_BIN / "airflow")
TERMINAL_STATES = {"success", "failed"}
# Fields every task log event repeats; what is left (e.g. error_detail) is worth printing.
_LOG_NOISE = {"event", "timestamp", "level", "logger", "ti_id", "task_id", "dag_id", "run_id", "map_index",
              "try_number", "filename", "lineno"}


REPO = Path(__file__).resolve().parents[1]


class ServiceUnavailable(RuntimeError):
    """PostgreSQL or Redis is not reachable on localhost."""


# --- the local services -------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on right now (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_url(database: str, *, driver: str = "postgresql+psycopg") -> str:
    """SQLAlchemy URL of a database on the local PostgreSQL (trust auth, user postgres)."""
    return f"{driver}://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


def check_postgres() -> None:
    """Raise ServiceUnavailable, saying how to start it, when PostgreSQL does not answer."""
    import psycopg

    try:
        with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=5):
            pass
    except psycopg.Error as error:
        raise ServiceUnavailable(
            f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT} as user {PG_USER!r} ({error}); "
            "run `bash scripts/system-deps.sh` (CI does) to start it"
        ) from error


def check_redis() -> None:
    """Raise ServiceUnavailable, saying how to start it, when Redis does not answer PING."""
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=5) as sock:
            sock.sendall(b"PING\r\n")
            reply = sock.recv(16)
    except OSError as error:
        raise ServiceUnavailable(
            f"Redis is not reachable on {REDIS_HOST}:{REDIS_PORT} ({error}); "
            "run `bash scripts/system-deps.sh` (CI does) to start it"
        ) from error
    if not reply.startswith(b"+PONG"):
        raise ServiceUnavailable(f"Redis on {REDIS_HOST}:{REDIS_PORT} answered {reply!r} to PING, expected +PONG")


def _admin_connection():
    import psycopg

    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True)


@contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A fresh database named ``<prefix>_<random>``; yields its name and drops it at the end."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    with _admin_connection() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with _admin_connection() as conn:
            # FORCE: a process that outlived its stop must not keep the database alive.
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_exists(name: str) -> bool:
    """Whether the local PostgreSQL has a database of that name."""
    with _admin_connection() as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def redis_delete_queue(queue: str) -> None:
    """Remove what Celery left in Redis for a private queue (the list and its bindings)."""
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    try:
        keys = [queue, f"_kombu.binding.{queue}", *client.scan_iter(match=f"{queue}\x06*")]
        client.delete(*keys)
    finally:
        client.close()


# --- processes ----------------------------------------------------------------------------------


@dataclass
class Service:
    """One Airflow component running as a subprocess in its own process group."""

    name: str
    process: subprocess.Popen
    log_path: Path

    def tail(self, lines: int = 60) -> str:
        """The last lines of the component's output."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def processes_in_home(home: Path) -> list[psutil.Process]:
    """Processes whose environment says AIRFLOW_HOME=home: whatever a cluster left behind."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get("AIRFLOW_HOME") == str(home):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def stop_processes(processes: list[psutil.Process], *, grace: float = 20.0) -> None:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL what is left."""
    for proc in processes:
        try:
            proc.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(processes, timeout=grace)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)


def stop_services(services: list[Service], *, grace: float = 20.0) -> None:
    """Stop components together: their process groups and every descendant, even in other groups."""
    family = [proc for service in services for proc in process_family(service.process.pid)]
    for service in services:
        try:
            os.killpg(service.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    stop_processes(family, grace=grace)
    for service in services:
        try:
            os.killpg(service.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            service.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


# --- the cluster --------------------------------------------------------------------------------


@dataclass
class CeleryAirflow:
    """A running Airflow on the CeleryExecutor, and a REST client for it."""

    home: Path
    api_url: str
    username: str
    password: str
    queue: str
    airflow_database: str
    env: dict[str, str]
    services: list[Service] = field(default_factory=list)
    _token: str | None = None

    # REST ----------------------------------------------------------------------------------
    def token(self) -> str:
        """A bearer token from POST /auth/token (cached)."""
        if self._token is None:
            reply = httpx.post(
                f"{self.api_url}/auth/token",
                json={"username": self.username, "password": self.password},
                timeout=30,
            )
            reply.raise_for_status()
            self._token = reply.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, *, headers: Mapping[str, str] | None = None, **kwargs) -> httpx.Response:
        """A call to /api/v2 with the bearer token."""
        headers = {"Authorization": f"Bearer {self.token()}", **(headers or {})}
        return httpx.request(method, f"{self.api_url}/api/v2{path}", headers=headers, timeout=30, **kwargs)

    def health(self) -> dict:
        """GET /api/v2/monitor/health (no token needed)."""
        return httpx.get(f"{self.api_url}/api/v2/monitor/health", timeout=10).json()

    def wait_for_dag(self, dag_id: str, *, timeout: float = 180) -> dict:
        """Wait until the dag-processor has parsed the DAG; fail with its import error if any."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.assert_running()
            reply = self.api("GET", f"/dags/{dag_id}")
            if reply.status_code == 200:
                return reply.json()
            errors = self.api("GET", "/importErrors").json().get("import_errors", [])
            if errors:
                raise AssertionError(f"DAG import errors: {errors}")
            time.sleep(2)
        raise AssertionError(f"DAG {dag_id!r} did not appear within {timeout:.0f} s\n{self.describe()}")

    def trigger(self, dag_id: str, conf: Mapping | None = None) -> str:
        """Unpause the DAG and start a run through the REST API; returns the run id."""
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False}).raise_for_status()
        # STACK.md trap 10: Airflow 3 needs an explicit null logical date for manual runs.
        reply = self.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": dict(conf or {})})
        if reply.status_code >= 400:
            raise AssertionError(f"trigger of {dag_id} failed: {reply.status_code} {reply.text}")
        return reply.json()["dag_run_id"]

    def wait_for_run(self, dag_id: str, run_id: str, *, timeout: float) -> dict:
        """Poll the run until it succeeds or fails; returns the run as the API gives it."""
        deadline = time.monotonic() + timeout
        run: dict = {}
        while time.monotonic() < deadline:
            self.assert_running()
            run = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}").json()
            if run.get("state") in TERMINAL_STATES:
                return run
            time.sleep(3)
        raise AssertionError(
            f"run {run_id} of {dag_id} still {run.get('state')!r} after {timeout:.0f} s\n"
            f"{self.task_report(dag_id, run_id)}\n{self.describe()}"
        )

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        """The run's task instances (state, queue, hostname, try number...)."""
        reply = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
        reply.raise_for_status()
        return reply.json()["task_instances"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        """The log of one try of a task, as text (one line per event)."""
        reply = self.api(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{max(try_number, 1)}",
            params={"full_content": "true", "map_index": map_index},
            headers={"Accept": "application/json"},
        )
        if reply.status_code != 200:
            return f"(log unavailable: {reply.status_code} {reply.text[:500]})"
        content = reply.json().get("content", [])
        if isinstance(content, str):
            return content
        lines = []
        for event in content:
            if isinstance(event, dict):
                extra = {k: v for k, v in event.items() if k not in _LOG_NOISE}
                line = f"{event.get('timestamp', '')} {event.get('level', '')} {event.get('event', '')}"
                lines.append(f"{line} {extra}" if extra else line)
            else:
                lines.append(str(event))
        return "\n".join(lines)

    def task_report(self, dag_id: str, run_id: str) -> str:
        """Each task's state, and the full log of every task that did not succeed."""
        parts = []
        try:
            instances = self.task_instances(dag_id, run_id)
        except Exception as error:  # the report is a diagnostic: never hide the real failure
            return f"(task instances unavailable: {error})"
        for ti in instances:
            parts.append(f"{ti['task_id']}[{ti.get('map_index', -1)}]: {ti['state']} on {ti.get('hostname')!r}")
        for ti in instances:
            if ti["state"] not in {"success", "skipped"}:
                log = self.task_log(dag_id, run_id, ti["task_id"], ti.get("try_number") or 1, ti.get("map_index", -1))
                parts.append(f"--- log of {ti['task_id']} ({ti['state']}) ---\n{log[-8000:]}")
        return "\n".join(parts)

    # processes -----------------------------------------------------------------------------
    def assert_running(self) -> None:
        """Fail at once, with its output, when a component has exited."""
        for service in self.services:
            if service.process.poll() is not None:
                raise AssertionError(
                    f"{service.name} exited with code {service.process.returncode}:\n{service.tail()}"
                )

    def describe(self) -> str:
        """The tail of every component's output, for failure messages."""
        return "\n".join(f"=== {s.name} ({s.log_path}) ===\n{s.tail(40)}" for s in self.services)

    def stop(self) -> None:
        """Stop every component at once, then whatever they left behind in this AIRFLOW_HOME."""
        stop_services(self.services)
        stop_processes(processes_in_home(self.home), grace=5)


def airflow_env(
    home: Path,
    *,
    dags_folder: Path,
    database: str,
    api_port: int,
    queue: str,
    username: str,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment every component shares: the same settings as docker-compose.yml, on localhost."""
    from cryptography.fernet import Fernet

    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW__", "MINDPULSE_"))}
    sql = postgres_url(database)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            # No scheduled runs: unpausing a @daily DAG would otherwise start one that takes
            # the rows the test's own run is meant to retrain on.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            # Two cores shared with other work: few task slots, one API worker.
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "2",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            # As in docker-compose.yml: a kernel zygote beside the worker.
            "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "mindpulse.celery_config.CELERY_CONFIG",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
            # Airflow 3 workers report task state to the API server, not the database.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql,
            # Airflow would otherwise derive asyncpg from the URL; psycopg 3 speaks async itself.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": sql,
            "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}",
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + sql,
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
            # Every component must sign and check the same tokens.
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{username}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            # Free ports instead of the fixed defaults (8793, 8794, 8974).
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            # New DAG files are picked up in seconds, not minutes.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "300",
        }
    )
    env.update(extra or {})
    return env


def _start(name: str, argv: list[str], env: Mapping[str, str], logs: Path, cwd: Path) -> Service:
    log_path = logs / f"{name}.log"
    with open(log_path, "wb") as out:
        process = subprocess.Popen(
            argv,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so it can be stopped whole
        )
    return Service(name, process, log_path)


def _wait_healthy(cluster: CeleryAirflow, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        cluster.assert_running()
        try:
            last = cluster.health()
            states = {part: (last.get(part) or {}).get("status") for part in ("metadatabase", "scheduler", "dag_processor")}
            if all(state == "healthy" for state in states.values()):
                return
        except (httpx.HTTPError, ValueError) as error:
            last = error
        time.sleep(1)
    raise AssertionError(f"Airflow not healthy after {timeout:.0f} s (last: {last})\n{cluster.describe()}")


@contextmanager
def celery_airflow(
    workdir: Path,
    dags_folder: Path,
    *,
    extra_env: Mapping[str, str] | None = None,
    startup_timeout: float = 240,
) -> Iterator[CeleryAirflow]:
    """Airflow with the CeleryExecutor on a fresh PostgreSQL database and the local Redis.

    Starts api-server, scheduler, dag-processor and one Celery worker (concurrency 2) serving a
    private queue; yields once all report healthy; stops them all and drops the database.
    """
    check_postgres()
    check_redis()
    home = workdir / "airflow-home"
    logs = workdir / "service-logs"
    home.mkdir(parents=True)
    logs.mkdir(parents=True)
    token = secrets.token_hex(4)
    queue = f"mindpulse_{token}"
    username = "mindpulse"
    password = secrets.token_urlsafe(18)
    # A passwords file written in advance: the simple auth manager generates none.
    (home / "passwords.json").write_text(f'{{"{username}": "{password}"}}\n')

    with ExitStack() as stack:
        database = stack.enter_context(postgres_database("airflow_celery"))
        api_port = free_port()
        env = airflow_env(
            home, dags_folder=dags_folder, database=database, api_port=api_port, queue=queue,
            username=username, extra=extra_env,
        )
        migrate = subprocess.run(
            [AIRFLOW, "db", "migrate"], env=env, cwd=workdir, capture_output=True, text=True, timeout=300
        )
        if migrate.returncode != 0:
            raise AssertionError(f"airflow db migrate failed:\n{migrate.stdout[-4000:]}\n{migrate.stderr[-4000:]}")

        cluster = CeleryAirflow(
            home=home, api_url=f"http://127.0.0.1:{api_port}", username=username, password=password,
            queue=queue, airflow_database=database, env=env,
        )
        stack.callback(redis_delete_queue, queue)
        stack.callback(cluster.stop)
        commands = {
            "api-server": [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(api_port), "--workers", "1"],
            "scheduler": [AIRFLOW, "scheduler"],
            "dag-processor": [AIRFLOW, "dag-processor"],
            "celery-worker": [
                AIRFLOW, "celery", "worker", "--concurrency", "2", "--queues", queue,
                "--celery-hostname", f"{queue}@%h", "--without-gossip", "--without-mingle",
            ],
        }
        for name, argv in commands.items():
            cluster.services.append(_start(name, argv, env, logs, workdir))
        _wait_healthy(cluster, timeout=startup_timeout)
        yield cluster


def celery_workloads(cluster: CeleryAirflow, dag_id: str) -> list[str]:
    """Task ids of the DAG that the Celery worker says it executed, from its own output."""
    worker = next(service for service in cluster.services if service.name == "celery-worker")
    text = worker.log_path.read_text(errors="replace")
    pattern = re.compile(r"Executing workload in Celery:.*?task_id='([^']+)', dag_id='([^']+)'")
    return [task for task, dag in pattern.findall(text) if dag == dag_id]


# --- a MindPulse home ready for a retrain -------------------------------------------------------


@dataclass(frozen=True)
class RetrainHome:
    """A MindPulse home with reference data, a champion and labelled rows waiting in the store."""

    settings: "Settings"
    env: dict[str, str]
    champion: str
    pending_rows: int


def prepare_retrain_home(
    home: Path, database_url: str, *, reference_rows: int = 2_000, production_rows: int = 1_200, seed: int = 3,
    extra_env: Mapping[str, str] | None = None,
) -> RetrainHome:
    """Reference rows, a first champion (logistic regression) and labelled production rows in the store.

    Built with the package's own APIs; ``env`` holds the MINDPULSE_* variables that point every
    Airflow component and notebook kernel at this home, the store's database and the repo's notebooks.
    """
    from mindpulse.data import generate_reference, load_reference
    from mindpulse.registry import ModelRegistry
    from mindpulse.settings import Settings
    from mindpulse.store import Store
    from mindpulse.synthetic import generate
    from mindpulse.train import train_register_and_judge
    from shared_support import migrated

    env = {
        "MINDPULSE_HOME": str(home),
        "MINDPULSE_DATABASE_URL": database_url,
        "MINDPULSE_NOTEBOOKS_DIR": str(REPO / "notebooks"),
        "MINDPULSE_SEED": str(seed),
        **(extra_env or {}),
    }
    settings = Settings(**{key.removeprefix("MINDPULSE_").lower(): value for key, value in env.items()})
    generate_reference(settings, rows=reference_rows, seed=seed)
    outcome = train_register_and_judge(
        load_reference(settings), ModelRegistry.from_settings(settings), seed=seed,
        margin=settings.promotion_margin, data_source="celery e2e: generated reference",
        candidates=("logistic_regression",), folds=3,
    )
    assert outcome.promoted, outcome.reason
    store = Store.from_settings(migrated(settings))
    try:
        # Exam-season traffic: labelled like the reference, features shifted.
        added = store.add_labelled(generate(production_rows, seed=seed + 1, scenario="exam_season",
                                            id_start=5_000_000).canonical())
        pending = store.pending_count()
    finally:
        store.close()
    assert added == production_rows == pending, (added, pending)
    return RetrainHome(settings=settings, env=env, champion=outcome.version, pending_rows=pending)
