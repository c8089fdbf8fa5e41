"""``mindpulse users``, ``tokens`` and ``audit``: accounts from the command line, each change audited."""

from __future__ import annotations

import json
from pathlib import Path

from cli_support import invoke
from fixtures_models import one_line_error
from mindpulse.accounts import Accounts
from mindpulse.settings import Settings
from mindpulse.store import Store

PASSWORD = "a long enough password"


def test_users_tokens_and_audit(tmp_path: Path) -> None:
    home = tmp_path
    invoke("store", "migrate", home=home, check=True)  # the deploy step
    added = invoke("users", "add", "root-admin", "--role", "admin", "--generate", home=home, check=True)
    generated = added.stdout.split("Password: ", 1)[1].strip()
    invoke("users", "add", "carol", "--role", "counsellor", "--password-stdin", home=home, stdin=PASSWORD + "\n", check=True)
    listed = json.loads(invoke("users", "list", "--json", home=home, check=True).stdout)
    assert [(u["username"], u["role"], u["state"]) for u in listed] == [("carol", "counsellor", "active"),
                                                                          ("root-admin", "admin", "active")]
    with Store.from_settings(Settings(home=home)) as store:
        assert Accounts(store).verify_password("root-admin", generated) is not None
        assert Accounts(store).verify_password("carol", PASSWORD) is not None

    created = invoke("tokens", "create", "carol", "--name", "survey system", "--scopes", "predict", "--days", "7",
                     home=home, check=True).stdout
    token = created.strip().splitlines()[-1]
    assert token.startswith("mp_") and "predict" in created
    listing = invoke("tokens", "list", home=home, check=True).stdout
    assert "survey system" in listing and token[:10] in listing and token not in listing and "active" in listing
    invoke("tokens", "revoke", "1", home=home, check=True)
    assert "revoked" in invoke("tokens", "list", "carol", home=home, check=True).stdout
    with Store.from_settings(Settings(home=home)) as store:
        assert Accounts(store).authenticate_token(token) is None

    invoke("users", "disable", "carol", home=home, check=True)
    assert "disabled" in invoke("users", "list", home=home, check=True).stdout

    events = [json.loads(line) for line in invoke("audit", "--json", home=home, check=True).stdout.splitlines()]
    assert [e["action"] for e in events] == ["account_disabled", "token_revoked", "token_created", "account_added",
                                             "account_added"]
    assert all(e["via"] == "cli" and e["actor"].startswith("os:") for e in events)
    assert PASSWORD not in json.dumps(events) and generated not in json.dumps(events) and token not in json.dumps(events)


def test_refusals_are_one_line_and_change_nothing(tmp_path: Path) -> None:
    home = tmp_path
    invoke("store", "migrate", home=home, check=True)  # the deploy step
    invoke("users", "add", "only-admin", "--role", "admin", "--password-stdin", home=home, stdin=PASSWORD, check=True)
    assert "last active admin" in one_line_error(invoke("users", "disable", "only-admin", home=home))
    assert "last active admin" in one_line_error(invoke("users", "role", "only-admin", "viewer", home=home))
    assert "role: got 'boss'" in one_line_error(invoke("users", "add", "x", "--role", "boss", "--generate", home=home))
    assert "username: got" in one_line_error(invoke("users", "add", "bad name!", "--role", "viewer", "--generate", home=home))
    assert "password: got 3 characters" in one_line_error(
        invoke("users", "add", "y", "--role", "viewer", "--password-stdin", home=home, stdin="abc"))
    invoke("users", "add", "v", "--role", "viewer", "--generate", home=home, check=True)
    assert "beyond the account's role" in one_line_error(
        invoke("tokens", "create", "v", "--name", "n", "--scopes", "admin", home=home))
    assert "no token with id 99" in one_line_error(invoke("tokens", "revoke", "99", home=home))
    listed = json.loads(invoke("users", "list", "--json", home=home, check=True).stdout)
    assert [(u["username"], u["role"], u["state"]) for u in listed] == [("only-admin", "admin", "active"),
                                                                          ("v", "viewer", "active")]


def test_an_unusable_database_url_is_one_line_for_every_account_command(tmp_path: Path) -> None:
    env = {"MINDPULSE_DATABASE_URL": "mysql://nobody@localhost/x"}
    for args in (("users", "list"), ("tokens", "list"), ("audit",), ("api", "--port", "1"),
                 ("store", "erase", "--student-id", "3", "--yes")):
        assert "database_url: got a 'mysql' URL" in one_line_error(invoke(*args, home=tmp_path, env=env)), args
