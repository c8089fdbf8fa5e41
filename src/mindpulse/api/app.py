"""The routes of the HTTP API, version 1.

- ``POST /api/v1/predictions``: screen one student (a JSON object) or a batch (an array of
  objects, at most ``MINDPULSE_API_MAX_BATCH_ROWS``) with the champion and log each prediction,
  as ``mindpulse predict --log`` does. The same data contract applies, field by field; a batch
  with any bad record stores nothing (every problem is listed) unless ``?partial=true``, which
  stores the good records and lists the others.
- ``GET /api/v1/predictions/{id}``: one logged prediction, with its outcome once known.
- ``POST /api/v1/outcomes``: true outcomes by prediction id (one object or an array), with the
  feedback rule: a second, different outcome is refused unless ``?correct=true``.
- ``GET /api/v1/models/{version}/card`` (JSON) and ``.../card.html``: a version's model card.
- ``GET /api/v1/models``, ``GET /api/v1/runs``, ``GET /api/v1/audit``, ``GET /api/v1/me``.
- ``POST /api/v1/auth/token``: a username and password for a bearer token (rate-limited).
- ``GET /healthz`` (the process answers) and ``GET /readyz`` (database reachable, champion present).
- ``/api/docs`` and ``/api/openapi.json``: the documentation, served without any CDN.

A state-changing request may carry an ``Idempotency-Key`` header: its response is stored in the
same transaction as the change, and a retry with the same key and body gets that response again
(``Idempotent-Replayed: true``) without logging anything twice; the same key with another body
is refused. Every change and every refusal of a signed-in caller is in the audit trail.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mindpulse import __version__
from mindpulse.accounts import Accounts, LoginLimiter, Principal, TooManyAttempts
from mindpulse.api import API_PREFIX
from mindpulse.api.idempotency import Idempotency
from mindpulse.api.problems import PROBLEM_JSON, Problem, contract_errors
from mindpulse.api.security import remote_address, requires
from mindpulse.audit import AuditTrail
from mindpulse.predict import DISCLAIMER, risk_band

#: Largest request body read, in bytes (a full batch of records is ~5 MB).
MAX_BODY_BYTES = 32 * 1024 * 1024
#: Requests with at most this many records are handled on the event loop; larger ones in a worker thread.
INLINE_RECORDS = 20
SIGN_IN_TOKEN_HOURS = 12
#: A model card loads nothing: its style is inline and its figure an inline SVG.
CARD_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
_PREDICTION_FIELDS = ("probability", "label", "risk_band", "factors", "model_version", "threshold")


class Services:
    """What the routes use, opened once per server process: the store, the registry, accounts, audit."""

    def __init__(self, settings: Any):
        from mindpulse.registry import ModelRegistry
        from mindpulse.store import Store

        self.settings = settings
        self.store = Store.from_settings(settings)
        self.registry = ModelRegistry.from_settings(settings)
        self.accounts = Accounts(self.store)
        self.audit = AuditTrail(self.store)
        self.limiter = LoginLimiter(settings.login_max_failures, settings.login_window_seconds)
        self._predictor: Any = None
        self._pointer_stamp: Any = None
        self._lock = threading.Lock()

    def predictor(self) -> Any:
        """The champion's predictor, loaded again when the registry's pointer changes (a promotion, a rollback)."""
        from mindpulse.predict import Predictor
        from mindpulse.registry import RegistryError

        try:
            stat = self.registry.pointer_path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if self._predictor is None or stamp != self._pointer_stamp:
                try:
                    self._predictor = Predictor.load(self.registry)
                except RegistryError as exc:
                    raise Problem(503, str(exc)) from None
                self._pointer_stamp = stamp
            return self._predictor

    def close(self) -> None:
        self.store.close()


def _problem_response(problem: Problem, request: Request) -> JSONResponse:
    return JSONResponse(problem.body(request.url.path), status_code=problem.status, headers=problem.headers,
                        media_type=PROBLEM_JSON)


async def _json_body(request: Request) -> Any:
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if kind not in ("application/json", ""):
        raise Problem(415, f"Content-Type: got {kind!r}, expected application/json")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise Problem(413, f"body: {int(declared):,} bytes, expected at most {MAX_BODY_BYTES:,}")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY_BYTES:
            raise Problem(413, f"body: more than {MAX_BODY_BYTES:,} bytes")
    try:
        return json.loads(bytes(data) or b"null")
    except RecursionError:
        raise Problem(400, "body: JSON nested too deeply") from None
    except ValueError as exc:
        raise Problem(400, f"body: not valid JSON ({exc})"[:300]) from None


def _records(payload: Any, *, what: str, limit: int) -> tuple[list[Any], bool]:
    """The records of a body (one object, or an array of objects) and whether it was a single one."""
    if isinstance(payload, dict):
        return [payload], True
    if not isinstance(payload, list):
        kind = "null" if payload is None else type(payload).__name__
        raise Problem(422, f"body: got a JSON {kind}, expected one {what} object or an array of them",
                      errors=[{"row": "body", "field": "(body)", "value": kind, "expected": f"a {what} object or an array"}])
    if not payload:
        raise Problem(422, "body: an empty array, expected at least one record",
                      errors=[{"row": "body", "field": "(body)", "value": "[]", "expected": "at least one record"}])
    if len(payload) > limit:
        raise Problem(413, f"body: {len(payload):,} records, expected at most {limit:,} in one request "
                           "(MINDPULSE_API_MAX_BATCH_ROWS); send several requests")
    bad = [{"row": i, "field": "(record)", "value": type(r).__name__, "expected": f"a {what} object"}
           for i, r in enumerate(payload, start=1) if not isinstance(r, dict)]
    if bad:
        raise Problem(422, f"body: {len(bad)} element(s) are not objects; first at row {bad[0]['row']}", errors=bad)
    return payload, False


async def _write(request: Request, principal: Principal, what: str, limit: int, store: Any, work: Any) -> Any:
    """A state-changing request: its records read, a stored response replayed for a repeated
    Idempotency-Key, else ``work(records, single, idempotency, remote)`` done. One record takes about a
    millisecond and is done on the event loop; a batch runs in a worker thread, so the server keeps
    answering while it is scored."""
    body = await _json_body(request)
    records, single = _records(body, what=what, limit=limit)
    idempotency = Idempotency(request, principal, body)
    replay = idempotency.stored(store)
    if replay is not None:
        return replay
    arguments = (records, single, idempotency, remote_address(request))
    return work(*arguments) if len(records) <= INLINE_RECORDS else await run_in_threadpool(work, *arguments)


def _json_safe(value: Any) -> Any:
    import math

    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def create_app(settings: Any = None) -> FastAPI:
    """The API application for ``settings`` (default: from the environment)."""
    from fastapi_offline import FastAPIOffline

    from mindpulse.settings import get_settings

    settings = settings or get_settings()
    app = FastAPIOffline(
        title="MindPulse API", version=__version__, docs_url="/api/docs", redoc_url=None,
        openapi_url="/api/openapi.json", static_url="/api/static-docs",
        description="Student depression-risk screening: a screening aid, never a diagnosis. Sign in with "
                    "POST /api/v1/auth/token or use a token from 'mindpulse tokens create'.",
    )
    services = Services(settings)
    app.state.services = services

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return _problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"row": "request", "field": ".".join(str(p) for p in e.get("loc", ())), "value": str(e.get("input"))[:80],
                   "expected": e.get("msg", "")} for e in exc.errors()]
        return _problem_response(Problem(422, "; ".join(f"{e['field']}: {e['expected']}" for e in errors)[:500],
                                         errors=errors), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _problem_response(Problem(exc.status_code, str(exc.detail), headers=dict(exc.headers or {})), request)

    @app.get("/healthz", tags=["health"], summary="The server answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="The database answers and a champion model exists")
    def readyz() -> dict[str, Any]:
        try:
            with services.store.read_transaction() as connection:
                connection.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            raise Problem(503, f"database {services.store.describe_url()}: {type(exc).__name__}") from None
        champion = services.registry.champion()
        if champion is None:
            raise Problem(503, f"{services.registry.root}: no champion model yet")
        return {"status": "ready", "champion": champion.version}

    @app.post(f"{API_PREFIX}/auth/token", tags=["accounts"], summary="A bearer token for a username and password")
    async def sign_in(request: Request) -> dict[str, Any]:
        body = await _json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("username"), str) or not isinstance(body.get("password"), str):
            raise Problem(422, "body: expected {\"username\": \"...\", \"password\": \"...\"}")
        username, password, remote = body["username"][:64], body["password"], remote_address(request)
        try:
            services.limiter.check(username, remote)
        except TooManyAttempts as exc:
            raise Problem(429, str(exc), headers={"Retry-After": str(exc.retry_after)}) from None
        account = await run_in_threadpool(services.accounts.verify_password, username, password)
        if account is None:
            services.limiter.failed(username, remote)
            services.audit.record(username, "api", "sign_in", outcome="refused", remote=remote)
            raise Problem(401, "wrong username or password, or the account is disabled")
        services.limiter.succeeded(username)
        token, info = services.accounts.create_token(account.username, "sign-in",
                                                     days=SIGN_IN_TOKEN_HOURS / 24)
        services.audit.record(account.username, "api", "sign_in", remote=remote, target=f"token {info.id}")
        return {"access_token": token, "token_type": "bearer", "expires_at": info.expires_at.isoformat(),
                "username": account.username, "role": account.role, "rights": list(info.scopes)}

    @app.get(f"{API_PREFIX}/me", tags=["accounts"], summary="Who the token belongs to and what it may do")
    def me(principal: Principal = Depends(requires("read"))) -> dict[str, Any]:
        return {"username": principal.name, "role": principal.account.role, "rights": sorted(principal.rights),
                "token_id": principal.token_id}

    @app.post(f"{API_PREFIX}/predictions", tags=["screening"], status_code=201,
              summary="Screen one student (object) or a batch (array) and log each prediction",
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
                  "oneOf": [{"type": "object", "description": "one record: the survey's fields, real-header or canonical names"},
                            {"type": "array", "items": {"type": "object"}}]}}}}})
    async def post_predictions(request: Request, partial: bool = False,
                               principal: Principal = Depends(requires("predict"))) -> Any:
        return await _write(request, principal, "record", settings.api_max_batch_rows, services.store,
                            lambda records, single, idempotency, remote: _log_predictions(
                                services, principal, records, single, partial, idempotency, remote))

    @app.get(f"{API_PREFIX}/predictions/{{prediction_id}}", tags=["screening"], summary="One logged prediction")
    def get_prediction(prediction_id: int, principal: Principal = Depends(requires("predict"))) -> dict[str, Any]:
        row = services.store.prediction(prediction_id)
        if row is None:
            raise Problem(404, f"prediction_id {prediction_id}: no prediction was logged with this id")
        out = {k: _json_safe(v) for k, v in row.items()}
        out["risk_band"] = risk_band(float(row["probability"])) if row.get("probability") is not None else None
        out["disclaimer"] = DISCLAIMER
        return out

    @app.post(f"{API_PREFIX}/outcomes", tags=["screening"],
              summary="True outcomes of logged predictions (one object or an array)",
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
                  "oneOf": [{"type": "object", "properties": {"prediction_id": {"type": "integer"},
                                                              "Depression": {"type": "integer", "enum": [0, 1]}}},
                            {"type": "array", "items": {"type": "object"}}]}}}}})
    async def post_outcomes(request: Request, correct: bool = False, partial: bool = False,
                            principal: Principal = Depends(requires("outcomes"))) -> Any:
        return await _write(request, principal, "outcome", settings.api_max_batch_rows, services.store,
                            lambda records, _single, idempotency, remote: _record_outcomes(
                                services, principal, records, correct, partial, idempotency, remote))

    @app.get(f"{API_PREFIX}/models", tags=["models"], summary="The champion, its backup and every registered version")
    def get_models(principal: Principal = Depends(requires("read"))) -> dict[str, Any]:
        registry = services.registry
        champion, backup = registry.champion(), registry.backup()
        versions = [{"version": v.version, "status": v.status, "created_at": v.created_at,
                     "model": (v.metadata.get("model") or {}).get("name"),
                     "rows": (v.metadata.get("data") or {}).get("rows"),
                     "cv_roc_auc": v.metric("cv"), "holdout_roc_auc": v.metric("holdout"),
                     "refusal_reason": v.metadata.get("refusal_reason"),
                     "card": f"{API_PREFIX}/models/{v.version}/card"} for v in registry.versions()]
        return {"champion": champion.version if champion else None, "backup": backup.version if backup else None,
                "versions": versions}

    @app.get(f"{API_PREFIX}/models/{{version}}/card", tags=["models"], summary="A version's model card (the JSON record)")
    def get_model_card(version: str, principal: Principal = Depends(requires("read"))) -> Any:
        return JSONResponse(json.loads(_model_card(services, version)["json"].read_text(encoding="utf-8")))

    @app.get(f"{API_PREFIX}/models/{{version}}/card.html", tags=["models"], response_class=HTMLResponse,
             summary="A version's model card as one offline HTML page")
    def get_model_card_html(version: str, principal: Principal = Depends(requires("read"))) -> HTMLResponse:
        return HTMLResponse(_model_card(services, version)["html"].read_text(encoding="utf-8"),
                            headers={"Content-Security-Policy": CARD_POLICY})

    @app.get(f"{API_PREFIX}/runs", tags=["runs"], summary="The latest pipeline runs and their summaries")
    def get_runs(limit: int = 20, principal: Principal = Depends(requires("read"))) -> dict[str, Any]:
        from mindpulse.monitoring.index import list_report_runs

        runs = list_report_runs(settings.reports_dir)[: max(1, min(int(limit), 200))]
        keys = ("dag_id", "run_id", "hand_run", "created_at", "outcome", "rows", "drift_status", "drift_share",
                "accuracy", "roc_auc", "run_summary")
        return {"runs": [{k: run.get(k) for k in keys} for run in runs]}

    @app.get(f"{API_PREFIX}/audit", tags=["accounts"], summary="The audit trail, newest first")
    def get_audit(actor: str | None = None, action: str | None = None, outcome: str | None = None, limit: int = 100,
                  principal: Principal = Depends(requires("admin"))) -> dict[str, Any]:
        events = services.audit.events(actor=actor, action=action, outcome=outcome, limit=max(1, min(int(limit), 1000)))
        return {"events": [e.as_dict() for e in events]}

    @app.on_event("shutdown")
    def _close() -> None:
        services.close()

    return app


def _model_card(services: Services, version: str) -> dict[str, Any]:
    """The paths of ``version``'s model card (written first when missing or out of date); 404 for an unknown version."""
    from mindpulse.model_card import read_card
    from mindpulse.registry import RegistryError, version_number

    try:
        version_number(version)
        known = [v.version for v in services.registry.versions()]
    except RegistryError as exc:
        raise Problem(404 if "expected a registry version" in str(exc) else 503, str(exc)) from None
    if version not in known:
        raise Problem(404, f"version: got {version!r}, expected one of the registered versions "
                           f"({', '.join(known) or 'none yet'})")
    try:
        return read_card(services.registry, version, services.settings)
    except (RegistryError, ValueError) as exc:
        raise Problem(503, f"the model card of {version} cannot be written: {exc}") from None


