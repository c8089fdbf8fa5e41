"""The HTTP API against a real server process (uvicorn, real HTTP, a SQLite store in a demo home)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings as hsettings
from starlette.routing import Mount

import api_support as api
import fuzz_support as fz
from mindpulse import contract as c
from mindpulse.accounts import Accounts
from mindpulse.api.app import create_app
from mindpulse.api.security import PUBLIC, Requires
from mindpulse.audit import AuditTrail
from mindpulse.settings import Settings
from mindpulse.synthetic import generate
from shared_support import migrated


def students(n: int, seed: int = 3) -> list[dict]:
    """``n`` survey records as a survey system would post them (real header, no outcome)."""
    raw = c.to_raw(generate(n, seed=seed).canonical()).drop(columns=["Depression", "id"])
    return json.loads(raw.to_json(orient="records"))


@pytest.fixture(scope="module")
def server(demo_template: Path, tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("api") / "home"
    tokens = api.prepare_home(demo_template, home)
    running = api.start_server(home, tokens)
    yield running
    running.stop()


def _rules(settings: Settings) -> dict[tuple[str, str], str | None]:
    """(method, path) -> the right each route of the app needs (None: no rule)."""
    app = create_app(settings)
    rules: dict[tuple[str, str], str | None] = {}
    for route in app.routes:
        if isinstance(route, APIRoute):
            needs = [d.call.right for d in route.dependant.dependencies if isinstance(d.call, Requires)]
            for method in route.methods:
                rules[(method, route.path)] = needs[0] if needs else None
        elif isinstance(route, Mount):
            rules[("GET", route.path)] = None
    return rules


def test_every_route_needs_a_right_or_is_public(server: api.ApiServer) -> None:
    rules = _rules(server.settings)
    assert rules, "the app has no routes"
    unguarded = sorted(path for (method, path), right in rules.items() if right is None and path not in PUBLIC)
    assert unguarded == [], f"routes without a rule (add Depends(requires(...)) or list them in PUBLIC): {unguarded}"
    assert rules[("POST", "/api/v1/predictions")] == "predict"
    assert rules[("POST", "/api/v1/outcomes")] == "outcomes"
    assert rules[("GET", "/api/v1/audit")] == "admin"


def _concrete(path: str) -> str:
    return path.replace("{prediction_id}", "1")


def test_every_guarded_route_refuses_an_anonymous_caller_and_a_bad_token(server: api.ApiServer) -> None:
    guarded = [(m, p) for (m, p), right in _rules(server.settings).items() if right is not None]
    assert len(guarded) >= 6
    with server.client() as anonymous, server.client(token="mp_" + "x" * 43) as forged:
        for method, path in guarded:
            for client in (anonymous, forged):
                response = client.request(method, _concrete(path), json={})
                assert response.status_code == 401, (method, path, response.text)
                assert response.headers["content-type"].startswith("application/problem+json")
                assert response.json()["status"] == 401 and response.headers["www-authenticate"].startswith("Bearer")


ACTIONS = {  # action -> (method, path, body, the right it needs)
    "read models": ("GET", "/api/v1/models", None, "read"),
    "read runs": ("GET", "/api/v1/runs", None, "read"),
    "who am I": ("GET", "/api/v1/me", None, "read"),
    "predict": ("POST", "/api/v1/predictions", "record", "predict"),
    "read a prediction": ("GET", "/api/v1/predictions/{id}", None, "predict"),
    "enter an outcome": ("POST", "/api/v1/outcomes", "outcome", "outcomes"),
    "read the audit trail": ("GET", "/api/v1/audit", None, "admin"),
}
ROLE_RIGHTS = {"viewer": {"read"}, "counsellor": {"read", "predict", "outcomes"},
               "admin": {"read", "predict", "outcomes", "admin"}}


@pytest.mark.parametrize("role", api.ROLES)
def test_role_by_action_matrix(server: api.ApiServer, role: str) -> None:
    with server.client("admin") as admin:
        logged = admin.post("/api/v1/predictions", json=students(1, seed=50)[0])
        assert logged.status_code == 201, logged.text
        pid = logged.json()["prediction_id"]
    before = api.count_predictions(server)
    allowed_writes = 0
    with server.client(role) as client:
        for action, (method, path, body, right) in ACTIONS.items():
            payload = {"record": students(1, seed=51)[0], "outcome": {"prediction_id": pid, "Depression": 1}}.get(body)
            response = client.request(method, path.replace("{id}", str(pid)), json=payload)
            if right in ROLE_RIGHTS[role]:
                assert response.status_code in (200, 201), (role, action, response.text)
                allowed_writes += action == "predict"
            else:
                assert response.status_code == 403, (role, action, response.text)
                assert right in response.json()["detail"]
    assert api.count_predictions(server) == before + allowed_writes  # a refused request stored nothing
    refused = AuditTrail(server.store()).events(actor=role, action="forbidden", outcome="refused")
    expected_refusals = sum(right not in ROLE_RIGHTS[role] for *_, right in ACTIONS.values())
    assert len(refused) >= expected_refusals


def test_a_single_prediction_is_logged_with_its_version_band_factors_and_account(server: api.ApiServer) -> None:
    with server.client("counsellor") as client:
        response = client.post("/api/v1/predictions", json=students(1, seed=60)[0])
        assert response.status_code == 201, response.text
        body = response.json()
        assert {"prediction_id", "model_version", "probability", "risk_band", "factors", "label", "disclaimer"} <= set(body)
        assert 0 <= body["probability"] <= 1 and body["risk_band"] in ("low", "moderate", "high")
        assert "not a diagnosis" in body["disclaimer"]
        stored = client.get(f"/api/v1/predictions/{body['prediction_id']}").json()
    assert stored["logged_by"] == "counsellor" and stored["model_version"] == body["model_version"]
    assert stored["probability"] == pytest.approx(body["probability"]) and stored["depression"] is None
    assert stored["state"] == "unlabelled"


def test_a_batch_with_one_bad_record_stores_nothing_unless_partial(server: api.ApiServer) -> None:
    records = students(5, seed=61)
    records[3]["Age"] = "two hundred"
    records[1]["Sleep Duration"] = ["7-8 hours"]
    before = api.count_predictions(server)
    with server.client("counsellor") as client:
        refused = client.post("/api/v1/predictions", json=records)
        assert refused.status_code == 422
        problem = refused.json()
        assert problem["type"].endswith("invalid-input") and "nothing was stored" in problem["detail"]
        assert {(e["row"], e["field"]) for e in problem["errors"]} == {(4, "Age"), (2, "Sleep Duration")}
        assert api.count_predictions(server) == before
        partial = client.post("/api/v1/predictions", params={"partial": "true"}, json=records)
    assert partial.status_code == 201, partial.text
    body = partial.json()
    assert body["accepted"] == 3 and [p["row"] for p in body["predictions"]] == [1, 3, 5]
    assert {e["row"] for e in body["rejected"]} == {2, 4}
    assert api.count_predictions(server) == before + 3


def test_a_batch_is_capped_and_an_outcome_in_a_prediction_is_refused(server: api.ApiServer) -> None:
    small = api.start_server(server.home, server.tokens, env={"MINDPULSE_API_MAX_BATCH_ROWS": "3"})
    try:
        with small.client("counsellor") as client:
            before = api.count_predictions(server)
            too_many = client.post("/api/v1/predictions", json=students(4, seed=62))
            assert too_many.status_code == 413 and "at most 3" in too_many.json()["detail"]
            labelled = students(2, seed=63)
            labelled[1]["Depression"] = 1
            with_outcome = client.post("/api/v1/predictions", json=labelled)
            assert with_outcome.status_code == 422 and with_outcome.json()["errors"][0]["field"] == "Depression"
            assert api.count_predictions(server) == before
    finally:
        small.stop()


def test_a_retried_request_with_an_idempotency_key_logs_once(server: api.ApiServer) -> None:
    records = students(3, seed=64)
    before = api.count_predictions(server)
    with server.client("counsellor") as client:
        first = client.post("/api/v1/predictions", json=records, headers={"Idempotency-Key": "batch-64"})
        again = client.post("/api/v1/predictions", json=records, headers={"Idempotency-Key": "batch-64"})
        other = client.post("/api/v1/predictions", json=records[:1], headers={"Idempotency-Key": "batch-64"})
    assert first.status_code == again.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true" and again.json() == first.json()
    assert other.status_code == 422 and "different request" in other.json()["detail"]
    assert api.count_predictions(server) == before + 3
    # The key belongs to its account: another account's same key is a new request.
    with server.client("admin") as admin:
        assert admin.post("/api/v1/predictions", json=records[:1], headers={"Idempotency-Key": "batch-64"}).status_code == 201
    assert api.count_predictions(server) == before + 4


def test_outcomes_follow_the_feedback_rule_and_name_their_account(server: api.ApiServer) -> None:
    with server.client("counsellor") as client:
        ids = [p["prediction_id"] for p in client.post("/api/v1/predictions", json=students(2, seed=65)).json()["predictions"]]
        first = client.post("/api/v1/outcomes", json=[{"prediction_id": ids[0], "Depression": 1},
                                                      {"prediction_id": ids[1], "Depression": 0}])
        assert first.status_code == 200 and first.json()["accepted"] == 2
        same = client.post("/api/v1/outcomes", json={"prediction_id": ids[0], "Depression": 1})
        assert same.status_code == 200 and same.json()["unchanged"] == 1
        different = client.post("/api/v1/outcomes", json={"prediction_id": ids[0], "Depression": 0})
        assert different.status_code == 422 and "correct" in different.json()["detail"]
        unknown = client.post("/api/v1/outcomes", json={"prediction_id": 10**12, "Depression": 0})
        assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "prediction_id"
        corrected = client.post("/api/v1/outcomes", params={"correct": "true"}, json={"prediction_id": ids[0], "Depression": 0})
        assert corrected.status_code == 200 and corrected.json()["accepted"] == 1
        stored = client.get(f"/api/v1/predictions/{ids[0]}").json()
    assert stored["depression"] == 0 and stored["labelled_by"] == "counsellor" and stored["state"] == "pending"
    events = AuditTrail(server.store()).events(actor="counsellor", action="outcomes_corrected")
    assert events and ids[0] in events[0].details["prediction_ids"]


def test_token_scope_expiry_revocation_and_a_disabled_account(server: api.ApiServer) -> None:
    with server.store() as store:
        accounts = Accounts(store)
        accounts.add("survey-system", "counsellor", api.PASSWORD)
        scoped, _ = accounts.create_token("survey-system", "posts predictions only", scopes="predict")
        short, _ = accounts.create_token("survey-system", "short-lived", days=1.5 / 86400)
        revoked, info = accounts.create_token("survey-system", "to revoke")
    record = students(1, seed=66)[0]
    with server.client(token=scoped) as client:
        assert client.post("/api/v1/predictions", json=record).status_code == 201
        assert client.get("/api/v1/models").status_code == 403  # 'read' is not in its scopes
        assert client.post("/api/v1/outcomes", json={"prediction_id": 1, "Depression": 0}).status_code == 403
    with server.client(token=revoked) as client:
        assert client.get("/api/v1/me").status_code == 200
        with server.store() as store:
            Accounts(store).revoke_token(info.id)
        assert client.get("/api/v1/me").status_code == 401
    time.sleep(1.6)
    with server.client(token=short) as client:
        assert client.get("/api/v1/me").status_code == 401
    with server.store() as store:
        Accounts(store).disable("survey-system")
    with server.client(token=scoped) as client:
        assert client.post("/api/v1/predictions", json=record).status_code == 401


def test_sign_in_gives_a_token_and_is_rate_limited(server: api.ApiServer) -> None:
    with server.store() as store:
        Accounts(store).add("ratelimited", "viewer", api.PASSWORD)
    with server.client() as client:
        good = client.post("/api/v1/auth/token", json={"username": "ratelimited", "password": api.PASSWORD})
        assert good.status_code == 200 and good.json()["role"] == "viewer"
        token = good.json()["access_token"]
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()["username"] == "ratelimited"
        statuses = [client.post("/api/v1/auth/token", json={"username": "ratelimited", "password": "wrong password!"}).status_code
                    for _ in range(5)]
        assert statuses == [401] * 5
        blocked = client.post("/api/v1/auth/token", json={"username": "ratelimited", "password": api.PASSWORD})
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    refused = AuditTrail(server.store()).events(actor="ratelimited", action="sign_in", outcome="refused")
    assert len(refused) == 5 and all(e.remote == "127.0.0.1" for e in refused)


@hsettings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(record=fz.records(json_values=True, require_target=False))
def test_fuzzed_records_through_the_api_never_fail_and_refusals_store_nothing(server: api.ApiServer, record: dict) -> None:
    fz.CASES["api record"] += 1
    record = {k: v for k, v in record.items() if str(k).strip() not in ("Depression", "depression")}
    before = api.count_predictions(server)
    with server.client("counsellor") as client:
        response = client.post("/api/v1/predictions", json=record)
    assert response.status_code in (201, 422), response.text
    if response.status_code == 422:
        assert api.count_predictions(server) == before
        problem = response.json()
        assert problem["errors"] and all({"row", "field", "value", "expected"} <= set(e) for e in problem["errors"])
    else:
        assert api.count_predictions(server) == before + 1


@pytest.mark.parametrize("body, status", [
    (b"{not json", 400), (b"[]", 422), (b"42", 422), (b"null", 422), (b'["a", 1]', 422), (b"[" * 100_000, 400),
])
def test_malformed_bodies_get_a_problem_not_a_server_error(server: api.ApiServer, body: bytes, status: int) -> None:
    before = api.count_predictions(server)
    with server.client("counsellor") as client:
        response = client.post("/api/v1/predictions", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert api.count_predictions(server) == before


def test_health_readiness_and_offline_docs(server: api.ApiServer) -> None:
    with server.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["champion"].startswith("v")
        docs = client.get("/api/docs").text
        assert "/api/static-docs/swagger-ui-bundle.js" in docs and "cdn." not in docs and "https://" not in docs
        assert client.get("/api/static-docs/swagger-ui-bundle.js").status_code == 200
        schema = client.get("/api/openapi.json").json()
    assert {"/api/v1/predictions", "/api/v1/outcomes", "/api/v1/models", "/api/v1/runs"} <= set(schema["paths"])


def test_readyz_says_not_ready_without_a_champion(tmp_path: Path) -> None:
    home = tmp_path / "empty"
    home.mkdir()
    migrated(Settings(home=home))  # deployed: the store migrated, nothing else there
    server = api.start_server(home, {})
    try:
        response = httpx.get(f"{server.url}/readyz")
    finally:
        server.stop()
    assert response.status_code == 503 and "no champion" in response.json()["detail"]


def test_the_audit_trail_is_append_only(server: api.ApiServer) -> None:
    with server.store() as store:
        AuditTrail(store).record("someone", "cli", "test_event")
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with store.write_transaction() as connection:
                connection.execute(sa.text("UPDATE audit_events SET actor = 'nobody'"))
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with store.write_transaction() as connection:
                connection.execute(sa.text("DELETE FROM audit_events"))
        assert AuditTrail(store).events(actor="someone")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend_store(request: pytest.FixtureRequest, tmp_path: Path):
    from mindpulse.store import Store
    from postgres_support import fresh_database

    if request.param == "sqlite":
        with Store(f"sqlite:///{tmp_path / 'store.db'}") as store:
            store.migrate()
            yield store
        return
    with fresh_database() as url, Store(url) as store:
        store.migrate()
        yield store


def test_accounts_tokens_and_the_append_only_audit_on_both_backends(backend_store) -> None:
    from mindpulse.accounts import AccountError

    accounts, trail = Accounts(backend_store), AuditTrail(backend_store)
    accounts.add("ada", "counsellor", api.PASSWORD)
    with pytest.raises(AccountError, match="already exists"):
        accounts.add("ada", "viewer", api.PASSWORD)
    with pytest.raises(AccountError, match="password: got 5 characters"):
        accounts.add("bea", "viewer", "short")
    with pytest.raises(AccountError, match="role: got 'root'"):
        accounts.add("bea", "root", api.PASSWORD)
    assert accounts.verify_password("ada", api.PASSWORD).role == "counsellor"
    assert accounts.verify_password("ada", "not the password") is None
    assert accounts.verify_password("nobody", api.PASSWORD) is None
    token, info = accounts.create_token("ada", "integration", scopes="predict,outcomes")
    principal = accounts.authenticate_token(token)
    assert principal.name == "ada" and principal.rights == {"predict", "outcomes"}
    stored = [t for t in accounts.tokens("ada")]
    assert [t.prefix for t in stored] == [token[:10]] and token not in repr(stored)
    accounts.set_role("ada", "viewer")  # a narrower role narrows the token: nothing of it is left
    assert accounts.authenticate_token(token) is None
    trail.record("ada", "api", "predictions_logged", target="predictions 1-2", details={"count": 2})
    for statement in ("UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with backend_store.write_transaction() as connection:
                connection.execute(sa.text(statement))
    assert [e.action for e in trail.events(actor="ada")] == ["predictions_logged"]
