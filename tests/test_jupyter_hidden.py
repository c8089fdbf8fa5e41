"""JupyterLab's file browser does not show notebooks/conftest.py (nbval's configuration)."""

from __future__ import annotations

from pathlib import Path

import yaml

from mindpulse.platform.components import JUPYTER_HIDE_GLOBS, jupyter_hide_flags
from mindpulse.kernels import socket_folder

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


def test_both_jupyterlabs_start_their_kernels_on_ipc() -> None:
    """Over TCP, kernels started side by side could race for a port (``Address already in use``)."""
    from mindpulse.platform.components import JUPYTERLAB_KERNEL_FLAG, jupyterlab_command
    from mindpulse.jupyter_kernels import IPCServerKernelManager
    from traitlets.utils.importstring import import_item

    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    assert JUPYTERLAB_KERNEL_FLAG in compose["services"]["jupyterlab"]["command"]
    assert JUPYTERLAB_KERNEL_FLAG in jupyterlab_command(8888, REPO_ROOT / "notebooks", "token")
    assert import_item(JUPYTERLAB_KERNEL_FLAG.split("=", 1)[1]) is IPCServerKernelManager
    manager = IPCServerKernelManager()
    assert manager.transport == "ipc" and manager.ip.startswith(socket_folder())
