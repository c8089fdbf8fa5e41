"""Model cards in real Chromium: the Models page links each version's card, and the card renders offline.

The dashboard is a real ``python -m dashboard`` on a copy of a prepared home (a champion, its
backup and a version the gate refused, each registered by ``train_and_gate``, which wrote
their cards). Every request the browser makes is seen by a route guard: anything not to the
dashboard's own host is blocked and fails the test.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

from dashboard_support import DashboardServer, PreparedHome, session_cookie

pytestmark = pytest.mark.browser
TIMEOUT_MS = 30_000
SECTIONS = ("Intended use and its limits", "Training data", "Quality", "Per-group metrics (fixed holdout)",
            "Against the champion: the gate's verdict", "Known limits", "Code, libraries and seed")


@pytest.fixture(scope="module")
def home(dashboard_home: PreparedHome) -> PreparedHome:
    """The module's copy of the prepared home (a champion, its backup and a refused version)."""
    return dashboard_home


@pytest.fixture(scope="module")
def server(dashboard_server: DashboardServer) -> DashboardServer:
    return dashboard_server


def guard_requests(page: Page) -> tuple[list[str], list[str]]:
    """Block every request that leaves 127.0.0.1; returns (blocked, every request seen)."""
    blocked: list[str] = []
    seen: list[str] = []

    def guard(route) -> None:
        url = route.request.url
        seen.append(url)
        if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    page.context.route("**/*", guard)
    return blocked, seen


def card_on_disk(home: PreparedHome, version: str) -> dict:
    from mindpulse.registry import ModelRegistry

    return json.loads((ModelRegistry.from_settings(home.settings).get(version).path / "model_card.json").read_text())


def test_the_models_page_links_each_card_and_the_card_renders_offline(page: Page, server: DashboardServer,
                                                                       home: PreparedHome) -> None:
    blocked, seen = guard_requests(page)
    page.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    page.goto(server.url, timeout=60_000)
    page.locator(".bk-tab", has_text="Models").click()
    champion_link = page.locator(".mp-champion").get_by_role("link", name="Model card")
    expect(champion_link).to_be_visible()
    # The table links every kept version's card (the column's cells are Tabulator links).
    for version in (home.champion, home.backup, home.refused):
        expect(page.locator(f"a[href$='/model-cards/{version}.html']").first).to_be_attached()

    before = len(seen)
    champion_link.click()
    page.wait_for_url(re.compile(rf"/model-cards/{home.champion}\.html$"))
    page.wait_for_load_state("load")
    for heading in SECTIONS:
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name=f"Model card · {home.champion}")).to_be_visible()
    expect(page.locator("#intended-use .aid")).to_contain_text("A screening aid, never a diagnosis.")
    expect(page.locator("#help")).to_contain_text("crisis line")
    card = card_on_disk(home, home.champion)
    expect(page.locator("#status")).to_have_text("champion")
    expect(page.locator("#verdict")).to_have_text(card["comparison"]["verdict"])
    expect(page.locator("#calibration-curve circle.bin")).to_have_count(len(card["quality"]["calibration"]["bins"]))
    box = page.locator("#calibration-curve").bounding_box()
    assert box is not None and box["width"] >= 200 and box["height"] >= 200, box  # the figure is drawn
    assert page.locator("#group-metrics tr").count() == len(card["groups"]["groups"]) + 1
    page.wait_for_timeout(1_000)  # late requests count too
    card_requests = seen[before:]
    assert [u for u in card_requests if "/model-cards/" not in u] == [], card_requests  # the card loads nothing else
    assert blocked == [], "\n".join(blocked)


def test_the_refused_versions_card_says_why_in_words(page: Page, server: DashboardServer, home: PreparedHome) -> None:
    blocked, _ = guard_requests(page)
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{server.root}/model-cards/{home.refused}.html")
    card = card_on_disk(home, home.refused)
    assert card["comparison"]["verdict"].startswith("refused: ")
    expect(page.locator("#verdict")).to_have_text(card["comparison"]["verdict"])
    expect(page.locator("#status")).to_have_text("refused")
    expect(page.locator("#training-data")).to_contain_text("shuffled labels (demonstrates a refusal)")
    assert blocked == []


def test_a_card_needs_a_signed_in_reader_and_a_known_version(server: DashboardServer, home: PreparedHome) -> None:
    url = f"{server.root}/model-cards/{home.champion}.html"
    anonymous = httpx.get(url, timeout=30)
    assert anonymous.status_code == 403 and "sign in" in anonymous.text and "Model card" not in anonymous.text
    viewer = httpx.get(url, cookies=session_cookie("viewer"), timeout=30)
    assert viewer.status_code == 200 and f"Model card · <code>{home.champion}</code>" in viewer.text
    assert viewer.headers["content-security-policy"].startswith("default-src 'none'")
    unknown = httpx.get(f"{server.root}/model-cards/v0099-20260101T000000Z.html", cookies=session_cookie("viewer"),
                        timeout=30)
    assert unknown.status_code == 404 and "v0099-20260101T000000Z" in unknown.text and home.champion in unknown.text
