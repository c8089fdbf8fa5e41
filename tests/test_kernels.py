"""Notebook tasks start their kernels on IPC: no TCP port to race for, no plain-text warning in task logs."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import papermill as pm

from mindpulse.kernels import IPCKernelManager, socket_folder


def test_a_notebook_runs_on_ipc_sockets_that_are_gone_afterwards(tmp_path: Path, capfd) -> None:
    source, executed = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("import os; print(sorted(os.listdir(%r)))" % socket_folder())]
    nbformat.write(notebook, source)
    before = set(os.listdir(socket_folder()))

    pm.execute_notebook(str(source), str(executed), kernel_name="python3", progress_bar=False,
                        kernel_manager_class=IPCKernelManager)

    # While it ran, the kernel's five sockets (shell, iopub, stdin, control, heartbeat) were files there.
    listed = nbformat.read(executed, as_version=4).cells[0].outputs[0]["text"]
    assert listed.count("-") - str(sorted(before)).count("-") >= 5, listed
    assert set(os.listdir(socket_folder())) == before  # removed at shutdown
    assert "without encryption" not in capfd.readouterr().err
    assert oct(os.stat(socket_folder()).st_mode & 0o777) == "0o700"


def test_a_kernel_is_shut_down_without_an_interrupt_but_can_still_be_interrupted() -> None:
    """An interrupt at shutdown made ipykernel log 'KeyboardInterrupt caught in kernel' at error level."""
    import asyncio
    import signal

    sent: list[int] = []
    polls: list[float] = []

    class Recording(IPCKernelManager):
        async def _async_signal_kernel(self, signum: int) -> None:
            sent.append(signum)
            await super()._async_signal_kernel(signum)

        async def _async_wait(self, pollinterval: float = 0.1) -> None:
            polls.append(pollinterval)
            await super()._async_wait(pollinterval=pollinterval)

    async def run() -> None:
        manager = Recording(kernel_name="python3")
        await manager.start_kernel()
        try:
            await manager.interrupt_kernel()  # an interrupt asked for still reaches the kernel
            assert sent == [signal.SIGINT]
        finally:
            await manager.shutdown_kernel()
        assert not await manager.is_alive()

    # On a thread of its own: a browser test run earlier in this process may leave an event loop
    # running in the main thread (Playwright's sync API), where asyncio.run() refuses to start.
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, run()).result()
    assert sent == [signal.SIGINT]  # nothing more at shutdown
    # The shutdown checked every 10 ms whether the kernel had exited (jupyter_client: every 0.1 s).
    assert polls and set(polls) == {0.01}, polls


# --- waiting for a new kernel -------------------------------------------------------------------

class _Channel:
    """A channel that hands out scripted messages; ``Empty`` when the script says the wait timed out."""

    def __init__(self, script: list) -> None:
        self.script, self.reads = list(script), 0

    async def get_msg(self, timeout: float | None = None) -> dict:
        from queue import Empty

        self.reads += 1
        if not self.script:
            raise AssertionError("read past what the kernel sent: the client waited for silence")
        item = self.script.pop(0)
        if item is Empty:
            raise Empty
        return item


def _scripted_client(shell: list, iopub: list):
    from mindpulse.kernels import IPCKernelClient

    class Scripted(IPCKernelClient):
        shell_channel = property(lambda self: self._shell)
        iopub_channel = property(lambda self: self._iopub)

        def kernel_info(self) -> str:
            self.asked += 1
            return f"info-{self.asked}"

        async def is_alive(self) -> bool:
            return True

    client = Scripted()
    client._shell, client._iopub, client.asked = _Channel(shell), _Channel(iopub), 0
    return client


def _reply(msg_id: str) -> dict:
    return {"msg_type": "kernel_info_reply", "parent_header": {"msg_id": msg_id}, "content": {"protocol_version": "5.3"}}


def _status(state: str, msg_id: str) -> dict:
    return {"msg_type": "status", "parent_header": {"msg_id": msg_id}, "content": {"execution_state": state}}


def _wait(client) -> None:
    import asyncio

    with ThreadPoolExecutor(1) as thread:  # see the shutdown test above for why a thread
        thread.submit(asyncio.run, client.wait_for_ready(timeout=5)).result()


def test_a_new_kernel_is_ready_once_its_kernel_info_went_idle_without_waiting_for_silence() -> None:
    """jupyter_client's client read IOPub until it was silent for 0.2 s: every step waited that long."""
    from queue import Empty

    client = _scripted_client([_reply("info-1")], [_status("starting", "other"), _status("busy", "info-1"),
                                                   _status("idle", "info-1")])
    _wait(client)  # a fourth IOPub read would fail the scripted channel
    assert client.asked == 1 and client._iopub.reads == 3

    # IOPub still joining (the request's status messages lost): asked again, as jupyter_client does.
    client = _scripted_client([_reply("info-1"), Empty, _reply("info-2")],
                              [Empty, _status("busy", "info-2"), _status("idle", "info-2")])
    _wait(client)
    assert client.asked == 3 and not client._shell.script and not client._iopub.script

    # A kernel slow between the request's busy and idle (a loaded machine) is waited for, not asked again.
    client = _scripted_client([_reply("info-1")], [_status("busy", "info-1"), Empty, Empty, _status("idle", "info-1")])
    _wait(client)
    assert client.asked == 1 and not client._iopub.script


def test_the_pipeline_kernel_manager_hands_out_that_client() -> None:
    from mindpulse.kernels import IPCKernelClient

    assert type(IPCKernelManager(kernel_name="python3").client()) is IPCKernelClient


def test_a_kernel_that_never_answers_is_named_with_what_the_client_saw() -> None:
    import asyncio
    from queue import Empty

    client = _scripted_client([Empty], [])
    with ThreadPoolExecutor(1) as thread:
        failure = thread.submit(asyncio.run, client.wait_for_ready(timeout=0)).exception()
    assert str(failure) == "Kernel didn't respond in 0 seconds (kernel_info asked 1 times, 0 replies, 0 IOPub messages)"
