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


# Hypothesis profiles for the fuzz suite (tests/test_fuzz_inputs.py). "ci" (the default) keeps
# `make test` to a bounded number of cases, the same ones every run (derandomized), so the suite's
# verdict depends on the code alone; `--hypothesis-profile=long` runs 14 times as many, new ones
# each time, to explore: a case it finds becomes a regression test.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ci", max_examples=100, deadline=None, database=None, print_blob=True,
                                      derandomize=True)
_hypothesis_settings.register_profile("long", max_examples=1400, deadline=None, database=None, print_blob=True)
_hypothesis_settings.load_profile("ci")


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ANN001
    """Print how many cases the fuzz suite generated, by input path."""
    import sys

    support = sys.modules.get("fuzz_support")
    if support is None or not support.CASES:
        return
    cases = support.CASES
    terminalreporter.write_line(
        f"Fuzz suite: {sum(cases.values())} generated cases across {len(cases)} input paths "
        f"(profile {config.getoption('hypothesis_profile', None) or 'ci'}): "
        + ", ".join(f"{path} {n}" for path, n in sorted(cases.items())))
