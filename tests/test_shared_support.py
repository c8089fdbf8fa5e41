"""The folders a test run builds once for all its xdist workers (tests/shared_support.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared_support import built_once, run_folder


class _Factory:
    """The part of pytest's TempPathFactory that built_once uses, on a folder of this test."""

    def __init__(self, base: Path) -> None:
        self.base = base

    def getbasetemp(self) -> Path:
        return self.base


@pytest.fixture(autouse=True)
def _no_xdist(monkeypatch: pytest.MonkeyPatch) -> None:
    """The folders are this test's own, whether or not the suite runs on xdist workers."""
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)


def test_the_folder_is_built_once_and_then_reused(tmp_path: Path) -> None:
    calls: list[Path] = []

    def build(folder: Path) -> None:
        calls.append(folder)
        (folder / "made").write_text("once")

    factory = _Factory(tmp_path)
    first = built_once(factory, "template", build)
    second = built_once(factory, "template", build)
    assert first == second == calls[0] and len(calls) == 1
    assert (first / "made").read_text() == "once"
    assert sorted(p.name for p in first.iterdir()) == ["made"]  # the completion mark is not inside


def test_a_build_that_failed_is_started_again_from_an_empty_folder(tmp_path: Path) -> None:
    def broken(folder: Path) -> None:
        (folder / "half").write_text("written before the error")
        raise RuntimeError("the build failed")

    factory = _Factory(tmp_path)
    with pytest.raises(RuntimeError, match="the build failed"):
        built_once(factory, "template", broken)
    folder = built_once(factory, "template", lambda folder: (folder / "whole").write_text("ok"))
    assert sorted(p.name for p in folder.iterdir()) == ["whole"]


def test_xdist_workers_share_the_runs_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    worker = tmp_path / "popen-gw1"
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    assert run_folder(_Factory(worker)) == tmp_path
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert run_folder(_Factory(worker)) == worker
