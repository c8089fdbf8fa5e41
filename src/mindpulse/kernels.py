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
Either way a kernel dies with the process that started it (the task), and it is told that
process (:mod:`mindpulse.fencing`), so it commits nothing once its task has ended.

Papermill waits for a new kernel with its client's ``wait_for_ready``. jupyter_client's ends by
reading IOPub until nothing came for 0.2 s, so every notebook step waited at least 0.2 s doing
nothing before its first cell. :class:`IPCKernelClient` instead reads IOPub up to the status
``idle`` that closes its own kernel_info request: the same messages are consumed, with no wait
beyond their arrival. Its shutdown likewise checks every 10 ms, not every 0.1 s, whether the kernel
has exited. ~0.3 s less per step, all of it waiting.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from queue import Empty
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from traitlets import DottedObjectName, Type, default

from mindpulse import fencing, kernel_zygote


def socket_folder() -> str:
    """A folder only this user can enter (sockets of concurrent kernels live side by side in it)."""
    folder = os.path.join(tempfile.gettempdir(), f"mindpulse-kernels-{os.getuid()}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return folder


def socket_prefix() -> str:
    """A new kernel's IPC socket prefix: its own name in :func:`socket_folder`."""
    return os.path.join(socket_folder(), uuid.uuid4().hex)


#: How long IOPub may stay silent after a kernel_info reply before the client asks again (as
#: jupyter_client's check that IOPub is connected: a subscription still joining misses messages).
IOPUB_SILENCE = 0.2
#: How often a shutdown checks whether the kernel has exited (jupyter_client: 0.1 s, so a kernel
#: that exits in a few milliseconds was waited for 0.1 s).
SHUTDOWN_POLL = 0.01


class IPCKernelClient(AsyncKernelClient):
    """nbclient's async client, whose ``wait_for_ready`` returns as soon as the kernel has answered."""

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        """Ask for kernel_info until the reply comes on the shell channel and its status messages on IOPub.

        As jupyter_client's: IOPub counts as connected once it carries the request's status
        messages, otherwise the client asks again; the errors are the same. The difference is the
        end: IOPub is read up to the ``idle`` of the answered request, not until it has been
        silent for 0.2 s.
        """
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        seen = {"asked": 0, "replies": 0, "iopub": 0}  # named in the error: a kernel that never answered, or IOPub
        while True:
            self.kernel_info()
            seen["asked"] += 1
            try:
                reply = await self.shell_channel.get_msg(timeout=1)
            except Empty:
                reply = None
            if reply is not None and reply["msg_type"] == "kernel_info_reply":
                seen["replies"] += 1
                if await self._iopub_idle(reply["parent_header"].get("msg_id"), deadline, seen):
                    self._handle_kernel_info_reply(reply)
                    return
            if not await self.is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds (kernel_info asked {seen['asked']} "
                                   f"times, {seen['replies']} replies, {seen['iopub']} IOPub messages)")

    async def _iopub_idle(self, msg_id: str | None, deadline: float, seen: dict[str, int]) -> bool:
        """Read IOPub up to the ``idle`` status of request ``msg_id``; False if it stayed silent first.

        Once a message of that request has come, IOPub is connected and its ``idle`` will follow
        (a busy kernel may take a while): only the deadline ends that wait.
        """
        joined = False
        while time.monotonic() <= deadline:
            wait = min(1.0, deadline - time.monotonic()) if joined else IOPUB_SILENCE
            try:
                message = await self.iopub_channel.get_msg(timeout=max(wait, 0.001))
            except Empty:
                if joined:
                    continue
                return False
            seen["iopub"] += 1
            if message["parent_header"].get("msg_id") == msg_id:
                joined = True
                if message["msg_type"] == "status" and message["content"].get("execution_state") == "idle":
                    return True
        return False


class IPCKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` (nbclient's default) on the IPC transport, one socket prefix per kernel."""

    transport = "ipc"
    client_class = DottedObjectName("mindpulse.kernels.IPCKernelClient")
    client_factory = Type(klass=IPCKernelClient)  # AsyncKernelManager names its client class in both

    @default("ip")
    def _ip_default(self) -> str:
        return socket_prefix()

    async def _async_pre_start_kernel(self, **kw: Any) -> Any:
        # The kernel commits only while this process (the task) lives: mindpulse.fencing.
        kw["env"] = {**kw.get("env", os.environ), fencing.ENV_VAR: fencing.token()}
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

    async def _async_finish_shutdown(self, waittime: float | None = None, pollinterval: float = SHUTDOWN_POLL,
                                     restart: bool = False) -> None:
        """jupyter_client's, checking every 10 ms (not 100) whether the kernel has exited."""
        await super()._async_finish_shutdown(waittime=waittime, pollinterval=pollinterval, restart=restart)
