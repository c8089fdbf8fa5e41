"""``mindpulse ARGS`` run in the test's own process, as the installed binary runs it.

The command-line tests call the Typer app the ``mindpulse`` script calls, with the environment a
user's shell would give it (only ``MINDPULSE_HOME`` and what the test adds) and the home as the
working folder. Each call starts from fresh settings; the test's own ``MINDPULSE_*`` variables
and folder are restored afterwards. A command that ends in an exception instead of a clean
error fails the test with its traceback: users never see a traceback.

In-process saves an interpreter start and the imports of pandas, pandera and scikit-learn on
every call (1.5-2.5 s of CPU each on 2 cores). The script itself (its entry point, a fresh
process's environment) is exercised by the tests that start it as a subprocess: the round trip,
the platform tests and the fuzz suite's ``mindpulse binary`` cases.
"""

from __future__ import annotations

import os
import subprocess
import traceback
from pathlib import Path

from typer.testing import CliRunner

from mindpulse.settings import get_settings

_RUNNER = CliRunner()


def invoke(*args: str, home: Path, env: dict[str, str] | None = None, stdin: bytes | str | None = None,
           cwd: Path | None = None, check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``mindpulse ARGS`` with ``MINDPULSE_HOME=home`` (plus ``env``) in ``cwd`` (default: home).

    Returns what ``subprocess.run(..., text=True, capture_output=True)`` would; with ``check`` a
    non-zero exit fails the test with the command's output.
    """
    from mindpulse.cli import app

    saved = {k: v for k, v in os.environ.items() if k.startswith("MINDPULSE_")}
    for name in saved:
        del os.environ[name]
    folder = os.getcwd()
    os.chdir(cwd or home)
    get_settings.cache_clear()
    try:
        result = _RUNNER.invoke(app, list(args), input=stdin, env={"MINDPULSE_HOME": str(home), **(env or {})},
                                catch_exceptions=True)
    finally:
        os.chdir(folder)
        os.environ.update(saved)
        get_settings.cache_clear()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        trace = "".join(traceback.format_exception(result.exception))
        raise AssertionError(f"mindpulse {' '.join(a[:60] for a in args)} crashed:\n{trace}")
    if check and result.exit_code != 0:
        raise AssertionError(f"mindpulse {' '.join(a[:60] for a in args)} exited {result.exit_code}:\n"
                             f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return subprocess.CompletedProcess(["mindpulse", *args], result.exit_code, result.stdout, result.stderr)
