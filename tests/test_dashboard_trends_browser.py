"""The Trends page in real Chromium against a real ``python -m dashboard``, with the records of several runs."""

from __future__ import annotations


import pytest
from playwright.sync_api import Page, expect

from dashboard_support import DashboardServer, PreparedHome
from trends_support import REPORTING_RUNS, RETRAIN_RUNS, write_hand_run, write_runs

pytestmark = pytest.mark.browser
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def dashboard_home(dashboard_home: PreparedHome) -> PreparedHome:
    """The prepared home's two report runs, plus three reporting runs with estimates and three retrain runs."""
    write_runs(dashboard_home.settings.reports_dir)
    write_hand_run(dashboard_home.settings.reports_dir)  # a notebook rerun by hand: not a run of the pipeline
    return dashboard_home


def test_trends_page_plots_the_runs(page: Page, dashboard_server: DashboardServer, dashboard_home: PreparedHome) -> None:
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(dashboard_server.url)
    page.locator(".bk-tab", has_text="Trends").click()

    runs = len(dashboard_home.report_runs) + len(REPORTING_RUNS) + len(RETRAIN_RUNS)
    expect(page.locator(".mp-trends-summary")).to_contain_text(f"{runs} run(s) ({len(RETRAIN_RUNS)} retrain")
    for name in ("drift", "performance", "waiting", "champion"):
        plot = page.locator(f".mp-trend-{name}")
        expect(plot).to_be_visible()
        expect(plot.locator("canvas").first).to_be_attached()  # Bokeh drew it
        box = plot.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 150, (name, box)
    # The runs table lists every run, the newest retrain's champion among them.
    table = page.locator(".mp-trends-table")
    expect(table.locator(".tabulator-row")).to_have_count(runs)
    expect(table).to_contain_text("v0003-x")
    expect(table).not_to_contain_text("interactive")  # the hand run is not a trend point
    expect(table).to_contain_text("v0001-x")  # each figure names the model behind it
    text = " | ".join(table.locator(".tabulator-cell").all_text_contents())
    assert "1,100" in text and "1,100.0" not in text and "400.0" not in text  # row counts are whole numbers
    assert not errors, errors


def test_a_page_link_opens_that_page(page: Page, dashboard_server: DashboardServer) -> None:
    """`?page=Reports` opens the Reports tab (it used to open Predict), and opening a tab names it in the URL."""
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    page.goto(dashboard_server.url + "?page=Reports")
    expect(page.locator(".bk-tab.bk-active").first).to_have_text("Reports")
    expect(page.get_by_text("Each run of the reporting or retrain pipeline leaves Evidently reports")).to_be_visible()
    page.locator(".bk-tab", has_text="Trends").click()
    page.wait_for_url("**page=Trends**")
