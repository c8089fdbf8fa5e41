"""Accounts, roles and API tokens, shared by the HTTP API, the dashboard and the CLI.

Roles (each includes the rights of the one before):

- ``viewer``: reports, runs, models, trends (right ``read``);
- ``counsellor``: + screen students and enter outcomes (``predict``, ``outcomes``);
- ``admin``: + everything else (``admin``): rollback, promote, quarantine, DAG triggers, accounts.

Passwords are hashed with argon2id (memory-hard; argon2-cffi's defaults). A token is
``mp_`` + 43 characters of a 256-bit random secret, shown once; the database keeps its SHA-256
only (a secret that long needs no slow hash, and a lookup is one indexed read). A token carries
scopes (rights) no wider than its account's role; its rights are those scopes *and* the role the
account holds when the token is used, so disabling an account or lowering its role takes effect
on its tokens at once. Tokens expire, and can be revoked.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from mindpulse.store.schema import ROLES, accounts as accounts_t, api_tokens as tokens_t, utc_now

#: Rights, in the order the roles gain them.
RIGHTS = ("read", "predict", "outcomes", "admin")
ROLE_RIGHTS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"read"}),
    "counsellor": frozenset({"read", "predict", "outcomes"}),
    "admin": frozenset(RIGHTS),
}
assert set(ROLE_RIGHTS) == set(ROLES)

USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 1024
TOKEN_PREFIX = "mp_"
_TOKEN_SHAPE = re.compile(r"mp_[A-Za-z0-9_-]{43}")


class AccountError(ValueError):
    """A request about accounts or tokens that cannot be done (the message says why)."""


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    role: str
    created_at: datetime
    disabled_at: datetime | None = None

    @property
    def rights(self) -> frozenset[str]:
        return frozenset() if self.disabled_at is not None else ROLE_RIGHTS[self.role]


@dataclass(frozen=True)
class Principal:
    """Who is acting, and with which rights (an account, through a password session or a token)."""

    account: Account
    rights: frozenset[str]
    token_id: int | None = None

    @property
    def name(self) -> str:
        return self.account.username

    def may(self, right: str) -> bool:
        return right in self.rights


@dataclass(frozen=True)
class TokenInfo:
    id: int
    username: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime | None = None) -> str:
        now = now or utc_now()
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def check_username(username: str) -> str:
    if not isinstance(username, str) or not USERNAME.fullmatch(username):
        from mindpulse.contract import echo

        raise AccountError(f"username: got {echo(username)}, expected 1 to 64 letters, digits or . _ @ - "
                           "(starting with a letter or digit)")
    return username


def check_role(role: str) -> str:
    if role not in ROLES:
        from mindpulse.contract import echo

        raise AccountError(f"role: got {echo(role)}, expected one of {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    if not isinstance(password, str) or not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
        length = len(password) if isinstance(password, str) else 0
        raise AccountError(f"password: got {length} characters, expected {PASSWORD_MIN_LENGTH} to "
                           f"{PASSWORD_MAX_LENGTH}")
    return password


def parse_scopes(text: str | None, role: str) -> tuple[str, ...]:
    """Rights named in ``text`` (comma or space separated; empty: all of the role's), each within ``role``."""
    names = [part for part in re.split(r"[\s,]+", text or "") if part]
    if not names:
        return tuple(r for r in RIGHTS if r in ROLE_RIGHTS[role])
    unknown = [n for n in names if n not in RIGHTS]
    if unknown:
        raise AccountError(f"scopes: got {unknown[0]!r}, expected some of {', '.join(RIGHTS)}")
    beyond = [n for n in names if n not in ROLE_RIGHTS[role]]
    if beyond:
        raise AccountError(f"scopes: {beyond[0]!r} is beyond the account's role {role!r} "
                           f"(which has {', '.join(r for r in RIGHTS if r in ROLE_RIGHTS[role])})")
    return tuple(r for r in RIGHTS if r in names)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()


def _account(row: Any) -> Account:
    return Account(id=int(row["id"]), username=row["username"], role=row["role"], created_at=row["created_at"],
                   disabled_at=row["disabled_at"])


class Accounts:
    """Accounts and tokens in the production store's database (either backend)."""

    def __init__(self, store: Any):
        self.store = store

    # -- accounts -----------------------------------------------------------------------
    def add(self, username: str, role: str, password: str) -> Account:
        check_username(username)
        check_role(role)
        check_password(password)
        digest = _hasher().hash(password)
        now = utc_now()
        with self.store.write_transaction() as connection:
            exists = connection.execute(sa.select(accounts_t.c.id).where(accounts_t.c.username == username)).first()
            if exists is not None:
                raise AccountError(f"username: {username!r} already exists")
            result = connection.execute(accounts_t.insert().values(
                username=username, role=role, password_hash=digest, created_at=now, password_changed_at=now))
            return Account(id=int(result.inserted_primary_key[0]), username=username, role=role, created_at=now)

    def get(self, username: str) -> Account:
        with self.store.read_transaction() as connection:
            row = connection.execute(sa.select(accounts_t).where(accounts_t.c.username == username)).mappings().first()
        if row is None:
            raise AccountError(f"username: no account named {username!r}")
        return _account(row)

    def get_with_password_time(self, username: str) -> tuple[Account, datetime | None]:
        """The account and when its password was last set (sessions signed in before that end)."""
        with self.store.read_transaction() as connection:
            row = connection.execute(sa.select(accounts_t).where(accounts_t.c.username == username)).mappings().first()
        if row is None:
            raise AccountError(f"username: no account named {username!r}")
        return _account(row), row["password_changed_at"]

    def ensure_admin(self, password_file: Any, username: str = "admin") -> tuple[str, bool]:
        """An active admin for a new home: when none exists, ``username`` is created with a generated
        password written to ``password_file`` (owner-only), as Airflow's standalone does. Returns
        (the admin's name, whether it was created now)."""
        from pathlib import Path

        from mindpulse.io import atomic_write_text

        for account in self.list():
            if account.role == "admin" and account.disabled_at is None:
                return account.username, False
        password = secrets.token_urlsafe(18)
        path = Path(password_file)
        atomic_write_text(path, json.dumps({username: password}) + "\n")
        path.chmod(0o600)
        try:
            self.add(username, "admin", password)
        except AccountError:  # the name exists but is not an active admin: make it one, with this password
            self.set_password(username, password)
            self.set_role(username, "admin")
            self.enable(username)
        return username, True

    def list(self) -> list[Account]:
        with self.store.read_transaction() as connection:
            rows = connection.execute(sa.select(accounts_t).order_by(accounts_t.c.username)).mappings().all()
        return [_account(row) for row in rows]

    def count_admins(self) -> int:
        with self.store.read_transaction() as connection:
            return int(connection.execute(sa.select(sa.func.count()).where(
                accounts_t.c.role == "admin", accounts_t.c.disabled_at.is_(None))).scalar_one())

    def set_role(self, username: str, role: str) -> Account:
        check_role(role)
        return self._update(username, role=role)

    def disable(self, username: str) -> Account:
        return self._update(username, disabled_at=utc_now())

    def enable(self, username: str) -> Account:
        return self._update(username, disabled_at=None)

    def set_password(self, username: str, password: str) -> Account:
        check_password(password)
        return self._update(username, password_hash=_hasher().hash(password), password_changed_at=utc_now())

    def _update(self, username: str, **values: Any) -> Account:
        with self.store.write_transaction() as connection:
            result = connection.execute(accounts_t.update().where(accounts_t.c.username == username).values(**values))
            if result.rowcount == 0:
                raise AccountError(f"username: no account named {username!r}")
            row = connection.execute(sa.select(accounts_t).where(accounts_t.c.username == username)).mappings().one()
        return _account(row)

    def verify_password(self, username: str, password: str) -> Account | None:
        """The account when ``password`` is its password and it is enabled; None otherwise (same cost either way)."""
        from argon2.exceptions import InvalidHashError, VerificationError

        hasher = _hasher()
        with self.store.read_transaction() as connection:
            row = connection.execute(sa.select(accounts_t).where(accounts_t.c.username == str(username)[:64])).mappings().first()
        digest = row["password_hash"] if row is not None and row["password_hash"] else None
        try:
            # An unknown name is checked against a throwaway hash: a refusal takes as long either way.
            hasher.verify(digest or _dummy_hash(), str(password))
        except (VerificationError, InvalidHashError):
            return None
        if row is None or digest is None or row["disabled_at"] is not None:
            return None
        return _account(row)

    # -- tokens -------------------------------------------------------------------------
    def create_token(self, username: str, name: str, *, scopes: str | None = None,
                     days: float | None = 90) -> tuple[str, TokenInfo]:
        """A new token for ``username`` living ``days`` (None: until revoked): (the secret, shown only now, and its record)."""
        if not isinstance(name, str) or not 1 <= len(name) <= 64 or not name.isprintable():
            raise AccountError("name: expected 1 to 64 printable characters naming what the token is for")
        if days is not None and not days > 0:
            raise AccountError(f"days: got {days}, expected a positive number of days")
        account = self.get(username)
        if account.disabled_at is not None:
            raise AccountError(f"username: {username!r} is disabled")
        rights = parse_scopes(scopes, account.role)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = utc_now()
        expires = now + timedelta(days=days) if days is not None else None
        with self.store.write_transaction() as connection:
            result = connection.execute(tokens_t.insert().values(
                account_id=account.id, name=name, token_hash=token_hash(secret), prefix=secret[:10],
                scopes=" ".join(rights), created_at=now, expires_at=expires))
            token_id = int(result.inserted_primary_key[0])
        return secret, TokenInfo(token_id, username, name, secret[:10], rights, now, expires, None)

    def tokens(self, username: str | None = None) -> list[TokenInfo]:
        statement = (sa.select(tokens_t, accounts_t.c.username)
                     .join(accounts_t, accounts_t.c.id == tokens_t.c.account_id).order_by(tokens_t.c.id))
        if username is not None:
            statement = statement.where(accounts_t.c.username == username)
        with self.store.read_transaction() as connection:
            rows = connection.execute(statement).mappings().all()
        return [TokenInfo(int(r["id"]), r["username"], r["name"], r["prefix"], tuple(r["scopes"].split()),
                          r["created_at"], r["expires_at"], r["revoked_at"]) for r in rows]

    def revoke_token(self, token_id: int) -> TokenInfo:
        with self.store.write_transaction() as connection:
            result = connection.execute(tokens_t.update().where(tokens_t.c.id == int(token_id), tokens_t.c.revoked_at.is_(None))
                                        .values(revoked_at=utc_now()))
            if result.rowcount == 0:
                exists = connection.execute(sa.select(tokens_t.c.id).where(tokens_t.c.id == int(token_id))).first()
                if exists is None:
                    raise AccountError(f"token: no token with id {token_id}")
        return next(t for t in self.tokens() if t.id == int(token_id))

    def authenticate_token(self, token: str) -> Principal | None:
        """The principal a bearer token stands for, or None (unknown, revoked, expired, account disabled)."""
        if not isinstance(token, str) or not _TOKEN_SHAPE.fullmatch(token):
            return None
        statement = (sa.select(tokens_t.c.id.label("token_id"), tokens_t.c.scopes, tokens_t.c.expires_at,
                               tokens_t.c.revoked_at, accounts_t)
                     .join(accounts_t, accounts_t.c.id == tokens_t.c.account_id)
                     .where(tokens_t.c.token_hash == token_hash(token)))
        with self.store.read_transaction() as connection:
            row = connection.execute(statement).mappings().first()
        if row is None or row["revoked_at"] is not None:
            return None
        if row["expires_at"] is not None and row["expires_at"] <= utc_now():
            return None
        account = _account(row)
        rights = frozenset(row["scopes"].split()) & account.rights
        if not rights:
            return None
        return Principal(account, rights, token_id=int(row["token_id"]))


def session_secret(path: Any) -> str:
    """The secret that signs dashboard sessions, made once (owner-only) at ``path`` and read after that."""
    from pathlib import Path

    from mindpulse.io import atomic_write_text

    path = Path(path)
    try:
        secret = path.read_text(encoding="utf-8").strip()
        if len(secret) >= 32:
            return secret
    except FileNotFoundError:
        pass
    secret = secrets.token_urlsafe(48)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, secret + "\n")
    path.chmod(0o600)
    return secret


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY:
        _DUMMY.append(_hasher().hash(secrets.token_urlsafe(16)))
    return _DUMMY[0]


