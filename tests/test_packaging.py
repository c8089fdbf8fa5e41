"""The dashboard is installed with the package: it imports, and serves, from outside the checkout."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from dashboard_support import dashboard_env

ROOT = Path(__file__).resolve().parents[1]


def outside_env() -> dict[str, str]:
    """This environment without PYTHONPATH: only what is installed is importable."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def test_the_dashboard_imports_from_a_folder_outside_the_checkout(tmp_path: Path) -> None:
    """Also where the current folder holds a home named mindpulse: it must not shadow the package."""
    (tmp_path / "mindpulse" / "data").mkdir(parents=True)
    probe = ("import dashboard, dashboard.stores, dashboard.views, dashboard.auth, dashboard.http_policy, sys; "
             "from mindpulse.data import frame_sha256; from mindpulse.settings import Settings; "
             "print(dashboard.__file__); print(Settings().dashboard_app); print(sys.path)")
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=outside_env(), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    package, app, path = result.stdout.splitlines()[-3:]
    assert str(ROOT) not in ast.literal_eval(path)  # found as installed, not through the checkout on sys.path
    assert Path(package).resolve().parent == Path(app).parent and Path(app).is_file()


def test_python_m_dashboard_runs_from_a_folder_outside_the_checkout(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "dashboard", "--help"], cwd=tmp_path, env=outside_env(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "python -m dashboard" in result.stdout


@pytest.mark.slow  # a Panel server
def test_panel_serve_runs_the_installed_app_from_a_folder_outside_the_checkout(tmp_path: Path) -> None:
    from mindpulse.settings import Settings

    app = Settings(home=tmp_path).dashboard_app
    env = {k: v for k, v in dashboard_env(tmp_path).items() if k != "PYTHONPATH"}
    process = subprocess.Popen([str(Path(sys.executable).parent / "panel"), "serve", str(app), "--port", "0",
                                "--address", "127.0.0.1"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    log: list[str] = []
    url: list[str] = []

    def drain() -> None:
        for line in process.stdout:  # type: ignore[union-attr]
            log.append(line)
            match = re.search(r"Bokeh app running at: (http://\S+)", line)
            if match and not url:
                url.append(match.group(1))

    threading.Thread(target=drain, daemon=True).start()
    try:
        deadline = time.monotonic() + 90
        while not url and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert url, "".join(log[-40:])
        page = httpx.get(url[0], timeout=90)
        assert page.status_code == 200, page.text[:2000]
        assert "MindPulse" in page.text
        assert not any("Traceback" in line for line in log), "".join(log)
    finally:
        process.terminate()
        process.wait(timeout=30)
