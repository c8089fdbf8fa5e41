"""Kernels forked warm from the zygote behave as launched ones: same argv, environment, folder,
stderr; interrupted and shut down the same way; they die with their task and not with the zygote;
they import the project's code afresh; a dead zygote is started again; and a missing or refusing
zygote falls back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import papermill as pm
import pytest
from nbclient.exceptions import CellTimeoutError

from mindpulse import kernel_zygote
from mindpulse.kernels import IPCKernelManager


def probe_notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nb, path)
    return path


def run(source: Path, tmp_path: Path, **kwargs) -> nbformat.NotebookNode:
    output = tmp_path / "out.ipynb"
    return pm.execute_notebook(str(source), str(output), parameters={"x": 2}, kernel_name="python3", progress_bar=False,
                               kernel_manager_class=IPCKernelManager, **kwargs)


def text(nb: nbformat.NotebookNode, cell: int) -> str:
    """The printed text of code cell ``cell`` of the probe (1: the first after the parameters)."""
    cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    return "".join(out.get("text", "") for out in cells[cell].outputs)


@pytest.fixture(scope="module")
def zygote(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zygote")
    before = os.environ.get(kernel_zygote.ENV_VAR)
    with open(folder / "stderr", "wb") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "mindpulse.kernel_zygote", "--socket", str(folder / "z.sock")],
                                   stderr=stderr)
    deadline = time.monotonic() + 180
    while not (folder / "z.sock").exists():
        assert process.poll() is None and time.monotonic() < deadline, "the zygote did not come up"
        time.sleep(0.1)
    os.environ[kernel_zygote.ENV_VAR] = str(folder / "z.sock")
    yield process
    os.environ.pop(kernel_zygote.ENV_VAR)
    if before is not None:
        os.environ[kernel_zygote.ENV_VAR] = before
    process.terminate()
    process.wait(30)
    assert not (folder / "z.sock").exists(), "a stopped zygote removes its socket"


def test_the_zygote_preloads_every_module_quietly(zygote) -> None:
    """It writes to the scheduler's log: a module it cannot preload, or an import's warning, would show there."""
    assert (Path(os.environ[kernel_zygote.ENV_VAR]).parent / "stderr").read_text() == ""


def test_a_forked_kernel_is_warm_and_sees_the_callers_environment_and_folder(zygote, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MINDPULSE_PROBE", "from the task")
    source = probe_notebook(tmp_path / "probe.ipynb", "import gc, os, sys\n"
                            "print(os.getppid(), 'evidently' in sys.modules, gc.get_freeze_count(), "
                            "os.environ.get('MINDPULSE_PROBE'), os.getcwd(), x, sep='|')")
    nb = run(source, tmp_path, cwd=str(tmp_path))

    parent, warm, frozen, env, cwd, x = text(nb, 1).strip().split("|")
    assert int(parent) == zygote.pid  # forked by the zygote, not launched by this process
    assert warm == "True"  # the notebooks' libraries were imported before the fork
    # ... and frozen: the kernel's garbage collector does not walk (and copy) the zygote's objects
    assert int(frozen) > 100_000, frozen
    assert (env, cwd, x) == ("from the task", str(tmp_path), "2")  # the caller's environment and folder, the parameters


@pytest.mark.parametrize("backend", [None, "agg"])
def test_a_forked_kernel_has_the_steps_modules_and_the_matplotlib_backend_a_launched_one_has(
        zygote, tmp_path, monkeypatch, backend) -> None:
    """Matplotlib is imported in the zygote (the figures); it reads MPLBACKEND when imported, so a
    forked kernel must still get the backend its own environment (or ipykernel's default) names."""
    if backend:
        monkeypatch.setenv("MPLBACKEND", backend)
    else:
        monkeypatch.delenv("MPLBACKEND", raising=False)
    source = probe_notebook(tmp_path / "probe.ipynb", "import os, sys\n"
                            "loaded = all(m in sys.modules for m in ('sqlalchemy', 'alembic.command', 'matplotlib.figure'))\n"
                            "import matplotlib\nprint(os.getppid(), loaded, matplotlib.rcParams['backend'], sep='|')")
    forked_parent, preloaded, forked_backend = text(run(source, tmp_path), 1).strip().split("|")
    assert int(forked_parent) == zygote.pid and preloaded == "True"

    monkeypatch.setenv(kernel_zygote.ENV_VAR, str(tmp_path / "no-such.sock"))  # a kernel launched the usual way
    launched_parent, _, launched_backend = text(run(source, tmp_path), 1).strip().split("|")
    assert int(launched_parent) == os.getpid()
    assert forked_backend == launched_backend == (backend or kernel_zygote.INLINE_BACKEND)


def test_the_kernels_stderr_reaches_the_callers_stderr(zygote, tmp_path) -> None:
    # A task's log is its stderr: what a kernel writes there must still reach it.
    source = probe_notebook(tmp_path / "probe.ipynb", "import sys\nsys.__stderr__.write('kernel says hello\\n'); sys.__stderr__.flush()")
    code = ("import papermill as pm; from mindpulse.kernels import IPCKernelManager; "
            f"pm.execute_notebook({str(source)!r}, {str(tmp_path / 'o.ipynb')!r}, kernel_name='python3', progress_bar=False, "
            "kernel_manager_class=IPCKernelManager)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "kernel says hello" in done.stderr
    assert "Ctrl-C will not work" not in done.stdout + done.stderr  # started as a launched kernel, not as `ipython kernel`


def test_a_cell_over_its_timeout_interrupts_the_forked_kernel_and_nothing_is_left_running(zygote, tmp_path) -> None:
    source = probe_notebook(tmp_path / "slow.ipynb", "import os\nprint(os.getpid())", "import time\ntime.sleep(120)")
    with pytest.raises(CellTimeoutError):
        run(source, tmp_path, execution_timeout=3)
    nb = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    kernel = int(text(nb, 1))
    deadline = time.monotonic() + 30
    while Path(f"/proc/{kernel}").exists() and Path(f"/proc/{kernel}/status").read_text().find("State:\tZ") < 0:
        assert time.monotonic() < deadline, f"kernel {kernel} still running after its notebook failed"
        time.sleep(0.2)


def test_a_kernel_the_zygote_does_not_know_is_refused(zygote, tmp_path) -> None:
    with pytest.raises(kernel_zygote.ZygoteRefused, match="not a kernel this zygote starts"):
        kernel_zygote.request_kernel(os.environ[kernel_zygote.ENV_VAR], ["/bin/sh", "-c", "true"], env=dict(os.environ),
                                     cwd=str(tmp_path))


def test_without_a_zygote_kernels_start_the_usual_way(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(kernel_zygote.ENV_VAR, str(tmp_path / "no-such.sock"))
    source = probe_notebook(tmp_path / "probe.ipynb", "import os\nprint(os.getppid())")
    nb = run(source, tmp_path)
    assert int(text(nb, 1)) == os.getpid()  # launched by this process


def test_a_zygote_follows_its_parent_out(tmp_path) -> None:
    # The scheduler that started it exits: the zygote exits too, and removes its socket.
    code = ("import os, subprocess, sys, time; "
            f"p = subprocess.Popen([sys.executable, '-m', 'mindpulse.kernel_zygote', '--socket', {str(tmp_path / 'z.sock')!r}, '--parent', str(os.getpid())], "
            "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
            "print(p.pid, flush=True)")
    parent = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    child = int(parent.stdout.split()[0])
    deadline = time.monotonic() + 240
    while Path(f"/proc/{child}").exists():
        assert time.monotonic() < deadline, "the zygote outlived its parent"
        time.sleep(0.5)
    assert not (tmp_path / "z.sock").exists()


def test_a_forked_kernel_holds_no_module_of_the_project_so_an_edit_reaches_the_next_kernel(zygote, tmp_path) -> None:
    """The zygote runs mindpulse.kernel_zygote (so it has ``mindpulse`` imported) and preloads only
    libraries: a kernel it forks starts with no ``mindpulse`` module and imports the package from disk."""
    source = probe_notebook(tmp_path / "probe.ipynb", "import os, sys\n"
                            "print(os.getppid(), sorted(m for m in sys.modules if m.split('.')[0] == 'mindpulse'), sep='|')")
    parent, inherited = text(run(source, tmp_path), 1).strip().split("|")
    assert int(parent) == zygote.pid
    assert inherited == "[]"
    assert not [m for m in kernel_zygote.KERNEL_MODULES if m.split(".")[0] == "mindpulse"]


def test_an_edited_module_is_seen_by_the_next_forked_kernel(zygote, tmp_path, monkeypatch) -> None:
    """The same zygote, two kernels, a module of the project changed in between: the second sees the change."""
    import mindpulse

    package = tmp_path / "code" / "mindpulse"  # a copy of the package, edited between the two kernels
    import shutil

    shutil.copytree(Path(mindpulse.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("PYTHONPATH", str(package.parent))
    source = probe_notebook(tmp_path / "probe.ipynb", "import os, mindpulse.dag_ids as d\nprint(os.getppid(), d.__file__, d.EDIT_PROBE, sep='|')")
    for edit in ("first", "second"):
        (package / "dag_ids.py").write_text((Path(mindpulse.__file__).parent / "dag_ids.py").read_text()
                                            + f"\nEDIT_PROBE = {edit!r}\n")
        parent, path, seen = text(run(source, tmp_path), 1).strip().split("|")
        assert int(parent) == zygote.pid and path == str(package / "dag_ids.py")
        assert seen == edit


TASK = """
import papermill as pm, sys
from mindpulse.kernels import IPCKernelManager
pm.execute_notebook(sys.argv[1], sys.argv[2], kernel_name="python3", progress_bar=False, kernel_manager_class=IPCKernelManager)
"""


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _start_task(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen, int, int]:
    """A task process running a notebook whose kernel starts a child and then works for minutes;
    returns the task, the kernel's pid and its child's, once the kernel is at work."""
    pids = tmp_path / "pids"
    source = probe_notebook(tmp_path / "long.ipynb", "import os, subprocess, time\n"
                            "child = subprocess.Popen(['sleep', '300'])\n"
                            f"open({str(pids)!r} + '.tmp', 'w').write(f'{{os.getpid()}} {{child.pid}}'); "
                            f"os.replace({str(pids)!r} + '.tmp', {str(pids)!r})\n"
                            "time.sleep(300)")
    task = subprocess.Popen([sys.executable, "-c", TASK, str(source), str(tmp_path / "out.ipynb")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not pids.exists():
        assert task.poll() is None and time.monotonic() < deadline, "the task's kernel did not start"
        time.sleep(0.1)
    kernel, child = map(int, pids.read_text().split())
    return task, kernel, child


def _gone_within(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [pid for pid in pids if _alive(pid)]


def test_a_forked_kernel_and_what_it_started_die_with_their_task(zygote, tmp_path) -> None:
    """Seen: the Airflow task was killed and its kernel, forked by the zygote, went on to register and promote."""
    task, kernel, child = _start_task(tmp_path, dict(os.environ))
    import psutil

    assert psutil.Process(kernel).ppid() == zygote.pid  # forked, not the task's child
    task.kill()
    task.wait(10)
    assert _gone_within([kernel, child], 5) == []
    assert zygote.poll() is None  # the zygote goes on serving


def test_a_kernel_started_the_usual_way_dies_with_its_task(tmp_path) -> None:
    env = {**os.environ, kernel_zygote.ENV_VAR: str(tmp_path / "no-such.sock")}
    task, kernel, _ = _start_task(tmp_path, env)
    import psutil

    assert psutil.Process(kernel).ppid() == task.pid
    task.kill()
    task.wait(10)
    assert _gone_within([kernel], 5) == []  # ipykernel's parent poller (JPY_PARENT_PID from jupyter_client)


def _own_zygote(folder: Path) -> kernel_zygote.Zygote:
    owner = kernel_zygote.Zygote(folder)
    owner.start()
    deadline = time.monotonic() + 180
    while not Path(owner.path).exists():
        assert owner.process.poll() is None and time.monotonic() < deadline, "the zygote did not come up"
        time.sleep(0.1)
    return owner


def test_a_forked_kernel_outlives_the_zygote_and_its_task_finishes(tmp_path, monkeypatch) -> None:
    """Seen: killing the zygote mid-step made its kernel exit ("Parent appears to have exited") though its task was alive."""
    before = os.environ.get(kernel_zygote.ENV_VAR)
    owner = _own_zygote(tmp_path)
    try:
        source = probe_notebook(tmp_path / "probe.ipynb", "import os, time\n"
                                f"open({str(tmp_path / 'kernel')!r}, 'w').write(str(os.getpid())); time.sleep(4)",
                                "print(os.getpid())")
        task = subprocess.Popen([sys.executable, "-c", TASK, str(source), str(tmp_path / "out.ipynb")],
                                env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while not (tmp_path / "kernel").exists():
            assert task.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        owner.process.kill()
        owner.process.wait()
        _, err = task.communicate(timeout=120)
        assert task.returncode == 0, err[-2000:]
        nb = __import__("nbformat").read(tmp_path / "out.ipynb", as_version=4)
        assert text(nb, 2).strip() == (tmp_path / "kernel").read_text()  # the same kernel ran to the end
        assert b"Parent appears to have exited" not in err
    finally:
        owner.process.kill()
        owner.process.wait()
        os.environ.pop(kernel_zygote.ENV_VAR, None)
        if before is not None:
            os.environ[kernel_zygote.ENV_VAR] = before


def test_a_dead_zygote_is_reaped_its_socket_removed_and_it_is_started_again(tmp_path) -> None:
    before = os.environ.get(kernel_zygote.ENV_VAR)
    owner = _own_zygote(tmp_path)
    try:
        assert owner.check() is None  # alive: nothing to do
        first = owner.process.pid
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while (news := owner.check()) is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert f"kernel zygote {first} exited (-9)" in news
        assert not Path(f"/proc/{first}").exists()  # reaped: no zombie left
        assert owner.process.pid != first and os.environ[kernel_zygote.ENV_VAR] == owner.path
        deadline = time.monotonic() + 180
        while not Path(owner.path).exists():
            assert owner.process.poll() is None and time.monotonic() < deadline, "the new zygote did not come up"
            time.sleep(0.1)
        pid = kernel_zygote.request_kernel(owner.path, [sys.executable, "-m", "ipykernel_launcher", "--version"],
                                           env=dict(os.environ), cwd=str(tmp_path))
        assert pid > 0  # the new one forks kernels
    finally:
        owner.process.kill()
        owner.process.wait()
        os.environ.pop(kernel_zygote.ENV_VAR, None)
        if before is not None:
            os.environ[kernel_zygote.ENV_VAR] = before


def test_a_zygote_that_keeps_dying_is_given_up_and_its_socket_removed(tmp_path) -> None:
    before = os.environ.get(kernel_zygote.ENV_VAR)
    owner = kernel_zygote.Zygote(tmp_path)
    try:
        news = []
        for _ in range(kernel_zygote.Zygote.GIVE_UP_AFTER):
            owner.start()
            Path(owner.path).touch()  # as a killed zygote leaves its socket
            owner.process.kill()
            owner.process.wait()
            news.append(owner.check())
        assert "given up" in news[-1] and owner.abandoned
        assert not Path(owner.path).exists() and owner.check() is None
    finally:
        if owner.process.poll() is None:
            owner.process.kill()
            owner.process.wait()
        os.environ.pop(kernel_zygote.ENV_VAR, None)
        if before is not None:
            os.environ[kernel_zygote.ENV_VAR] = before
