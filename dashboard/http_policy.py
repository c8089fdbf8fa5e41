"""The HTTP policy of the dashboard's server, loaded by ``panel serve --plugins dashboard.http_policy``.

What a careful operator expects of a local web app, on every route (the page, its websocket,
Bokeh's resources and the reports served with ``--static-dirs``):

- **Host allow-list.** A request whose ``Host`` is not a name the dashboard is served under
  gets 403, so a DNS-rebinding page cannot read ``/reports/``. The names are the ones Bokeh
  already checks the websocket against (``--allow-websocket-origin`` or
  ``BOKEH_ALLOW_WS_ORIGIN``; ``localhost:PORT`` by default) plus the loopback names, which no
  other site can take.
- **Security headers.** ``X-Frame-Options: SAMEORIGIN`` and ``frame-ancestors 'self'`` (the
  Reports page frames the reports from the same origin, nothing else may frame them),
  ``nosniff`` and a same-origin referrer.
- **Bad paths.** A static path with a NUL byte is a 400, not a server error.
- **Reports need a session.** ``/reports/`` answers only a signed-in account (:mod:`dashboard.auth`).

Panel loads a plugin by importing it, and this module's import is what installs the policy
(on Tornado's classes, in the server process only); its one route serves the model cards
(:mod:`dashboard.model_cards`).
"""

from __future__ import annotations

from typing import Any

import tornado.web

from dashboard import REPORTS_ROUTE
from dashboard.model_cards import ROUTES as CARD_ROUTES

ROUTES: list[tuple[str, Any, dict[str, Any]]] = [*CARD_ROUTES]  # the plugin interface: the model cards

HEADERS = {
    "X-Frame-Options": "SAMEORIGIN",
    "Content-Security-Policy": "frame-ancestors 'self'; object-src 'none'; base-uri 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


def host_allowed(host: str, allowed: set[str] | list[str]) -> bool:
    """Is ``host`` (a Host header, with or without port) a loopback name or on the allow-list?"""
    from bokeh.server.util import check_allowlist

    host = host.strip().lower()
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if name in LOOPBACK_NAMES:
        return True
    return bool(host) and check_allowlist(host, list(allowed))


class ForbiddenHostHandler(tornado.web.RequestHandler):
    """The answer to a request under a Host name the dashboard is not served under."""

    def prepare(self) -> None:
        self.set_status(403)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish("403: this dashboard is not served under that host name "
                    "(add it with --allow-websocket-origin / BOKEH_ALLOW_WS_ORIGIN)\n")


def signed_in(handler: tornado.web.RequestHandler) -> bool:
    """Does the request carry the session of an active account (:mod:`dashboard.auth`)?"""
    if not handler.application.settings.get("cookie_secret"):
        return False
    from dashboard.auth import get_user

    return get_user(handler) is not None


def install() -> None:
    """Apply the policy to Tornado's classes (once)."""
    if getattr(tornado.web.Application, "_mindpulse_policy", False):
        return
    find_handler = tornado.web.Application.find_handler
    clear = tornado.web.RequestHandler.clear
    static_get = tornado.web.StaticFileHandler.get

    def guarded_find_handler(self: tornado.web.Application, request: Any, **kwargs: Any) -> Any:
        allowed = getattr(self, "websocket_origins", None)
        if allowed is not None and not host_allowed(request.host or "", allowed):
            return self.get_handler_delegate(request, ForbiddenHostHandler)
        return find_handler(self, request, **kwargs)

    def clear_with_headers(self: tornado.web.RequestHandler) -> None:
        clear(self)
        for name, value in HEADERS.items():
            self.set_header(name, value)

    async def static_get_checked(self: tornado.web.StaticFileHandler, path: str, include_body: bool = True) -> None:
        if "\x00" in path:
            raise tornado.web.HTTPError(400, reason="Bad Request")
        if self.request.path.startswith(f"/{REPORTS_ROUTE}/") and not signed_in(self):
            raise tornado.web.HTTPError(403, reason="Sign in first")
        await static_get(self, path, include_body)

    tornado.web.Application.find_handler = guarded_find_handler
    tornado.web.RequestHandler.clear = clear_with_headers
    tornado.web.StaticFileHandler.get = static_get_checked
    tornado.web.Application._mindpulse_policy = True


install()
