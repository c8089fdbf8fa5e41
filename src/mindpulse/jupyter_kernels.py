"""The kernel manager of MindPulse's JupyterLab: its kernels on IPC, as the pipeline's.

Over TCP, jupyter_client picks free ports for a kernel's five channels and the kernel binds them a
moment later: JupyterLab restoring several notebooks at once starts their kernels side by side,
and one of them could find a port taken in between (``ZMQError: Address already in use``), a
kernel that never answers. On IPC each kernel has its own socket files, in the same private
folder as the pipeline's kernels (:func:`mindpulse.kernels.socket_prefix`), removed at shutdown;
and the kernel's log no longer carries "running over TCP without encryption".

Selected by ``jupyter lab`` option :data:`mindpulse.platform.components.JUPYTERLAB_KERNEL_FLAG` (what
``mindpulse platform run`` and docker-compose.yml start).
"""

from __future__ import annotations

from jupyter_server.services.kernels.kernelmanager import ServerKernelManager
from traitlets import default

from mindpulse.kernels import socket_prefix


class IPCServerKernelManager(ServerKernelManager):
    """Jupyter Server's kernel manager, on the IPC transport with one socket prefix per kernel."""

    transport = "ipc"

    @default("ip")
    def _ip_default(self) -> str:
        return socket_prefix()
