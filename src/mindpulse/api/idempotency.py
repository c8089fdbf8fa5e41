"""The ``Idempotency-Key`` of a state-changing API request.

A retry with the same key and body gets the stored response again (``Idempotent-Replayed:
true``) without changing anything twice; the same key with another body is refused. The response
is stored in the same transaction as the change it reports (:meth:`Idempotency.remember`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import JSONResponse

from mindpulse.accounts import Principal
from mindpulse.api.problems import Problem

#: Longest key accepted.
IDEMPOTENCY_KEY_MAX = 200


class Idempotency:
    """The ``Idempotency-Key`` of one request: a stored response to replay, or a hook storing the new one."""

    def __init__(self, request: Request, principal: Principal, body: Any):
        from mindpulse.store.schema import idempotency_keys as keys_t

        self.table = keys_t
        self.key = request.headers.get("idempotency-key")
        self.account_id = principal.account.id
        if self.key is not None and not (1 <= len(self.key) <= IDEMPOTENCY_KEY_MAX and self.key.isprintable()):
            raise Problem(400, f"Idempotency-Key: expected 1 to {IDEMPOTENCY_KEY_MAX} printable characters")
        self.digest = ""
        if self.key is not None:  # what the key stands for: method, path, query and body
            canonical = json.dumps([request.method, request.url.path, sorted(request.query_params.multi_items()), body],
                                   sort_keys=True, default=str)
            self.digest = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()

    def stored(self, store: Any) -> JSONResponse | None:
        if self.key is None:
            return None
        with store.read_transaction() as connection:
            row = connection.execute(sa.select(self.table).where(self.table.c.account_id == self.account_id,
                                                                 self.table.c.key == self.key)).mappings().first()
        if row is None:
            return None
        if row["request_sha256"] != self.digest:
            raise Problem(422, "Idempotency-Key: already used for a different request; use a new key for a new request")
        return JSONResponse(json.loads(row["response"]), status_code=int(row["status_code"]),
                            headers={"Idempotent-Replayed": "true"})

    def remember(self, connection: sa.Connection, status: int, body: dict[str, Any]) -> None:
        if self.key is None:
            return
        from mindpulse.store.schema import utc_now

        connection.execute(self.table.insert().values(account_id=self.account_id, key=self.key,
                                                      request_sha256=self.digest, status_code=status,
                                                      response=json.dumps(body, default=str), created_at=utc_now()))
