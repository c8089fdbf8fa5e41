"""The programs the platform runs, and how each is started.

``airflow standalone`` with its home in ``<MINDPULSE_HOME>/.airflow``, the Panel dashboard, the
HTTP API and JupyterLab: each is a :class:`~mindpulse.platform.supervisor.Service`, on loopback,
its log in ``<MINDPULSE_HOME>/.airflow/logs/``.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from mindpulse.platform.supervisor import Service

AIRFLOW_DIR = ".airflow"
ADMIN_USER = "admin"
PASSWORD_FILE = "simple_auth_manager_passwords.json.generated"
#: Signs the dashboard's sessions (kept in DATA_DIR, as ``python -m dashboard`` keeps it).
SESSION_SECRET_FILE = ".dashboard-session-secret"

#: What JupyterLab's file browser leaves out: Jupyter Server's defaults plus the notebook tests'
#: pytest configuration (``notebooks/conftest.py`` is for nbval, not a notebook to open).
JUPYTER_HIDE_GLOBS = ("__pycache__", "*.pyc", "*.pyo", ".DS_Store", "*~", "conftest.py")


#: The ``jupyter lab`` option that starts its kernels on IPC (:mod:`mindpulse.jupyter_kernels`).
JUPYTERLAB_KERNEL_FLAG = "--MappingKernelManager.kernel_manager_class=mindpulse.jupyter_kernels.IPCServerKernelManager"


def _program(name: str) -> str:
    """A program of this environment (``airflow``, ``panel``, ...), found beside its Python."""
    return str(Path(sys.executable).parent / name)


def jupyter_hide_flags() -> list[str]:
    """``jupyter lab`` options that hide :data:`JUPYTER_HIDE_GLOBS` from its file browser."""
    return [f"--ContentsManager.hide_globs={pattern}" for pattern in JUPYTER_HIDE_GLOBS]


def jupyterlab_command(port: int, notebooks_dir: Path, token: str) -> list[str]:
    """The ``jupyter lab`` command the platform runs: loopback only, on ``notebooks_dir``."""
    return [_program("jupyter"), "lab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0", f"--ServerApp.root_dir={notebooks_dir}",
            f"--IdentityProvider.token={token}",
            *jupyter_hide_flags(),
            JUPYTERLAB_KERNEL_FLAG,  # kernels on IPC: no port to race for (mindpulse.jupyter_kernels)
            # JupyterLab refuses root unless told; containers often run as root.
            *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])]


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


def airflow_service(env: dict[str, str], home: Path, logs: Path) -> Service:
    """``airflow standalone``, stopped as its own Ctrl-C stops it (SIGINT to its leader only)."""
    return Service("airflow", [_program("airflow"), "standalone"], env=env, cwd=home,
                   log=logs / "standalone.log", stop_signal=signal.SIGINT, signal_leader_only=True,
                   airflow_standalone=True)


def dashboard_service(settings: Any, app: Path, app_env: dict[str, str], port: int, logs: Path) -> Service:
    """The Panel dashboard ``app``, with MindPulse sign-in, serving the reports folder as static files."""
    settings.reports_dir.mkdir(parents=True, exist_ok=True)  # served as static files
    # The app imports its own package (dashboard.stores, ...): run it from the folder holding dashboard/.
    code_root = app.parent.parent
    dashboard_env = {**app_env, "PYTHONPATH": os.pathsep.join(filter(None, [str(code_root), app_env.get("PYTHONPATH")]))}
    if not dashboard_env.get("PANEL_COOKIE_SECRET"):  # signs the sign-in sessions
        from mindpulse.accounts import session_secret

        dashboard_env["PANEL_COOKIE_SECRET"] = session_secret(settings.data_dir / SESSION_SECRET_FILE)
    return Service("dashboard", [_program("panel"), "serve", str(app),
                                 "--address", "127.0.0.1", "--port", str(port),
                                 "--allow-websocket-origin", f"127.0.0.1:{port}",
                                 "--allow-websocket-origin", f"localhost:{port}",
                                 "--static-dirs", f"reports={settings.reports_dir}",
                                 "--plugins", "dashboard.http_policy",  # the HTTP policy and the model cards' route
                                 # Sign-in with MindPulse accounts (dashboard/auth.py), XSRF-checked.
                                 "--auth-module", str(app.parent / "auth.py"), "--enable-xsrf-cookies"],
                   env=dashboard_env, cwd=code_root, log=logs / "dashboard.log")


def api_service(app_env: dict[str, str], home: Path, port: int, logs: Path) -> Service:
    """``mindpulse api`` on loopback."""
    return Service("api", [_program("mindpulse"), "api", "--host", "127.0.0.1", "--port", str(port)],
                   env=app_env, cwd=home, log=logs / "api.log")


def jupyterlab_service(app_env: dict[str, str], home: Path, port: int, notebooks_dir: Path, token: str,
                       logs: Path) -> Service:
    """JupyterLab on ``notebooks_dir`` (:func:`jupyterlab_command`)."""
    return Service("jupyterlab", jupyterlab_command(port, notebooks_dir, token), env=app_env, cwd=home,
                   log=logs / "jupyterlab.log")
