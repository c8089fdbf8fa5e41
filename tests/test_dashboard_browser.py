"""The dashboard in real Chromium against a real ``python -m dashboard`` (``panel serve``) process.

The server runs on a copy of a prepared home (reference data, a champion and its backup,
report runs); each test reads the outcome back from the store or the registry, not only from
the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.dashboard_support import (  # noqa: F401 (fixtures)
    DashboardServer,
    PreparedHome,
    chromium_launch_args,
    copy_home,
    prepared_template,
    serve_dashboard,
)

pytestmark = pytest.mark.browser
TIMEOUT_MS = 20_000


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """pytest-playwright uses the system Chromium (STACK.md trap 16)."""
    return chromium_launch_args(browser_type_launch_args)


@pytest.fixture(scope="module")
def home(prepared_template: PreparedHome, tmp_path_factory: pytest.TempPathFactory) -> PreparedHome:  # noqa: F811
    return copy_home(prepared_template, tmp_path_factory.mktemp("browser") / "home")


@pytest.fixture(scope="module")
def server(home: PreparedHome) -> Iterator[DashboardServer]:
    with serve_dashboard(home.settings.home) as running:
        yield running


@pytest.fixture
def app(page: Page, server: DashboardServer) -> Page:
    """The dashboard's first page, loaded and connected."""
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)  # a shared 2-core machine is slow at times
    page.goto(server.url)
    expect(page.get_by_role("button", name="Predict", exact=True)).to_be_visible()
    return page


def open_page(page: Page, name: str) -> None:
    page.locator(".bk-tab", has_text=name).click()


def predict(page: Page) -> int:
    """Press Predict and return the id the prediction was logged under."""
    page.get_by_role("button", name="Predict", exact=True).click()
    expect(page.locator(".mp-result")).to_contain_text("Estimated probability of depression")
    logged = page.locator(".mp-result p", has_text="logged as prediction")
    return int(re.search(r"prediction #(\d+)", logged.inner_text()).group(1))


def store_for(home: PreparedHome):
    from mindpulse.store import Store

    return Store.from_settings(home.settings)


def test_filling_the_form_shows_a_probability(app: Page, home: PreparedHome) -> None:
    app.get_by_label("Age (years)").fill("21")
    app.get_by_label("Ever had suicidal thoughts?").select_option("Yes")
    prediction_id = predict(app)

    result = app.locator(".mp-result")
    expect(result).to_contain_text(re.compile(r"Estimated probability of depression: \d+% \((0\.\d{3}|1\.000)\)"))
    expect(result).to_contain_text(f"Model version {home.champion}")
    expect(app.locator(".mp-disclaimer").first).to_contain_text("screening aid, not a diagnosis")
    logged = store_for(home).recent_predictions(10)
    assert prediction_id in set(logged["prediction_id"])


def test_an_invalid_field_shows_its_message(app: Page) -> None:
    age = app.get_by_label("Age (years)")
    age.fill("12")
    age.press("Tab")
    app.get_by_role("button", name="Predict", exact=True).click()
    expect(app.get_by_text("Got 12; expected a whole number from 15 to 100.")).to_be_visible()
    expect(app.locator(".mp-result")).to_be_hidden()


def test_feedback_submitted_in_the_page_is_in_the_store(app: Page, home: PreparedHome) -> None:
    prediction_id = predict(app)
    open_page(app, "Feedback")
    expect(app.get_by_text(f"Your latest prediction: #{prediction_id}")).to_be_visible()
    app.get_by_role("button", name="Depressed (1)").click()
    app.get_by_role("button", name="Save outcome").click()
    expect(app.get_by_text(f"Saved: prediction #{prediction_id}")).to_be_visible()

    pending = store_for(home).production_frame()
    assert pending.loc[pending["prediction_id"] == prediction_id, "depression"].tolist() == [1]


def test_an_uploaded_csv_gets_a_validation_summary(app: Page, home: PreparedHome) -> None:
    prediction_id = predict(app)
    open_page(app, "Feedback")
    outcomes = f"prediction_id,Depression\n{prediction_id},0\n999999,1\n"
    app.locator("input[type=file]").set_input_files(
        files=[{"name": "outcomes.csv", "mimeType": "text/csv", "buffer": outcomes.encode()}])
    expect(app.get_by_text(re.compile(r"outcomes.csv \(\d+ bytes\) is ready"))).to_be_visible()  # the file reached the server
    app.get_by_role("button", name="Import outcomes").click()
    expect(app.get_by_text("outcomes.csv: 1 of 2 outcomes accepted")).to_be_visible()
    expect(app.get_by_role("gridcell", name="999999")).to_be_visible()  # the rejected row, by line and field

    pending = store_for(home).production_frame()
    assert pending.loc[pending["prediction_id"] == prediction_id, "depression"].tolist() == [0]


def test_a_report_opens_and_its_html_loads_in_the_iframe(app: Page, home: PreparedHome, server: DashboardServer) -> None:
    open_page(app, "Reports")
    app.get_by_label("Report run").select_option(index=0)
    app.get_by_role("button", name="Open", exact=True).click()
    frame = app.locator("iframe").first
    expect(frame).to_have_attribute("src", re.compile(r"^\./reports/"))
    # The report's own document loaded from the static route (not through the websocket).
    inner = app.frame_locator("iframe").first
    expect(inner.locator("body")).to_contain_text(re.compile("Drift|Dataset|Column", re.I), timeout=30_000)


def test_rolling_back_changes_the_champion(app: Page, home: PreparedHome) -> None:
    from mindpulse.registry import ModelRegistry

    registry = ModelRegistry.from_settings(home.settings)
    before = registry.champion().version
    open_page(app, "Models")
    app.get_by_role("button", name="Roll back…").click()
    expect(app.get_by_text("Make")).to_be_visible()
    assert registry.champion().version == before  # not until confirmed
    app.get_by_role("button", name="Confirm rollback").click()
    expect(app.get_by_text("The champion is now")).to_be_visible()
    after = registry.champion().version
    assert after != before
    expect(app.locator(".mp-champion")).to_contain_text(after)

    open_page(app, "Predict")  # predictions use the new champion at once
    predict(app)
    expect(app.locator(".mp-result")).to_contain_text(f"Model version {after}")
