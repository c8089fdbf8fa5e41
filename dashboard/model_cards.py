"""The model cards, served by the dashboard's server under ``/model-cards/VERSION.html``.

A route of the ``dashboard.http_policy`` plugin (so every ``panel serve`` of the dashboard has
it), answered only to a signed-in account with the ``read`` right, as the Models page itself.
The page is the version's ``model_card.html`` (:mod:`mindpulse.model_card`), written first when
it is missing or out of date; it loads nothing, and its Content-Security-Policy says so.
"""

from __future__ import annotations

import tornado.web

#: The route, relative to the dashboard's root (the Models page links ``./model-cards/VERSION.html``).
CARDS_ROUTE = "model-cards"
CARD_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"


def card_url(version: str, base: str = ".") -> str:
    """Where ``version``'s card is served, relative to the dashboard's page."""
    return f"{base}/{CARDS_ROUTE}/{version}.html"


def cards_base() -> str:
    """The dashboard's root relative to the page being served (works behind ``--prefix`` too)."""
    import panel as pn

    return pn.state.rel_path or "."


class ModelCardHandler(tornado.web.RequestHandler):
    """``GET /model-cards/VERSION.html``: the version's model card, to a signed-in reader."""

    def _refuse(self, status: int, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(f"{status}: {message}\n")

    def get(self, version: str) -> None:
        from dashboard.auth import COOKIE, SESSION_HOURS, principal_from_cookie

        principal = None
        if self.settings.get("cookie_secret"):
            principal = principal_from_cookie(self.get_secure_cookie(COOKIE, max_age_days=SESSION_HOURS / 24 + 0.01))
        if principal is None:
            return self._refuse(403, "sign in first")
        if not principal.may("read"):
            return self._refuse(403, f"a model card needs the right 'read'; {principal.name!r} does not have it")
        from mindpulse.model_card import read_card
        from mindpulse.registry import ModelRegistry, RegistryError
        from mindpulse.settings import get_settings

        settings = get_settings()
        registry = ModelRegistry.from_settings(settings)
        try:
            known = [v.version for v in registry.versions()]
            if version not in known:
                return self._refuse(404, f"version: got {version!r}, expected one of the registered versions "
                                         f"({', '.join(known) or 'none yet'})")
            page = read_card(registry, version, settings)["html"].read_text(encoding="utf-8")
        except (RegistryError, ValueError, OSError) as exc:
            return self._refuse(503, f"the model card of {version} cannot be shown: {exc}")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Content-Security-Policy", CARD_POLICY)
        self.set_header("Cache-Control", "no-store")
        self.finish(page)


ROUTES = [(rf"/{CARDS_ROUTE}/([^/]+)\.html", ModelCardHandler, {})]
