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
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from airflow_support import free_port
from mindpulse.platform.components import jupyterlab_command

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.relative_to(REPO_ROOT / "notebooks").as_posix() for p in (REPO_ROOT / "notebooks").rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts)
TIMEOUT_MS = 60_000


@dataclass(frozen=True)
class JupyterLab:
    url: str
    token: str
    log: Path

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
        yield JupyterLab(url, token, base / "jupyterlab.log")
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


@pytest.fixture(scope="module")
def opened_notebooks(browser: Browser, jupyterlab: JupyterLab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every notebook opened at once in one JupyterLab page: notebook -> the class of its tab once
    its kernel has answered.

    The notebooks are restored from a workspace that lists them all (what JupyterLab does with the
    tabs a user left open), so the page loads once and the kernels start side by side instead of
    one page load, one kernel and one settling wait per notebook.
    """
    headers = {"Authorization": f"token {jupyterlab.token}"}
    workspace = {
        "data": {
            "layout-restorer:data": {"main": {"dock": {"type": "tab-area", "currentIndex": 0,
                                                       "widgets": [f"notebook:{n}" for n in NOTEBOOKS]},
                                              "current": f"notebook:{NOTEBOOKS[0]}"}},
            **{f"notebook:{n}": {"data": {"path": n, "factory": "Notebook"}} for n in NOTEBOOKS},
        },
        "metadata": {"id": "all-notebooks"},
    }
    context = browser.new_context()
    page = context.new_page()
    try:
        saved = page.request.put(f"{jupyterlab.url}/lab/api/workspaces/all-notebooks", headers=headers, data=workspace)
        assert saved.ok, saved.text()
        page.goto(f"{jupyterlab.url}/lab/workspaces/all-notebooks?token={jupyterlab.token}", timeout=TIMEOUT_MS)
        tabs = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab")
        expect(tabs).to_have_count(len(NOTEBOOKS), timeout=TIMEOUT_MS)
        # Each kernel has started and answered (its language_info is what JupyterLab writes into the metadata).
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while True:
            sessions = page.request.get(f"{jupyterlab.url}/api/sessions", headers=headers).json()
            idle = {s["path"] for s in sessions if s["kernel"]["execution_state"] == "idle"}
            if idle >= set(NOTEBOOKS):
                break
            assert time.monotonic() < deadline, f"kernels not idle after {TIMEOUT_MS / 1000:.0f} s: {sorted(set(NOTEBOOKS) - idle)}"
            page.wait_for_timeout(250)
        page.wait_for_timeout(3_000)  # a metadata change marks the tab a moment after the kernel is ready
        classes = {}
        for i in range(tabs.count()):
            tab = tabs.nth(i)
            title = tab.locator(".lm-TabBar-tabLabel").inner_text()
            classes[title] = tab.get_attribute("class") or ""
        return {n: classes.get(Path(n).name, "(no tab)") for n in NOTEBOOKS}
    finally:
        _shut_down_kernels(page, jupyterlab)
        context.close()


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_a_notebook_opens_without_unsaved_changes(opened_notebooks: dict[str, str], notebook: str) -> None:
    """JupyterLab fills the notebook's metadata from its kernel on open; nothing may be left to fill."""
    assert opened_notebooks[notebook] != "(no tab)", opened_notebooks
    assert not re.search(r"\bjp-mod-dirty\b", opened_notebooks[notebook]), opened_notebooks[notebook]


def test_the_kernels_started_side_by_side_ran_on_ipc(opened_notebooks: dict[str, str], jupyterlab: JupyterLab) -> None:
    """On TCP one of them could lose a port race (``Address already in use``) and never answer."""
    log = jupyterlab.log.read_text(errors="replace")
    assert log.count("Kernel started") >= len(NOTEBOOKS)
    assert "without encryption" not in log and "Address already in use" not in log