class TooManyAttempts(Exception):
    """Sign-in refused without checking the password: too many recent failures; ``retry_after`` seconds."""

    def __init__(self, retry_after: int):
        super().__init__(f"too many failed sign-ins for this account or address; try again in {retry_after} s")
        self.retry_after = retry_after


class LoginLimiter:
    """Failed sign-ins per account name and per client address, in a sliding window (in this process).

    After ``max_failures`` failures within ``window`` seconds, further attempts for that name or
    from that address are refused without checking the password until the oldest failure leaves
    the window. A success clears the name's failures.
    """

    def __init__(self, max_failures: int, window: float, clock: Any = time.monotonic):
        self.max_failures, self.window, self.clock = max_failures, float(window), clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def check(self, username: str, remote: str | None) -> None:
        now = self.clock()
        with self._lock:
            for key in (f"user:{username}", f"addr:{remote}"):
                times = self._recent(key, now)
                if len(times) >= self.max_failures:
                    wait = max(1, int(times[0] + self.window - now + 0.999))
                    raise TooManyAttempts(wait)

    def failed(self, username: str, remote: str | None) -> None:
        now = self.clock()
        with self._lock:
            for key in (f"user:{username}", f"addr:{remote}"):
                self._recent(key, now).append(now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(f"user:{username}", None)
