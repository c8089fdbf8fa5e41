"""The MindPulse dashboard page: five views in a template. Serve it with ``python -m dashboard``.

This is the only module that calls ``.servable()``. The reports folder is served by Panel as
static files (``--static-dirs reports=DIR``); the Reports page points iframes at those URLs.
"""

from __future__ import annotations

from html import escape
from typing import Any

import panel as pn
import param

# `panel serve dashboard/app.py` runs this file as a script; its package is installed with mindpulse.
from dashboard import REPORTS_ROUTE
from dashboard.offline import SYSTEM_FONTS, OfflineFast, pin_panel_files_to_this_server
from dashboard.stores.session import DashboardStore
from dashboard.views import AuditView, FeedbackView, ModelsView, PipelinesView, PredictView, ReportsView, TrendsView
from dashboard.views.common import DISCLAIMER, code

PAGES = ("Predict", "Feedback", "Reports", "Trends", "Models", "Pipelines", "Audit")
#: The right each page needs (mindpulse.accounts): a page the account may not use is not built.
PAGE_RIGHTS = {"Predict": "predict", "Feedback": "outcomes", "Reports": "read", "Trends": "read", "Models": "read",
               "Pipelines": "read", "Audit": "admin"}


def reports_url() -> str:
    """Where the reports folder is served, relative to this page (works behind ``--prefix`` too)."""
    return f"{pn.state.rel_path or '.'}/{REPORTS_ROUTE}"


def session_principal() -> Any:
    """The account signed in to this browser session (its signed cookie), or None."""
    from dashboard.auth import principal_from_cookies

    return principal_from_cookies(pn.state.cookies, pn.config.cookie_secret)


def signed_out_page() -> pn.template.FastListTemplate:
    """What a session without a signed-in account gets: no data, a way to sign in."""
    return pn.template.FastListTemplate(
        title="MindPulse · screening aid", main=[pn.pane.Alert(
            "Sign in to use the dashboard: [sign in](./login). If this page keeps coming back, the server runs "
            "without its sign-in module: start it with `python -m dashboard` or `mindpulse platform run`.",
            alert_type="warning")], design=OfflineFast, font=SYSTEM_FONTS, collapsed_sidebar=True)


class _OpenPage(param.Parameterized):
    """The open page's name, as the URL's ``?page=`` names it (``?page=Reports``)."""

    page = param.String(default=PAGES[0])


def page_index(name: str, pages: tuple[str, ...] | list[str] = PAGES) -> int | None:
    """The tab of a page named in the URL: its name (any case), or its position (older links); None if unknown."""
    text = str(name or "").strip()
    if text.isdigit():
        return int(text) if int(text) < len(pages) else None
    lowered = [page.lower() for page in pages]
    return lowered.index(text.lower()) if text.lower() in lowered else None


def link_page_to_url(tabs: pn.Tabs, location: Any, pages: tuple[str, ...] | list[str] = PAGES) -> _OpenPage:
    """``?page=Reports`` opens the Reports tab, and opening a tab puts its name in the URL."""
    opened = _OpenPage(page=pages[tabs.active])
    location.sync(opened, {"page": "page"})

    def to_tab(*_: Any) -> None:
        index = page_index(opened.page, pages)
        if index is not None and tabs.active != index:
            tabs.active = index

    def to_url(event: Any) -> None:
        if opened.page != pages[event.new]:
            opened.page = pages[event.new]

    opened.param.watch(to_tab, "page")
    tabs.param.watch(to_url, "active")
    to_tab()
    return opened


def build_app(store: DashboardStore | None = None, principal: Any = None) -> pn.template.FastListTemplate:
    """The whole dashboard for one browser session, with the pages and buttons ``principal`` may use."""
    pn.extension("tabulator")
    store = store or DashboardStore.from_settings(static_url=reports_url(), principal=principal)
    makers: dict[str, Any] = {
        "Predict": lambda: PredictView(store=store.predictions),
        "Feedback": lambda: FeedbackView(store=store.feedback, predictions=store.predictions),
        "Reports": lambda: ReportsView(store=store.reports),
        "Trends": lambda: TrendsView(store=store.trends),
        "Models": lambda: ModelsView(store=store.models),
        "Pipelines": lambda: PipelinesView(store=store.pipelines),
        "Audit": lambda: AuditView(store=store.audit),
    }
    pages = [name for name in PAGES if principal is None or principal.may(PAGE_RIGHTS[name])]
    views: dict[str, Any] = {name: makers[name]() for name in pages}
    tabs = pn.Tabs(*[(name, views[name]) for name in pages], dynamic=True, sizing_mode="stretch_width")
    if pn.state.curdoc is not None:
        pn.state.onload(pin_panel_files_to_this_server)

    # A page shows fresh figures each time it is opened (another session may have changed them).
    async def refresh_opened(event: Any) -> None:
        refresh = getattr(views[pages[event.new]], "refresh", None)
        result = refresh() if refresh else None
        if hasattr(result, "__await__"):
            await result

    tabs.param.watch(refresh_opened, "active")
    if pn.state.location is not None:
        link_page_to_url(tabs, pn.state.location, pages)

    try:
        serving = store.predictions.champion_version() or "none yet"
    except Exception:  # no registry yet: the Models page says more
        serving = "none yet"
    sidebar = [
        pn.pane.Markdown("### About\nMindPulse screens students for depression risk from a short survey."),
        *([pn.pane.Markdown(f"**Signed in:** {escape(principal.name)} ({principal.account.role}) · "
                            "[sign out](./logout)")] if principal is not None else []),
        pn.pane.Alert(DISCLAIMER, alert_type="warning"),
        pn.pane.Markdown(f"**Serving model:** {code(serving)} (at page load)"),  # no server paths on the page
    ]
    return pn.template.FastListTemplate(
        title="MindPulse · screening aid",
        sidebar=sidebar,
        main=[tabs],
        accent="#2b6cb0",
        header_background="#2b6cb0",
        sidebar_width=300,
        collapsed_sidebar=True,
        main_layout=None,
        design=OfflineFast,  # no web font: the page loads nothing from outside hosts
        font=SYSTEM_FONTS,
    )


if pn.state.served:
    _principal = session_principal()
    (build_app(principal=_principal) if _principal is not None else signed_out_page()).servable(title="MindPulse")
