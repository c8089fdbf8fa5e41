"""Sign-in for the dashboard with MindPulse accounts (a Bokeh auth module: ``panel serve --auth-module``).

The same accounts as the HTTP API (:mod:`mindpulse.accounts`). ``/login`` shows a form; a right
password sets a session cookie signed with the server's cookie secret (HttpOnly, SameSite=Strict,
Secure behind HTTPS) that names the account and when it signed in; the form carries Tornado's
XSRF token (``--enable-xsrf-cookies``). Failed attempts are rate-limited per account and per
address, and every sign-in, refusal and sign-out is in the audit trail. A session ends after
:data:`SESSION_HOURS`, at ``/logout``, or as soon as its account is disabled or its password
changed. Bokeh calls :func:`get_user` for the page, its websocket and its session; the reports
folder is checked by :mod:`dashboard.http_policy`.
"""

from __future__ import annotations

import html
import json
import threading
import time
from typing import Any
from urllib.parse import urlparse

import tornado.web

COOKIE = "mindpulse_session"
SESSION_HOURS = 12
login_url = "/login"
logout_url = "/logout"

_lock = threading.Lock()
_services: dict[str, Any] = {}


def _accounts() -> tuple[Any, Any, Any]:
    """(accounts, audit trail, sign-in limiter) of this server process, opened once."""
    with _lock:
        if not _services:
            from mindpulse.accounts import Accounts, LoginLimiter
            from mindpulse.audit import AuditTrail
            from mindpulse.settings import get_settings
            from mindpulse.store import Store

            settings = get_settings()
            store = Store.from_settings(settings)
            _services.update(accounts=Accounts(store), audit=AuditTrail(store),
                             limiter=LoginLimiter(settings.login_max_failures, settings.login_window_seconds))
        return _services["accounts"], _services["audit"], _services["limiter"]


def session_value(username: str, issued: float | None = None) -> str:
    """What the signed cookie holds: the account and when it signed in."""
    return json.dumps({"u": username, "t": time.time() if issued is None else issued})


def principal_from_cookie(value: str | bytes | None) -> Any:
    """The :class:`mindpulse.accounts.Principal` a decoded session cookie stands for, or None.

    None when the session is older than :data:`SESSION_HOURS`, or its account is unknown,
    disabled, or changed its password after signing in.
    """
    from mindpulse.accounts import AccountError, Principal

    if not value:
        return None
    try:
        data = json.loads(value)
        username, issued = str(data["u"]), float(data["t"])
    except (ValueError, KeyError, TypeError):
        return None
    if time.time() - issued > SESSION_HOURS * 3600:
        return None
    accounts, _, _ = _accounts()
    try:
        account, changed = accounts.get_with_password_time(username)
    except AccountError:
        return None
    if account.disabled_at is not None or (changed is not None and changed.timestamp() > issued + 1e-3):
        return None
    return Principal(account, account.rights)


def get_user(request_handler: tornado.web.RequestHandler) -> str | None:
    """Bokeh's hook: the signed-in account's name, or None (Bokeh then redirects to the sign-in page)."""
    principal = principal_from_cookie(request_handler.get_secure_cookie(COOKIE, max_age_days=SESSION_HOURS / 24 + 0.01))
    return principal.name if principal is not None else None


def principal_from_cookies(cookies: dict[str, Any], secret: str | None) -> Any:
    """The principal of a Panel session (``pn.state.cookies``), decoded with the server's cookie secret."""
    from tornado.web import decode_signed_value

    raw = cookies.get(COOKIE)
    if not raw or not secret:
        return None
    value = decode_signed_value(secret, COOKIE, raw, max_age_days=SESSION_HOURS / 24 + 0.01)
    return principal_from_cookie(value)


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this server only (never another host)."""
    if not target:
        return "/"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MindPulse · sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; background: #f4f6f9; display: flex; justify-content: center; padding-top: 10vh; }}
form {{ background: white; padding: 2em; border-radius: 8px; box-shadow: 0 1px 4px #0002; width: 20em; }}
h1 {{ font-size: 1.3em; color: #2b6cb0; margin-top: 0; }} label {{ display: block; margin-top: 1em; }}
input[type=text], input[type=password] {{ width: 100%; padding: .5em; box-sizing: border-box; }}
button {{ margin-top: 1.5em; width: 100%; padding: .6em; background: #2b6cb0; color: white; border: 0; border-radius: 4px; }}
.error {{ color: #b00020; }} .note {{ color: #555; font-size: .85em; margin-top: 1.5em; }}
</style></head><body>
<form method="post" action="{action}">
<h1>MindPulse · screening aid</h1>
{error}
<label for="username">Username</label><input id="username" name="username" type="text" autocomplete="username" value="{username}" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
{xsrf}<input type="hidden" name="next" value="{next}">
<button type="submit">Sign in</button>
<p class="note">A screening aid, never a diagnosis. Accounts are managed with <code>mindpulse users</code>.</p>
</form></body></html>
"""


class LoginHandler(tornado.web.RequestHandler):
    """``GET /login``: the form; ``POST /login``: check the password, set the session cookie."""

    def _form(self, *, error: str = "", username: str = "", status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        xsrf = self.xsrf_form_html() if self.settings.get("xsrf_cookies") else ""
        self.finish(FORM.format(action=html.escape(self.request.path), xsrf=xsrf, username=html.escape(username),
                                next=html.escape(_safe_next(self.get_argument("next", None))),
                                error=f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""))

    def get(self) -> None:
        self._form()

    def post(self) -> None:
        from mindpulse.accounts import TooManyAttempts

        username = self.get_body_argument("username", "")[:64]
        password = self.get_body_argument("password", "")
        remote = self.request.remote_ip
        accounts, audit, limiter = _accounts()
        try:
            limiter.check(username, remote)
        except TooManyAttempts as exc:
            self.set_header("Retry-After", str(exc.retry_after))
            return self._form(error=f"Too many failed sign-ins: try again in {exc.retry_after} s.", username=username,
                              status=429)
        account = accounts.verify_password(username, password)
        if account is None:
            limiter.failed(username, remote)
            audit.record(username or "(empty)", "dashboard", "sign_in", outcome="refused", remote=remote)
            return self._form(error="Wrong username or password, or the account is disabled.", username=username,
                              status=401)
        limiter.succeeded(username)
        audit.record(account.username, "dashboard", "sign_in", remote=remote)
        self.set_secure_cookie(COOKIE, session_value(account.username), expires_days=None, httponly=True,
                               samesite="Strict", secure=self.request.protocol == "https")
        self.redirect(_safe_next(self.get_body_argument("next", None)))


class LogoutHandler(tornado.web.RequestHandler):
    """``GET /logout``: end the session (the cookie is cleared) and go back to the sign-in page."""

    def get(self) -> None:
        principal = principal_from_cookie(self.get_secure_cookie(COOKIE, max_age_days=SESSION_HOURS / 24 + 0.01))
        if principal is not None:
            _accounts()[1].record(principal.name, "dashboard", "sign_out", remote=self.request.remote_ip)
        self.clear_cookie(COOKIE)
        self.redirect(login_url)