def _log_predictions(services: Services, principal: Principal, records: list[dict[str, Any]], single: bool,
                     partial: bool, idempotency: Idempotency, remote: str | None) -> JSONResponse:
    from mindpulse import contract as c

    labelled = [i for i, r in enumerate(records, start=1)
                if any(str(k).strip() in ("Depression", c.TARGET) for k in r)]
    if labelled:
        raise Problem(422, f"Depression: given in {len(labelled)} record(s) (first at row {labelled[0]}); a prediction "
                           "is logged without its outcome: send outcomes to POST /api/v1/outcomes once known",
                      errors=[{"row": i, "field": "Depression", "value": "(given)",
                               "expected": "no outcome in a prediction request"} for i in labelled[:100]])
    predictor = services.predictor()
    actor = principal.name

    def finish(connection: sa.Connection, body: dict[str, Any], ids: list[int]) -> None:
        services.audit.record(actor, "api", "predictions_logged", connection=connection, remote=remote,
                              target=f"predictions {min(ids)}-{max(ids)}" if ids else None,
                              details={"count": len(ids), "model_version": predictor.version})
        idempotency.remember(connection, 201, body)

    if single:
        try:
            prediction = predictor.predict_record(records[0])
        except c.ContractError as exc:
            raise Problem(422, str(exc), errors=contract_errors(exc)) from None
        body = {k: getattr(prediction, k) for k in _PREDICTION_FIELDS}
        body["disclaimer"] = DISCLAIMER

        def single_done(connection: sa.Connection, ids: list[int]) -> None:
            body["prediction_id"] = ids[0]
            finish(connection, body, ids)

        services.store.log_prediction(prediction.record, probability=prediction.probability, label=prediction.label,
                                      model_version=prediction.model_version, actor=actor, in_transaction=single_done)
        return JSONResponse(body, status_code=201)

    frame, typed = c.records_frame(records)
    try:
        result = c.validate_frame(frame, require_target=False, source="records")
    except c.ContractError as exc:
        raise Problem(422, str(exc), errors=contract_errors(exc)) from None
    typed_rows = {p.row for p in typed}
    problems = sorted(typed + [p for p in result.problems if (p.row, p.field) not in {(t.row, t.field) for t in typed}],
                      key=lambda p: (p.row if isinstance(p.row, int) else 0, p.field))
    valid = result.valid.drop(index=[r for r in typed_rows if r in result.valid.index])
    if problems and not partial:
        raise Problem(422, f"records: {len({p.row for p in problems})} of {len(records)} record(s) are invalid; nothing "
                           f"was stored (add ?partial=true to store the others). First: {problems[0]}",
                      errors=[{"row": p.row, "field": p.field, "value": p.value, "expected": p.expected} for p in problems])
    rejected = [{"row": p.row, "field": p.field, "value": p.value, "expected": p.expected} for p in problems]
    body: dict[str, Any] = {"model_version": predictor.version, "disclaimer": DISCLAIMER, "accepted": 0,
                            "predictions": [], "rejected": rejected}
    if valid.empty:
        return JSONResponse(body, status_code=422 if problems else 201)
    scored = predictor.predict_frame(valid, factors=True)

    def batch_done(connection: sa.Connection, ids: list[int]) -> None:
        body["accepted"] = len(ids)
        body["predictions"] = [
            {"row": int(row), "prediction_id": pid, "probability": float(p), "label": int(label), "risk_band": band,
             "factors": [f for f in (factors or "").split("; ") if f]}
            for row, pid, p, label, band, factors in zip(scored.index, ids, scored["probability"], scored["prediction"],
                                                          scored["risk_band"], scored["factors"])]
        finish(connection, body, ids)

    services.store.log_predictions(scored.drop(columns=["risk_band", "factors"]), actor=actor, in_transaction=batch_done)
    return JSONResponse(body, status_code=201)


