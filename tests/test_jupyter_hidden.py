"""JupyterLab's file browser does not show notebooks/conftest.py (nbval's configuration)."""

from __future__ import annotations

from pathlib import Path

import yaml

from mindpulse.commands.platform import JUPYTER_HIDE_GLOBS, jupyter_hide_flags

REPO_ROOT = Path(__file__).resolve().parents[1]


def _listed(flags: list[str]) -> set[str]:
    """What Jupyter Server's contents manager lists in notebooks/ when started with ``flags``."""
    from jupyter_server.serverapp import ServerApp
    from jupyter_server.services.contents.filemanager import FileContentsManager

    app = ServerApp()
    app.parse_command_line(flags)
    manager = FileContentsManager(root_dir=str(REPO_ROOT / "notebooks"), config=app.config)
    return {entry["name"] for entry in manager.get("", content=True)["content"]}


def test_the_platforms_jupyterlab_hides_conftest_but_not_the_notebooks() -> None:
    assert "conftest.py" in _listed([])  # what the file browser showed before
    listed = _listed(jupyter_hide_flags())
    assert "conftest.py" not in listed
    assert {"retrain", "reporting"} <= listed


def test_the_compose_jupyterlab_hides_the_same_files() -> None:
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    command = compose["services"]["jupyterlab"]["command"]
    assert [arg for arg in command if arg.startswith("--ContentsManager.hide_globs=")] == jupyter_hide_flags()
    assert "conftest.py" in JUPYTER_HIDE_GLOBS
