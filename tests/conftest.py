"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from mindpulse.settings import Settings, get_settings


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings whose home is a fresh temporary folder (also exported for subprocesses)."""
    for name in list(__import__("os").environ):
        if name.startswith("MINDPULSE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MINDPULSE_HOME", str(tmp_path))
    get_settings.cache_clear()
    yield Settings(home=tmp_path)
    get_settings.cache_clear()
