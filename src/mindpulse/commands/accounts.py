"""``mindpulse users``, ``mindpulse tokens``, ``mindpulse audit`` and ``mindpulse api``.

Accounts and tokens live in the production store's database, shared by the HTTP API and the
dashboard. Every change made here is in the audit trail under the operating-system user
(``os:NAME``, via ``cli``): whoever can run this CLI on the server holds the keys already.
"""

from __future__ import annotations

import json
import secrets
import sys
from typing import Any, Optional

import typer

from mindpulse.commands import fail
from mindpulse.commands.store import open_store


def register(app: typer.Typer) -> None:
    users = typer.Typer(help="Accounts of the API and the dashboard (roles: viewer, counsellor, admin).", no_args_is_help=True)
    users.command("add")(users_add)
    users.command("list")(users_list)
    users.command("disable")(users_disable)
    users.command("enable")(users_enable)
    users.command("passwd")(users_passwd)
    users.command("role")(users_role)
    users.command("ensure-admin")(users_ensure_admin)
    app.add_typer(users, name="users")
    tokens = typer.Typer(help="API tokens of an account: created, listed, revoked.", no_args_is_help=True)
    tokens.command("create")(tokens_create)
    tokens.command("list")(tokens_list)
    tokens.command("revoke")(tokens_revoke)
    app.add_typer(tokens, name="tokens")
    app.command("audit")(audit)
    app.command("api")(api)


def _services() -> tuple[Any, Any]:
    from mindpulse.accounts import Accounts
    from mindpulse.audit import AuditTrail
    store = open_store()  # one clear line when the database cannot be opened
    return Accounts(store), AuditTrail(store)


def _password(password_stdin: bool, generate: bool) -> tuple[str, bool]:
    """The new password: generated, read from standard input, or typed twice at a prompt."""
    if generate:
        return secrets.token_urlsafe(18), True
    if password_stdin:
        text = sys.stdin.readline().rstrip("\r\n")
        return text, False
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True), False


def _record(audit: Any, action: str, target: str, **details: Any) -> None:
    from mindpulse.audit import cli_actor

    audit.record(cli_actor(), "cli", action, target=target, details=details)


