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

    class Recording(IPCKernelManager):
        async def _async_signal_kernel(self, signum: int) -> None:
            sent.append(signum)
            await super()._async_signal_kernel(signum)

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