def _record_outcomes(services: Services, principal: Principal, records: list[dict[str, Any]], correct: bool,
                     partial: bool, idempotency: Idempotency, remote: str | None) -> JSONResponse:
    import pandas as pd

    from mindpulse import contract as c

    rows = []
    for record in records:
        keys = {str(k).strip().lower(): v for k, v in record.items()}
        rows.append({"prediction_id": keys.get("prediction_id"), "Depression": keys.get("depression")})
    raw = pd.DataFrame(rows, index=range(1, len(rows) + 1), dtype=object)
    body: dict[str, Any] = {}

    def done(connection: sa.Connection, report: Any) -> None:
        body.update(accepted=report.accepted, unchanged=report.unchanged, correct=correct, changed=report.changed,
                    rejected=[{"row": p.row, "field": p.field, "value": p.value, "expected": p.expected}
                              for p in report.rejected])
        if report.changed:
            services.audit.record(principal.name, "api", "outcomes_corrected" if correct else "outcomes_recorded",
                                  connection=connection, remote=remote, target=f"{len(report.changed)} prediction(s)",
                                  details={"prediction_ids": report.changed[:1000], "count": len(report.changed)})
        idempotency.remember(connection, 200, body)

    try:
        services.store.record_outcomes(raw, source="outcomes", correct=correct, strict=not partial,
                                       actor=principal.name, in_transaction=done)
    except c.ContractError as exc:
        raise Problem(422, str(exc) + "; nothing was stored" + ("" if partial else " (add ?partial=true to store the others)"),
                      errors=contract_errors(exc)) from None
    return JSONResponse(body, status_code=200)
