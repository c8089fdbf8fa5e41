"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from mindpulse.settings import Settings, get_settings


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings whose home is a fresh temporary folder (also exported for subprocesses)."""
    for name in list(os.environ):
        if name.startswith("MINDPULSE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MINDPULSE_HOME", str(tmp_path))
    get_settings.cache_clear()
    from shared_support import migrated

    yield migrated(Settings(home=tmp_path))
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    """Browser pages start signed in to the test dashboards as their admin (tests of the sign-in
    itself open a fresh context); see ``dashboard_support.signed_in_context_args``."""
    from dashboard_support import signed_in_context_args

    return signed_in_context_args(browser_context_args)


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo home built once per test run (the xdist workers share it): 3,000 reference rows,
    a logistic-regression champion, 1,200 labelled production rows (the last 600 in exam season).
    Never change it: copy it (``shutil.copytree``) into the test's own folder first."""
    from mindpulse import pipeline
    from shared_support import built_once, migrated

    def build(home: Path) -> None:
        pipeline.prepare_demo_home(migrated(Settings(home=home)), reference_rows=3_000, seed=7, candidates=["logistic_regression"])

    return built_once(tmp_path_factory, "demo-home", build)


@pytest.fixture(scope="session")
def migrated_airflow(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An Airflow metadatabase (SQLite) migrated once per test run (the xdist workers share it); each
    test Airflow starts from a copy in its own AIRFLOW_HOME (`airflow db migrate` takes 6-15 s, a
    copy milliseconds)."""
    import airflow_support as af
    from shared_support import built_once

    home = built_once(tmp_path_factory, "airflow-template", lambda home: af.migrate(af.airflow_env(home)))
    return home / "airflow.db"


@pytest.fixture(scope="session")
def kernel_zygote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A kernel zygote (:mod:`mindpulse.kernel_zygote`) for this test process, as the embedded Airflow's
    executor starts one beside its scheduler: notebook kernels started with ``IPCKernelManager`` by a
    process whose environment holds the returned variable are forked from it, warm, instead of each
    importing pandas, scikit-learn and Evidently again (~4 s of CPU a notebook).

    Add the returned mapping to the environment of what runs the notebooks (``airflow dags test``,
    Papermill in this process). The zygote is ready (its modules imported) when this returns, and
    exits with this process.
    """
    import subprocess
    import sys
    import time

    from mindpulse.kernel_zygote import ENV_VAR

    path = tmp_path_factory.mktemp("kernel-zygote") / "zygote.sock"
    process = subprocess.Popen([sys.executable, "-m", "mindpulse.kernel_zygote", "--socket", str(path),
                                "--parent", str(os.getpid())], stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the kernel zygote did not come up (exit code {process.poll()})")
        time.sleep(0.05)
    yield {ENV_VAR: str(path)}
    process.terminate()
    process.wait(timeout=30)


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