def users_add(
    username: str = typer.Argument(..., help="Letters, digits and . _ @ - (up to 64)."),
    role: str = typer.Option(..., "--role", help="viewer, counsellor or admin."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from the first line of standard input."),
    generate: bool = typer.Option(False, "--generate", help="Generate a password and print it once."),
) -> None:
    """Add an account."""
    from mindpulse.accounts import AccountError, check_role, check_username

    accounts, audit = _services()
    try:
        check_username(username)
        check_role(role)
        password, generated = _password(password_stdin, generate)
        account = accounts.add(username, role, password)
    except AccountError as exc:
        fail(str(exc))
    _record(audit, "account_added", account.username, role=account.role)
    typer.echo(f"Added {account.username} ({account.role})." + (f" Password: {password}" if generated else ""))


def users_list(as_json: bool = typer.Option(False, "--json", help="One JSON array instead of a table.")) -> None:
    """List the accounts."""
    accounts, _ = _services()
    rows = [{"username": a.username, "role": a.role, "state": "disabled" if a.disabled_at else "active",
             "created_at": a.created_at.isoformat(timespec="seconds")} for a in accounts.list()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("No accounts yet; add one with 'mindpulse users add NAME --role admin'.")
        return
    _table(rows, ("username", "role", "state", "created_at"))


def _table(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> None:
    cells = [[k.upper() for k in keys]] + [[str(r.get(k) if r.get(k) is not None else "") for k in keys] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(keys))]
    for row in cells:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def users_disable(username: str = typer.Argument(...)) -> None:
    """Disable an account: it can no longer sign in, and its tokens stop working at once."""
    from mindpulse.accounts import AccountError

    accounts, audit = _services()
    try:
        account = accounts.get(username)
        if account.role == "admin" and account.disabled_at is None and accounts.count_admins() <= 1:
            fail(f"{username}: the last active admin cannot be disabled; add another admin first")
        accounts.disable(username)
    except AccountError as exc:
        fail(str(exc))
    _record(audit, "account_disabled", username)
    typer.echo(f"Disabled {username}.")


def users_enable(username: str = typer.Argument(...)) -> None:
    """Enable a disabled account again."""
    from mindpulse.accounts import AccountError

    accounts, audit = _services()
    try:
        accounts.enable(username)
    except AccountError as exc:
        fail(str(exc))
    _record(audit, "account_enabled", username)
    typer.echo(f"Enabled {username}.")


def users_passwd(
    username: str = typer.Argument(...),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from the first line of standard input."),
    generate: bool = typer.Option(False, "--generate", help="Generate a password and print it once."),
) -> None:
    """Set an account's password."""
    from mindpulse.accounts import AccountError

    accounts, audit = _services()
    try:
        accounts.get(username)
        password, generated = _password(password_stdin, generate)
        accounts.set_password(username, password)
    except AccountError as exc:
        fail(str(exc))
    _record(audit, "password_changed", username)
    typer.echo(f"Password of {username} changed." + (f" Password: {password}" if generated else ""))


def users_role(username: str = typer.Argument(...), role: str = typer.Argument(..., help="viewer, counsellor or admin.")) -> None:
    """Change an account's role (its tokens keep only the rights the new role has)."""
    from mindpulse.accounts import AccountError

    accounts, audit = _services()
    try:
        before = accounts.get(username)
        if before.role == "admin" and role != "admin" and before.disabled_at is None and accounts.count_admins() <= 1:
            fail(f"{username}: the last active admin cannot lose the admin role; add another admin first")
        account = accounts.set_role(username, role)
    except AccountError as exc:
        fail(str(exc))
    _record(audit, "role_changed", username, before=before.role, after=account.role)
    typer.echo(f"{username} is now {account.role} (was {before.role}).")


def users_ensure_admin() -> None:
    """The admin account named by MINDPULSE_ADMIN_USERNAME, with MINDPULSE_ADMIN_PASSWORD: created, or its
    password, role and state set (how a deployment rotates it). Read from the environment, never the command line."""
    import os

    from mindpulse.accounts import AccountError

    username, password = os.environ.get("MINDPULSE_ADMIN_USERNAME", ""), os.environ.get("MINDPULSE_ADMIN_PASSWORD", "")
    if not username or not password:
        fail("MINDPULSE_ADMIN_USERNAME and MINDPULSE_ADMIN_PASSWORD: both must be set (see .env.example)")
    accounts, audit = _services()
    try:
        existing = {a.username: a for a in accounts.list()}.get(username)
        if existing is None:
            accounts.add(username, "admin", password)
            _record(audit, "account_added", username, role="admin", source="environment")
            typer.echo(f"account '{username}' created with role admin")
            return
        accounts.set_password(username, password)
        accounts.set_role(username, "admin")
        accounts.enable(username)
    except AccountError as exc:
        fail(f"MINDPULSE_ADMIN_*: {exc}")
    _record(audit, "password_changed", username, source="environment")
    typer.echo(f"account '{username}' exists: password set from the environment, role admin, enabled")


def tokens_create(
    username: str = typer.Argument(..., help="The account the token acts for."),
    name: str = typer.Option(..., "--name", help="What the token is for, e.g. 'survey system'."),
    scopes: Optional[str] = typer.Option(None, "--scopes", help="Rights, comma-separated, within the account's role "
                                         "(read, predict, outcomes, admin). Default: all of the role's."),
    days: Optional[int] = typer.Option(None, "--days", min=1, help="Days until it expires (default MINDPULSE_API_TOKEN_DAYS)."),
) -> None:
    """Create an API token; it is printed once and stored only as its hash."""
    from mindpulse.accounts import AccountError
    from mindpulse.settings import get_settings

    accounts, audit = _services()
    try:
        token, info = accounts.create_token(username, name, scopes=scopes, days=days or get_settings().api_token_days)
    except AccountError as exc:
        fail(str(exc))
    _record(audit, "token_created", f"token {info.id}", account=username, scopes=list(info.scopes),
            expires_at=info.expires_at.isoformat() if info.expires_at else None)
    typer.echo(f"Token {info.id} for {username} ({', '.join(info.scopes)}), expires "
               f"{info.expires_at:%Y-%m-%d %H:%M} UTC. Shown once, keep it secret:")
    typer.echo(token)


def tokens_list(username: Optional[str] = typer.Argument(None, help="Only this account's tokens.")) -> None:
    """List tokens (never their secrets)."""
    accounts, _ = _services()
    rows = [{"id": t.id, "username": t.username, "name": t.name, "prefix": t.prefix + "...", "scopes": ",".join(t.scopes),
             "state": t.state(), "expires_at": t.expires_at.isoformat(timespec="minutes") if t.expires_at else "never"}
            for t in accounts.tokens(username)]
    if not rows:
        typer.echo("No tokens.")
        return
    _table(rows, ("id", "username", "name", "prefix", "scopes", "state", "expires_at"))


def tokens_revoke(token_id: int = typer.Argument(..., help="The token's id (see 'mindpulse tokens list').")) -> None:
    """Revoke a token: it stops working at once."""
    from mindpulse.accounts import AccountError

    accounts, audit = _services()
    try:
        info = accounts.revoke_token(token_id)
    except AccountError as exc:
        fail(str(exc))
    _record(audit, "token_revoked", f"token {info.id}", account=info.username)
    typer.echo(f"Revoked token {info.id} ({info.name}) of {info.username}.")


def audit(
    actor: Optional[str] = typer.Option(None, "--actor", help="Only this account (or os:USER for the CLI)."),
    action: Optional[str] = typer.Option(None, "--action", help="Only this action, e.g. predictions_logged, sign_in."),
    refused: bool = typer.Option(False, "--refused", help="Only refused attempts."),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000, help="Newest events shown."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table."),
) -> None:
    """The audit trail, newest first: who did what, when, from where."""
    _, trail = _services()
    events = trail.events(actor=actor, action=action, outcome="refused" if refused else None, limit=limit)
    if as_json:
        for event in events:
            typer.echo(json.dumps(event.as_dict(), sort_keys=True))
        return
    if not events:
        typer.echo("No audit events match.")
        return
    _table([{**e.as_dict(), "details": json.dumps(e.details, sort_keys=True)[:80]} for e in events],
           ("at", "actor", "via", "remote", "action", "target", "outcome", "details"))


def api(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
) -> None:
    """Serve the HTTP API (docs at /api/docs) until stopped."""
    import uvicorn

    from mindpulse.api.app import create_app

    open_store().close()  # a database that cannot be opened is one clear line, before the server starts
    typer.echo(f"MindPulse API on http://{host}:{port}/api/v1 (docs http://{host}:{port}/api/docs); "
               "a screening aid, never a diagnosis")
    uvicorn.run(create_app(), host=host, port=port, log_level="warning", access_log=False)
