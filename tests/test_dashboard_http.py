"""The dashboard's web server as a careful operator expects it, against a real ``panel serve``:
a Host allow-list on every route (static reports too), security headers, bad paths answered
as bad requests, and no filesystem path on the page."""

from __future__ import annotations


import httpx
import pytest

from dashboard_support import DashboardServer, PreparedHome, session_cookie


@pytest.fixture(scope="module")
def report(dashboard_home: PreparedHome) -> str:
    """The path, under /reports/, of one Evidently report of the prepared home."""
    reports = dashboard_home.settings.reports_dir
    html = sorted(reports.rglob("*.html"))[0]
    return html.relative_to(reports).as_posix()


def get(dashboard_server: DashboardServer, path: str, **headers: str) -> httpx.Response:
    return httpx.get(f"{dashboard_server.root}{path}", headers=headers, cookies=session_cookie(), timeout=60)


def test_a_nul_byte_in_a_report_path_is_a_bad_request_not_a_server_error(dashboard_server):
    for path in ("/reports/x%00.html", "/reports/%00", "/static/x%00.js"):
        response = get(dashboard_server, path)
        assert response.status_code in (400, 404), (path, response.status_code)


def test_the_host_allow_list_covers_static_reports_and_the_app(dashboard_server, report):
    port = dashboard_server.root.rsplit(":", 1)[1]
    for path in (f"/reports/{report}", "/app"):
        assert get(dashboard_server, path).status_code == 200
        assert get(dashboard_server, path, host=f"localhost:{port}").status_code == 200
        refused = get(dashboard_server, path, host=f"rebound.example.org:{port}")
        assert refused.status_code == 403, (path, refused.status_code)
        assert report.split("/")[-1] not in refused.text and "<html" not in refused.text.lower()


def test_every_response_carries_the_security_headers(dashboard_server, report):
    for path in ("/app", f"/reports/{report}", "/reports/missing.html"):
        headers = get(dashboard_server, path).headers
        assert headers["x-frame-options"] == "SAMEORIGIN", path
        assert "frame-ancestors 'self'" in headers["content-security-policy"], path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "same-origin", path


def test_the_sidebar_shows_no_filesystem_path(dashboard_home, monkeypatch):
    from dashboard.app import build_app
    from mindpulse.settings import get_settings

    monkeypatch.setenv("MINDPULSE_HOME", str(dashboard_home.settings.home))
    get_settings.cache_clear()
    try:
        sidebar = " ".join(str(getattr(item, "object", "")) for item in build_app().sidebar)
    finally:
        get_settings.cache_clear()
    assert "Serving model" in sidebar
    assert str(dashboard_home.settings.home) not in sidebar and "/tmp/" not in sidebar
