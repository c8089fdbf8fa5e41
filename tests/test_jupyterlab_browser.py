"""JupyterLab as the platform starts it (``mindpulse platform run``), in real Chromium.

It runs on a copy of ``notebooks/`` with its settings, workspaces and runtime files in a
temporary folder, so nothing a test opens changes the committed notebooks.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from mindpulse.commands.platform import jupyterlab_command
from tests.airflow_support import free_port
from tests.dashboard_support import browser_type_launch_args  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.relative_to(REPO_ROOT / "notebooks").as_posix() for p in (REPO_ROOT / "notebooks").rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts)
TIMEOUT_MS = 60_000


@dataclass(frozen=True)
class JupyterLab:
    url: str
    token: str

    def lab(self, path: str = "") -> str:
        return f"{self.url}/lab{'/tree/' + path if path else ''}?reset&token={self.token}"


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    base = tmp_path_factory.mktemp("jupyterlab")
    shutil.copytree(REPO_ROOT / "notebooks", base / "notebooks")
    port, token = free_port(), secrets.token_urlsafe(24)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(base / "config"), "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces")}
    with open(base / "jupyterlab.log", "wb") as log:
        process = subprocess.Popen(jupyterlab_command(port, base / "notebooks", token), env=env, cwd=base,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((base / "jupyterlab.log").read_text()[-3000:]) from None
                time.sleep(0.5)
        yield JupyterLab(url, token)
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the server and the kernels it started
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _shut_down_kernels(page: Page, jupyterlab: JupyterLab) -> None:
    headers = {"Authorization": f"token {jupyterlab.token}"}
    for session in page.request.get(f"{jupyterlab.url}/api/sessions", headers=headers).json():
        page.request.delete(f"{jupyterlab.url}/api/sessions/{session['id']}", headers=headers)


def test_jupyterlab_opens_without_the_widget_manager_error(page: Page, jupyterlab: JupyterLab) -> None:
    """The plotly labextension (plotly comes with Evidently) needs @jupyter-widgets/base shared."""
    messages: list[ConsoleMessage] = []
    page.on("console", lambda message: messages.append(message))
    page.goto(jupyterlab.lab(), timeout=TIMEOUT_MS)
    expect(page.locator(".jp-DirListing-item", has_text="retrain")).to_be_visible(timeout=TIMEOUT_MS)
    page.wait_for_load_state("networkidle")
    noisy = [m.text for m in messages if m.type in ("error", "warning") and "@jupyter-widgets/base" in m.text]
    assert noisy == []


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_a_notebook_opens_without_unsaved_changes(page: Page, jupyterlab: JupyterLab, notebook: str) -> None:
    """JupyterLab fills the notebook's metadata from its kernel on open; nothing may be left to fill."""
    page.goto(jupyterlab.lab(notebook), timeout=TIMEOUT_MS)
    try:
        tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.jp-mod-current")
        expect(tab).to_contain_text(Path(notebook).name, timeout=TIMEOUT_MS)
        # The kernel has answered (its language_info is what JupyterLab writes into the metadata).
        expect(page.get_by_text("Kernel status: Idle").first).to_be_attached(timeout=TIMEOUT_MS)
        page.wait_for_timeout(3_000)  # a metadata change marks the tab a moment after the kernel is ready
        expect(tab).not_to_have_class(re.compile(r"\bjp-mod-dirty\b"))
    finally:
        _shut_down_kernels(page, jupyterlab)
