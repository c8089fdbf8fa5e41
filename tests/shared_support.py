"""Folders a test run builds once and its xdist workers share.

``make test`` runs the suite on several xdist workers; a session fixture runs once per worker, so
a template they all need (a demo home, a migrated Airflow database, the dashboard's prepared
home) would be built once by each. :func:`built_once` builds it in the run's own temporary
folder, the parent of the workers' ones, under a file lock: the first worker to ask builds it,
the others wait for it and reuse it. Without xdist the folder is the session's own.

What is built there is a template: tests copy it before changing anything.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock


def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The temporary folder of this test run, shared by its xdist workers (each has a subfolder)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """``run_folder/shared-<name>``, made by ``build(folder)`` once per test run.

    A build that raised leaves no completion mark: the next caller starts again from an empty
    folder (and gets the error itself if it happens again).
    """
    folder = run_folder(tmp_path_factory) / f"shared-{name}"
    built = folder.with_name(f"{folder.name}.built")  # beside it: a copy of the folder holds only what was built
    with FileLock(f"{folder}.lock"):
        if not built.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            build(folder)
            built.touch()
    return folder


def migrated(settings):  # type: ignore[no-untyped-def]
    """``settings`` after its store was migrated, as the deploy step (``mindpulse store migrate``) does."""
    from mindpulse.store import migrate_store

    migrate_store(settings)
    return settings
