"""nbval runs every pipeline notebook on its default parameters against a small prepared home.

The home (3,000 reference rows, a champion trained on them, 1,200 labelled production rows in
the SQLite store, some with exam-season drift) is made once per session in a temporary folder,
and ``MINDPULSE_HOME`` points at it while the notebooks run: each kernel nbval starts inherits
the environment of this process. Tests outside ``notebooks/`` never see it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent
_state: dict[str, object] = {}


def _prepared_home() -> Path:
    if "home" not in _state:
        from mindpulse.pipeline import prepare_demo_home
        from mindpulse.settings import Settings
        from mindpulse.store import migrate_store

        home = Path(tempfile.mkdtemp(prefix="mindpulse-nbval-"))
        settings = Settings(home=home, notebooks_dir=NOTEBOOKS)
        migrate_store(settings)  # the deploy step
        prepare_demo_home(settings, reference_rows=3_000, days=4,
                          rows_per_day=300, drift_days=2, seed=7)
        _state["home"] = home
    return _state["home"]  # type: ignore[return-value]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before a notebook's kernel starts, point MINDPULSE_* at the prepared home."""
    if NOTEBOOKS not in Path(str(item.path)).resolve().parents:
        _restore_environ()
        return
    _point_at_prepared_home()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """After each notebook cell, the environment is the suite's again: this file's hooks run for the
    items of notebooks/ only, so a test of tests/ that the same worker runs next would otherwise see
    the prepared home. (The kernel keeps the environment it started with.)"""
    _restore_environ()


def _point_at_prepared_home() -> None:
    if "environ" not in _state:
        _state["environ"] = {k: v for k, v in os.environ.items() if k.startswith("MINDPULSE_")}
    for name in [k for k in os.environ if k.startswith("MINDPULSE_")]:
        del os.environ[name]
    os.environ["MINDPULSE_HOME"] = str(_prepared_home())
    os.environ["MINDPULSE_NOTEBOOKS_DIR"] = str(NOTEBOOKS)


def _restore_environ() -> None:
    if "environ" in _state:
        for name in [k for k in os.environ if k.startswith("MINDPULSE_")]:
            del os.environ[name]
        os.environ.update(_state.pop("environ"))  # type: ignore[arg-type]


def pytest_sessionfinish(session: pytest.Session) -> None:
    _restore_environ()
    home = _state.pop("home", None)
    if home:
        shutil.rmtree(home, ignore_errors=True)  # type: ignore[arg-type]
