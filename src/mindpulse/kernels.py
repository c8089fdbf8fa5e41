"""The kernel manager the pipeline's notebook tasks start their kernels with.

Kernels talk to Papermill over IPC (Unix sockets in a private folder) instead of TCP on
loopback. Over TCP every task log carried ipykernel's "running over TCP without encryption"
warning at error level, and a kernel's start could race another process for a port that
jupyter_client had bound and released (a retried task then hid it). Socket files are removed
when the kernel shuts down.

A kernel is shut down without the interrupt jupyter_client sends first: Papermill shuts a kernel
down once its notebook has finished, and an interrupt that landed while the kernel still handled
a message made ipykernel log "KeyboardInterrupt caught in kernel" at error level in a successful
task's log.

Under the embedded Airflow, kernels are forked warm from its zygote (:mod:`mindpulse.kernel_zygote`)
instead of started cold; elsewhere, and whenever the zygote cannot, they start the usual way.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from traitlets import default

from mindpulse import kernel_zygote


def socket_folder() -> str:
    """A folder only this user can enter (sockets of concurrent kernels live side by side in it)."""
    folder = os.path.join(tempfile.gettempdir(), f"mindpulse-kernels-{os.getuid()}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return folder


class IPCKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` (nbclient's default) on the IPC transport, one socket prefix per kernel."""

    transport = "ipc"

    @default("ip")
    def _ip_default(self) -> str:
        return os.path.join(socket_folder(), uuid.uuid4().hex)

    async def _async_pre_start_kernel(self, **kw: Any) -> Any:
        # Under the embedded Airflow, kernels are forked warm from its zygote (mindpulse.kernel_zygote).
        if self.provisioner is None and kernel_zygote.address():
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
            self.provisioner = kernel_zygote.ZygoteProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec,
                                                               parent=self)
        return await super()._async_pre_start_kernel(**kw)

    async def _async_interrupt_kernel(self) -> None:
        """Interrupt the kernel, except as the first step of a shutdown (see the module's docstring).

        The shutdown request itself goes over the control channel, which a busy kernel still
        answers; a kernel that does not stop in time is killed.
        """
        if self.shutting_down:
            return
        await super()._async_interrupt_kernel()

    interrupt_kernel = _async_interrupt_kernel
