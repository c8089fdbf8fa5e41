"""The dashboard in real Chromium against a real ``python -m dashboard`` (``panel serve``) process.

The server runs on a copy of a prepared home (reference data, a champion and its backup,
report runs); each test reads the outcome back from the store or the registry, not only from
the page.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from dashboard_support import DashboardServer, PreparedHome, open_page, wait_until_idle

pytestmark = pytest.mark.browser
TIMEOUT_MS = 20_000


@pytest.fixture(autouse=True)
def server_threads_on_failure(request: pytest.FixtureRequest, dashboard_server: DashboardServer) -> Iterator[None]:
    """After a failed test, the server's output with every thread's stack (it dumps them on SIGUSR1):
    what a page left waiting on the server was waiting for."""
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed and dashboard_server.process.poll() is None:
        seen = len(dashboard_server.log)
        os.kill(dashboard_server.process.pid, signal.SIGUSR1)
        time.sleep(2)
        print("dashboard server output (last 60 lines before the dump), then its threads:")
        print("\n".join(dashboard_server.log[max(0, seen - 60):]))


@pytest.fixture
def app(page: Page, dashboard_server: DashboardServer, request: pytest.FixtureRequest) -> Iterator[Page]:
    """The dashboard's first page, loaded and connected; after a failed test, what the page's
    console said (a Bokeh error applying an update would show there)."""
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"page error: {error}"))
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)  # a shared 2-core machine is slow at times
    page.goto(dashboard_server.url, timeout=60_000)  # a session's first page builds every view
    expect(page.get_by_role("button", name="Predict", exact=True)).to_be_visible()
    wait_until_idle(page)
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print("browser console (last 40 messages):", *console[-40:], sep="\n  ")


def predict(page: Page) -> int:
    """Press Predict and return the id the prediction was logged under."""
    page.get_by_role("button", name="Predict", exact=True).click()
    try:
        expect(page.locator(".mp-result")).to_contain_text("Estimated probability of depression")
    except AssertionError as error:  # name what the page said instead (an error message, or nothing at all)
        shown = [text.strip() for text in page.locator(".bk-panel-models-markup-HTML").all_inner_texts() if text.strip()]
        raise AssertionError(f"{error}\nThe page showed: {shown}") from None
    logged = page.locator(".mp-result p", has_text="logged as prediction")
    return int(re.search(r"prediction #(\d+)", logged.inner_text()).group(1))


def store_for(dashboard_home: PreparedHome):
    from mindpulse.store import Store

    return Store.from_settings(dashboard_home.settings)


def test_filling_the_form_shows_a_probability(app: Page, dashboard_home: PreparedHome) -> None:
    app.get_by_label("Age (years)").fill("21")
    app.get_by_label("Ever had suicidal thoughts?").select_option("Yes")
    prediction_id = predict(app)

    result = app.locator(".mp-result")
    expect(result).to_contain_text(re.compile(r"Estimated probability of depression: \d+% \((0\.\d{3}|1\.000)\)"))
    expect(result).to_contain_text(f"Model version {dashboard_home.champion}")
    expect(app.locator(".mp-disclaimer").first).to_contain_text("screening aid, not a diagnosis")
    logged = store_for(dashboard_home).recent_predictions(10)
    assert prediction_id in set(logged["prediction_id"])


def test_the_form_starts_on_a_student_the_model_scores_below_half(app: Page, dashboard_home: PreparedHome) -> None:
    from dashboard.stores.predict import form_defaults

    defaults = form_defaults(dashboard_home.settings)
    assert defaults["suicidal_thoughts"] == "No"
    expect(app.get_by_label("Ever had suicidal thoughts?")).to_have_value("No")
    expect(app.get_by_label("Age (years)")).to_have_value(str(defaults["age"]))
    expect(app.get_by_label("Academic pressure (0-5)")).to_have_value(str(defaults["academic_pressure"]))
    predict(app)
    # Below 50 %: one digit, or two starting with 0-4 (the text is inside Bokeh's shadow DOM).
    expect(app.locator(".mp-result")).to_contain_text(re.compile(r"Estimated probability of depression: [0-4]?\d% \("))


def test_an_invalid_field_shows_its_message(app: Page) -> None:
    age = app.get_by_label("Age (years)")
    age.fill("12")
    age.press("Tab")
    app.get_by_role("button", name="Predict", exact=True).click()
    expect(app.get_by_text("Got 12; expected a whole number from 15 to 100.")).to_be_visible()
    expect(app.locator(".mp-result")).to_be_hidden()
    # The field itself is marked (red frame), and the message at the button names it.
    expect(age).to_have_css("border-top-color", "rgb(176, 0, 32)")
    expect(app.get_by_text("Please correct the highlighted field(s): Age (years).")).to_be_visible()
    expect(app.get_by_label("CGPA (0-10)")).not_to_have_css("border-top-color", "rgb(176, 0, 32)")

    age.fill("30")
    age.press("Tab")
    predict(app)
    expect(age).not_to_have_css("border-top-color", "rgb(176, 0, 32)")  # cleared once valid


def test_age_takes_whole_years_only(app: Page, dashboard_home: PreparedHome) -> None:
    age = app.get_by_label("Age (years)")
    age.fill("20.5")
    age.press("Tab")
    prediction_id = predict(app)
    logged = store_for(dashboard_home).recent_predictions(50)
    stored = float(logged.loc[logged["prediction_id"] == prediction_id, "age"].iloc[0])
    assert stored == int(stored), stored  # a whole number of years is what is stored


def test_pressing_again_on_unchanged_answers_logs_nothing(app: Page, dashboard_home: PreparedHome) -> None:
    app.get_by_label("Age (years)").fill("23")
    app.get_by_label("Age (years)").press("Tab")
    first = predict(app)
    before = len(store_for(dashboard_home).recent_predictions(1000))
    for _ in range(2):
        assert predict(app) == first
    expect(app.locator(".mp-result")).to_contain_text(f"already logged as prediction #{first}")
    assert len(store_for(dashboard_home).recent_predictions(1000)) == before


def test_the_model_is_loaded_when_the_server_starts(dashboard_server: DashboardServer, dashboard_home: PreparedHome) -> None:
    """The first press is as fast as later ones: the champion is loaded before any browser comes."""
    assert any("warmed up" in line and dashboard_home.champion in line for line in dashboard_server.log), dashboard_server.log[-20:]


def test_feedback_submitted_in_the_page_is_in_the_store(app: Page, dashboard_home: PreparedHome) -> None:
    prediction_id = predict(app)
    open_page(app, "Feedback")
    expect(app.get_by_text(f"Your latest prediction: #{prediction_id}")).to_be_visible()
    app.get_by_role("button", name="Depressed (1)").click()
    app.get_by_role("button", name="Save outcome").click()
    expect(app.get_by_text(f"Saved: prediction #{prediction_id}")).to_be_visible()

    pending = store_for(dashboard_home).production_frame()
    assert pending.loc[pending["prediction_id"] == prediction_id, "depression"].tolist() == [1]


def test_an_uploaded_csv_gets_a_validation_summary(app: Page, dashboard_home: PreparedHome) -> None:
    prediction_id = predict(app)
    open_page(app, "Feedback")
    outcomes = f"prediction_id,Depression\n{prediction_id},0\n999999,1\n"
    app.locator("input[type=file]").set_input_files(
        files=[{"name": "outcomes.csv", "mimeType": "text/csv", "buffer": outcomes.encode()}])
    expect(app.get_by_text(re.compile(r"outcomes.csv \(\d+ bytes\) is ready"))).to_be_visible()  # the file reached the server
    app.get_by_role("button", name="Import outcomes").click()
    expect(app.get_by_text("outcomes.csv: 1 of 2 outcomes accepted")).to_be_visible()
    expect(app.get_by_role("gridcell", name="999999")).to_be_visible()  # the rejected row, by line and field

    pending = store_for(dashboard_home).production_frame()
    assert pending.loc[pending["prediction_id"] == prediction_id, "depression"].tolist() == [0]


def test_a_wrong_csv_header_names_both_accepted_forms_and_what_the_file_has(app: Page, dashboard_home: PreparedHome) -> None:
    open_page(app, "Feedback")
    app.locator("input[type=file]").set_input_files(
        files=[{"name": "mine.csv", "mimeType": "text/csv", "buffer": b"id,outcome\n1,0\n"}])
    expect(app.get_by_text(re.compile(r"mine.csv \(\d+ bytes\) is ready"))).to_be_visible()
    app.get_by_role("button", name="Import outcomes").click()
    message = app.get_by_text("mine.csv: its header has id, outcome, which fits neither accepted form")
    expect(message).to_be_visible()
    expect(message).to_contain_text("prediction_id,Depression")
    expect(message).to_contain_text("labelled survey rows")
    expect(app.get_by_text("expected a column named exactly 'Study Satisfaction'")).to_have_count(0)  # no wall of red


def test_a_conflicting_outcome_points_to_the_pages_own_checkbox_and_the_bar_shows_pending_rows(
        app: Page, dashboard_home: PreparedHome) -> None:
    prediction_id = predict(app)
    open_page(app, "Feedback")
    app.get_by_role("button", name="Depressed (1)").click()
    app.get_by_role("button", name="Save outcome").click()
    expect(app.get_by_text(f"Saved: prediction #{prediction_id}")).to_be_visible()
    bar = app.get_by_role("progressbar")
    expect(bar).to_contain_text(re.compile(r"^[1-9]\d* of 1,000$"))
    fill = app.locator(".mp-pending-fill")
    assert fill.bounding_box()["width"] > 0  # not an empty grey box

    app.get_by_role("button", name="Not depressed (0)").click()
    app.get_by_role("button", name="Save outcome").click()
    expect(app.get_by_text("tick “This corrects an outcome recorded before” and save again")).to_be_visible()
    expect(app.get_by_text("--correct")).to_have_count(0)


def test_a_report_opens_and_its_html_loads_in_the_iframe(app: Page, dashboard_home: PreparedHome, dashboard_server: DashboardServer) -> None:
    open_page(app, "Reports")
    app.get_by_label("Report run").select_option(index=0)
    app.get_by_role("button", name="Open", exact=True).click()
    frame = app.locator("iframe").first
    expect(frame).to_have_attribute("src", re.compile(r"^\./reports/"))
    # The report's own document loaded from the static route (not through the websocket).
    inner = app.frame_locator("iframe").first
    expect(inner.locator("body")).to_contain_text(re.compile("Drift|Dataset|Column", re.I), timeout=30_000)


def test_the_reports_page_opens_on_the_run_its_picker_names(app: Page) -> None:
    open_page(app, "Reports")
    picker = app.get_by_label("Report run")
    expect(picker.locator("option:checked")).to_contain_text("scheduled__2026-11-25")  # not blank
    expect(app.get_by_text(re.compile(r"evidently_reporting_pipeline / scheduled__2026-11-25.* rows 600 "))).to_be_visible()
    expect(app.frame_locator("iframe").first.locator("body")).to_contain_text(re.compile("Drift|Dataset|Column", re.I),
                                                                           timeout=30_000)


def test_the_models_page_shows_four_decimals_and_the_whole_data_column(app: Page, dashboard_home: PreparedHome) -> None:
    from mindpulse.registry import ModelRegistry

    open_page(app, "Models")
    champion = ModelRegistry.from_settings(dashboard_home.settings).champion()
    expect(app.locator(".mp-champion")).to_contain_text(f"holdout ROC-AUC {champion.metric('holdout', 'roc_auc'):.4f}")
    expect(app.get_by_role("gridcell", name=f"{champion.metric('holdout', 'roc_auc'):.4f}").first).to_be_visible()
    cell = app.get_by_role("gridcell", name="shuffled labels (demonstrates a refusal)")
    expect(cell).to_be_visible()
    whole = "e => e.scrollWidth <= e.clientWidth + 1 && e.getBoundingClientRect().right <= window.innerWidth"
    # Tabulator lays the columns out again after it renders: wait for the final layout.
    app.wait_for_function(whole, arg=cell.element_handle(), timeout=TIMEOUT_MS)  # times out if it stays cut off


def test_rolling_back_changes_the_champion(app: Page, dashboard_home: PreparedHome) -> None:
    from mindpulse.registry import ModelRegistry

    registry = ModelRegistry.from_settings(dashboard_home.settings)
    before = registry.champion().version
    open_page(app, "Models")
    app.get_by_role("button", name="Roll back…").click()
    expect(app.get_by_text("the champion instead of")).to_be_visible()
    assert registry.champion().version == before  # not until confirmed
    app.get_by_role("button", name="Confirm rollback").click()
    expect(app.get_by_text("The champion is now")).to_be_visible()
    after = registry.champion().version
    assert after != before
    expect(app.locator(".mp-champion")).to_contain_text(after)

    open_page(app, "Predict")  # predictions use the new champion at once
    predict(app)
    expect(app.locator(".mp-result")).to_contain_text(f"Model version {after}")


def test_no_page_asks_an_outside_host_and_the_icons_render(page: Page, dashboard_server: DashboardServer) -> None:
    """Offline (a school network, a laptop on a train): every request stays on the dashboard's own host."""
    outside: list[str] = []

    def guard(route) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).hostname == "127.0.0.1":
            route.continue_()
        else:  # what an offline machine would fail to load
            outside.append(url)
            route.abort()

    page.context.route("**/*", guard)  # the context's route also sees the iframes' requests
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    page.goto(dashboard_server.url, timeout=60_000)
    icon = page.get_by_role("button", name="Predict", exact=True).locator("svg")
    expect(icon).to_be_visible()
    box = icon.bounding_box()
    assert box is not None and box["width"] >= 12 and box["height"] >= 12, box

    for name, heading in (("Feedback", "Outcomes"), ("Trends", "Trends"), ("Models", "Models"),
                          ("Pipelines", "Pipelines"), ("Reports", "Reports")):
        open_page(page, name)
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    page.get_by_label("Report run").select_option(index=0)
    page.get_by_role("button", name="Open", exact=True).click()
    frames = page.frame_locator("iframe")
    expect(frames.first.locator("body")).to_contain_text(re.compile("Drift|Dataset|Column", re.I), timeout=30_000)
    notebook_tab = page.locator(".bk-tab", has_text="Notebook: data drift report")
    notebook_tab.click()
    notebook = page.frame_locator("iframe[title='data drift report']")
    expect(notebook.locator("body")).to_contain_text("Production rows against the reference data", timeout=30_000)
    page.wait_for_timeout(2_000)  # late requests (stylesheets of updated components) count too
    assert outside == [], "\n".join(outside)
