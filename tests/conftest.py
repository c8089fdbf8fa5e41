"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections import Counter

import pytest


# The suite's shared fixtures live in tests/fixtures/ (one module per concern) and are plugins:
# a test module uses them by name, without importing them.
pytest_plugins = ["fixtures.homes", "fixtures.services", "fixtures.dashboard", "fixtures.tiers"]


# Hypothesis profiles for the fuzz suite (tests/test_fuzz_inputs.py). "ci" (the default) keeps
# `make test` to a bounded number of cases, the same ones every run (derandomized), so the suite's
# verdict depends on the code alone; `--hypothesis-profile=long` runs 14 times as many, new ones
# each time, to explore: a case it finds becomes a regression test.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ci", max_examples=100, deadline=None, database=None, print_blob=True,
                                      derandomize=True)
_hypothesis_settings.register_profile("long", max_examples=1400, deadline=None, database=None, print_blob=True)
_hypothesis_settings.load_profile("ci")


def _fuzz_cases() -> Counter[str]:
    import sys

    support = sys.modules.get("fuzz_support")
    return Counter(support.CASES) if support is not None else Counter()


_worker_cases: Counter[str] = Counter()  # the xdist workers' counts, summed in the controller


def pytest_sessionfinish(session: pytest.Session) -> None:
    """An xdist worker hands its fuzz counts to the controller (which prints the summary)."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["fuzz_cases"] = dict(_fuzz_cases())


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:  # noqa: ANN001 - an xdist hook, called in the controller
    _worker_cases.update(getattr(node, "workeroutput", {}).get("fuzz_cases", {}))


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ANN001
    """Print how many cases the fuzz suite generated, by input path (in this process or its xdist workers)."""
    cases = _fuzz_cases() + _worker_cases
    if not cases:
        return
    terminalreporter.write_line(
        f"Fuzz suite: {sum(cases.values())} generated cases across {len(cases)} input paths "
        f"(profile {config.getoption('hypothesis_profile', None) or 'ci'}): "
        + ", ".join(f"{path} {n}" for path, n in sorted(cases.items())))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):  # noqa: ANN001, ANN201
    """Keep each phase's report on the test (``item.rep_call``) for fixtures that add evidence on failure."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


# Modules whose tests start real services first (those with the most such tests before the others),
# then the browser ones, then those that train: `make test` runs the suite on two xdist workers,
# file by file in this order (--dist loadfile --no-loadscope-reorder), so the long modules do not
# end up alone at the tail while the other worker idles. The order within a module is untouched.
_SLOWEST_FIRST = ("airflow", "browser", "slow")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    marks: dict[str, list[int]] = {}
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        rank = next((i for i, name in enumerate(_SLOWEST_FIRST) if item.get_closest_marker(name)), len(_SLOWEST_FIRST))
        marks.setdefault(module, []).append(rank)
    key = {module: (min(ranks), -ranks.count(min(ranks))) for module, ranks in marks.items()}
    items.sort(key=lambda item: key[item.nodeid.split("::", 1)[0]])
