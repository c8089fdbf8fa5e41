"""Every name and text a user or a file supplies is shown literally on every page, in real Chromium.

The home is a prepared one with markup planted wherever a page shows a string it did not write
itself: a report run folder's name, the fields of run summaries, a model version's metadata, a
logged prediction's text fields, an uploaded CSV's name, header and cells. Each plant is an image
whose ``onerror`` opens a dialog numbered by where it was planted; the test fails on any dialog,
and checks that the markup reads on the page as the text it is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from dashboard_support import DashboardServer, PreparedHome, open_page, wait_until_idle

pytestmark = pytest.mark.browser
TIMEOUT_MS = 20_000


def plant(where: int) -> str:
    """Markup that opens dialog ``where`` if a page renders it as HTML (no '/': it is a folder name too)."""
    return f"<img src=x onerror=alert({where})>"


RUN_FOLDER = plant(1)  # a run folder's name (its run id, as no summary names one)
# The outcome is one of the contract's words (mindpulse.steps.RunSummary: a summary with another is
# unreadable and shown without its figures); the free-text fields carry the planted markup.
SUMMARY = {"outcome": "reported", "drift_status": plant(3), "reference_scored_by": plant(4),
           "version": plant(5), "created_at": "2030-01-01T00:00:00+00:00"}
MODEL = {"name": plant(6), "source": plant(7), "refusal": plant(8) + " **not bold** [link](http://example.invalid)"}
PROFESSION = plant(9)[:64]
UPLOAD = {"name": plant(10) + ".csv", "header": plant(11), "cell": plant(12)}


@pytest.fixture(scope="module")
def dashboard_home(dashboard_home: PreparedHome) -> PreparedHome:
    """The module's home, with markup planted wherever a page shows a stored value."""
    from mindpulse import runs
    from mindpulse.registry import ModelRegistry
    from mindpulse.store import Store

    prepared = dashboard_home
    settings = prepared.settings
    folder = Path(settings.reports_dir) / "evidently_reporting_pipeline" / RUN_FOLDER
    folder.mkdir(parents=True)
    (folder / runs.SUMMARY_NAME).write_text(json.dumps({  # no run_id: the folder's name is the run's name
        "dag_id": "evidently_reporting_pipeline", "created_at": SUMMARY["created_at"], "outcome": SUMMARY["outcome"],
        "rows": 10, "models": {"current_rows_by_version": {SUMMARY["version"]: 10},
                               "reference_scored_by": SUMMARY["reference_scored_by"]},
    }))
    (folder / "data_drift.json").write_text(json.dumps({"status": SUMMARY["drift_status"], "share": 0.5, "rows": 10}))

    registry = ModelRegistry.from_settings(settings)
    for version, change in ((prepared.backup, {"model": {"name": MODEL["name"]}, "data": {"source": MODEL["source"]}}),
                            (prepared.refused, {"refusal_reason": MODEL["refusal"]})):
        path = registry.get(version).path / "metadata.json"
        metadata = json.loads(path.read_text())
        for key, value in change.items():
            metadata[key] = {**metadata.get(key, {}), **value} if isinstance(value, dict) else value
        path.write_text(json.dumps(metadata))

    record = {"Gender": "Male", "Age": 20, "City": "Delhi", "Profession": PROFESSION, "Academic Pressure": 4,
              "CGPA": 7.2, "Study Satisfaction": 2, "Sleep Duration": "5-6 hours", "Dietary Habits": "Moderate",
              "Degree": "BSc", "Have you ever had suicidal thoughts ?": "Yes", "Work/Study Hours": 9,
              "Financial Stress": "?", "Family History of Mental Illness": "No"}
    with Store.from_settings(settings) as store:
        store.log_prediction(record, probability=0.5, label=0, model_version=prepared.champion)
    return prepared


@pytest.fixture
def app(page: Page, dashboard_server: DashboardServer) -> Iterator[tuple[Page, list[str]]]:
    """The dashboard, with every dialog a planted script would open recorded (and dismissed)."""
    dialogs: list[str] = []

    def record(dialog) -> None:  # noqa: ANN001
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    page.goto(dashboard_server.url, timeout=60_000)
    expect(page.get_by_role("button", name="Predict", exact=True)).to_be_visible()
    wait_until_idle(page)
    yield page, dialogs


def no_planted_script_ran(page: Page, dialogs: list[str]) -> None:
    page.wait_for_timeout(500)  # an image's error fires once its (failed) load is noticed
    assert dialogs == [], f"planted scripts ran: dialogs {dialogs}"
    assert page.locator("img[src=x]").count() == 0


def shows_literally(page: Page, text: str) -> None:
    expect(page.get_by_text(text, exact=False).filter(visible=True).first).to_be_visible()


def test_reports_and_trends_show_run_names_and_summary_fields_literally(app) -> None:
    page, dialogs = app
    open_page(page, "Reports")
    expect(page.locator(".tabulator-cell", has_text=RUN_FOLDER).first).to_be_visible()
    picker = page.get_by_role("combobox", name="Report run")
    picker.select_option(label=picker.locator("option", has_text=RUN_FOLDER).inner_text())
    wait_until_idle(page)
    for text in (RUN_FOLDER, SUMMARY["drift_status"], SUMMARY["version"], SUMMARY["reference_scored_by"]):
        shows_literally(page, text)
    no_planted_script_ran(page, dialogs)

    open_page(page, "Trends")
    expect(page.locator(".tabulator-cell", has_text=RUN_FOLDER).first).to_be_visible()
    no_planted_script_ran(page, dialogs)


def test_models_show_metadata_text_literally(app) -> None:
    page, dialogs = app
    open_page(page, "Models")
    for text in (MODEL["name"], MODEL["source"]):
        shows_literally(page, text)
    expect(page.locator(".tabulator-cell", has_text=plant(8)).first).to_contain_text("**not bold** [link]")
    no_planted_script_ran(page, dialogs)


def test_an_uploaded_csvs_name_header_and_cells_show_literally(app) -> None:
    page, dialogs = app
    open_page(page, "Feedback")
    file_input = page.locator("input[type=file]")
    file_input.set_input_files(files=[{"name": UPLOAD["name"], "mimeType": "text/csv",
                                       "buffer": f"id,{UPLOAD['header']}\n1,0\n".encode()}])
    shows_literally(page, f"{UPLOAD['name']} (")
    page.get_by_role("button", name="Import outcomes").click()
    shows_literally(page, f"{UPLOAD['name']}: its header has id, {UPLOAD['header']}, which fits neither")
    no_planted_script_ran(page, dialogs)

    file_input.set_input_files(files=[{"name": "outcomes.csv", "mimeType": "text/csv",
                                       "buffer": f"prediction_id,Depression\n1,{UPLOAD['cell']}\n".encode()}])
    page.get_by_role("button", name="Import outcomes").click()
    expect(page.locator(".tabulator-cell", has_text=UPLOAD["cell"]).first).to_be_visible()
    no_planted_script_ran(page, dialogs)


def test_every_page_opens_without_running_a_planted_script(app) -> None:
    """The pages not visited above too (a logged prediction's Profession is in the store)."""
    page, dialogs = app
    for name in ("Predict", "Feedback", "Models", "Reports", "Trends", "Pipelines"):
        open_page(page, name)
        no_planted_script_ran(page, dialogs)
