"""Sign-in to the dashboard with MindPulse accounts: a real ``panel serve``, real HTTP, real Chromium."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Browser, expect

from mindpulse.accounts import Accounts
from mindpulse.audit import AuditTrail
from mindpulse.store import Store
from dashboard_support import PASSWORD, DashboardServer, PreparedHome, serve_dashboard, session_cookie

TIMEOUT_MS = 30_000


def store(dashboard_home: PreparedHome) -> Store:
    return Store.from_settings(dashboard_home.settings)


def client(dashboard_server: DashboardServer, **kwargs) -> httpx.Client:
    return httpx.Client(base_url=dashboard_server.root, timeout=60, follow_redirects=False, **kwargs)


def sign_in(session: httpx.Client, username: str, password: str, next_page: str = "/app") -> httpx.Response:
    form = session.get("/login", params={"next": next_page})
    token = re.search(r'name="_xsrf" value="([^"]+)"', form.text).group(1)
    return session.post("/login", data={"username": username, "password": password, "next": next_page, "_xsrf": token})


def test_the_page_and_the_reports_need_a_session(dashboard_server: DashboardServer, dashboard_home: PreparedHome) -> None:
    report = sorted(dashboard_home.settings.reports_dir.rglob("*.html"))[0].relative_to(dashboard_home.settings.reports_dir).as_posix()
    with client(dashboard_server) as anonymous:
        page = anonymous.get("/app")
        assert page.status_code == 302 and page.headers["location"].split("?")[0] in ("./login", "/login")
        refused = anonymous.get(f"/reports/{report}")
        assert refused.status_code in (302, 403) and "<html" not in refused.text.lower()
    with client(dashboard_server, cookies=session_cookie("viewer")) as viewer:
        assert viewer.get("/app").status_code == 200
        assert viewer.get(f"/reports/{report}").status_code == 200


def test_signing_in_sets_a_strict_httponly_cookie_and_checks_xsrf(dashboard_server: DashboardServer, dashboard_home: PreparedHome) -> None:
    with client(dashboard_server) as session:
        no_token = session.post("/login", data={"username": "admin", "password": PASSWORD})
        assert no_token.status_code == 403  # Tornado's XSRF check
        done = sign_in(session, "admin", PASSWORD)
        assert done.status_code == 302 and done.headers["location"] == "/app"
        cookie = next(v for k, v in done.headers.multi_items() if k == "set-cookie" and v.startswith("mindpulse_session="))
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert session.get("/app").status_code == 200
        out = session.get("/logout")
        assert out.status_code == 302 and session.get("/app").status_code == 302
    events = AuditTrail(store(dashboard_home)).events(actor="admin")
    assert [e.action for e in events[:2]] == ["sign_out", "sign_in"]


def test_sign_in_goes_back_only_to_a_page_of_this_server(dashboard_server: DashboardServer) -> None:
    with client(dashboard_server) as session:
        for target in ("//evil.example.org/", "https://evil.example.org/app", "javascript:alert(1)"):
            done = sign_in(session, "viewer", PASSWORD, next_page=target)
            assert done.status_code == 302 and done.headers["location"] == "/", target


def test_failed_sign_ins_are_refused_audited_and_rate_limited(dashboard_home: PreparedHome) -> None:
    with store(dashboard_home) as opened:
        Accounts(opened).add("limited", "viewer", PASSWORD)
    # A server of its own: the limit also counts failures per address, and every test signs in from 127.0.0.1.
    with serve_dashboard(dashboard_home.settings.home, env={"MINDPULSE_LOGIN_MAX_FAILURES": "3"}) as dashboard_server, client(dashboard_server) as session:
        statuses = [sign_in(session, "limited", "not the password").status_code for _ in range(3)]
        assert statuses == [401, 401, 401]
        blocked = sign_in(session, "limited", PASSWORD)
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
        assert "Too many failed sign-ins" in blocked.text
    refused = AuditTrail(store(dashboard_home)).events(actor="limited", action="sign_in", outcome="refused")
    assert len(refused) == 3 and refused[0].via == "dashboard"


def test_a_session_ends_when_its_password_changes_or_its_account_is_disabled(dashboard_server: DashboardServer, dashboard_home: PreparedHome) -> None:
    with store(dashboard_home) as opened:
        Accounts(opened).add("leaver", "counsellor", PASSWORD)
        Accounts(opened).add("rotated", "counsellor", PASSWORD)
    with client(dashboard_server) as leaver, client(dashboard_server) as rotated:
        assert sign_in(leaver, "leaver", PASSWORD).status_code == 302 and leaver.get("/app").status_code == 200
        assert sign_in(rotated, "rotated", PASSWORD).status_code == 302 and rotated.get("/app").status_code == 200
        with store(dashboard_home) as opened:
            Accounts(opened).disable("leaver")
            Accounts(opened).set_password("rotated", "a brand new password")
        assert leaver.get("/app").status_code == 302
        assert rotated.get("/app").status_code == 302


EXPECTED_TABS = {
    "viewer": ["Reports", "Trends", "Models", "Pipelines"],
    "counsellor": ["Predict", "Feedback", "Reports", "Trends", "Models", "Pipelines"],
    "admin": ["Predict", "Feedback", "Reports", "Trends", "Models", "Pipelines", "Audit"],
}


@pytest.mark.browser
@pytest.mark.parametrize("role", ["viewer", "counsellor", "admin"])
def test_each_role_signs_in_and_sees_only_what_it_may_use(browser: Browser, dashboard_server: DashboardServer, role: str) -> None:
    context = browser.new_context()  # no session yet: through the sign-in form
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto(dashboard_server.url, timeout=60_000)
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        page.get_by_label("Username").fill(role)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator(".bk-tab", has_text="Reports").first).to_be_visible(timeout=60_000)
        tabs = {t.strip() for t in page.locator(".bk-tab").all_inner_texts()}
        shown = [name for name in EXPECTED_TABS["admin"] if name in tabs]
        assert shown == EXPECTED_TABS[role], tabs
        expect(page.get_by_text(f"{role} ({role})")).to_be_attached()
        page.locator(".bk-tab", has_text="Models").click()
        expect(page.get_by_text("Every kept version")).to_be_visible()
        rollback = page.get_by_role("button", name="Roll back…")  # dynamic tabs: checked while the page is open
        if role == "admin":
            expect(rollback).to_be_visible()
        else:
            expect(rollback).to_have_count(0)  # not hidden: not in the page at all
        page.locator(".bk-tab", has_text="Pipelines").click()
        expect(page.get_by_text("Runs of", exact=False).first).to_be_visible()
        retrain = page.get_by_role("button", name="Start retrain")
        if role == "admin":
            expect(retrain).to_be_visible()
            page.locator(".bk-tab", has_text="Audit").click()  # the trail shows this very sign-in
            expect(page.get_by_text("Audit trail")).to_be_visible()
            expect(page.get_by_role("gridcell", name="sign_in").first).to_be_visible()
        else:
            expect(retrain).to_have_count(0)
    finally:
        context.close()


def test_the_server_refuses_what_a_role_may_not_do_whatever_the_page_sends(dashboard_home: PreparedHome) -> None:
    """The stores check the signed-in account themselves: a counsellor's rollback, a viewer's prediction."""
    from dashboard.stores.common import DashboardError
    from dashboard.stores.session import DashboardStore
    from mindpulse.accounts import ROLE_RIGHTS, Principal

    with store(dashboard_home) as opened:
        accounts = Accounts(opened)
        principals = {name: Principal(accounts.get(name), ROLE_RIGHTS[name]) for name in ("viewer", "counsellor")}
    champion = dashboard_home.champion
    counsellor = DashboardStore.from_settings(dashboard_home.settings, principal=principals["counsellor"])
    with pytest.raises(DashboardError, match="may not roll the model back"):
        counsellor.models.rollback()
    with pytest.raises(DashboardError, match="may not start pipeline runs"):
        counsellor.pipelines.trigger_retrain(force=True)
    assert counsellor.models.champion().version == champion
    viewer = DashboardStore.from_settings(dashboard_home.settings, principal=principals["viewer"])
    with pytest.raises(DashboardError, match="may not screen students"):
        viewer.predictions.predict(viewer.predictions.defaults())
    with pytest.raises(DashboardError, match="may not enter outcomes"):
        viewer.feedback.record_outcome(1, 1)
    with pytest.raises(DashboardError, match="may not read the audit trail"):
        counsellor.audit.events()
    refused = AuditTrail(store(dashboard_home)).events(outcome="refused", limit=10)
    assert {(e.actor, e.action) for e in refused} >= {("counsellor", "roll_the_model_back"), ("viewer", "screen_students")}
