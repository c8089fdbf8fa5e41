"""Errors as RFC 9457 problem details (``application/problem+json``).

Every refusal of the API is one JSON object: ``type``, ``title``, ``status``, ``detail`` (one
line, as the CLI would print it) and, for bad input, ``errors``: one entry per bad field with
its ``row``, ``field``, ``value`` and what is ``expected`` (the data contract's own words).
"""

from __future__ import annotations

from typing import Any

PROBLEM_JSON = "application/problem+json"
TYPES = {
    400: "bad-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found", 409: "conflict",
    413: "too-large", 415: "unsupported-media-type", 422: "invalid-input", 429: "too-many-requests",
    500: "internal-error", 503: "not-ready",
}
TITLES = {
    400: "Bad request", 401: "Sign-in needed", 403: "Not allowed", 404: "Not found", 409: "Conflict",
    413: "Too large", 415: "Unsupported media type", 422: "Invalid input", 429: "Too many requests",
    500: "Internal error", 503: "Not ready",
}


class Problem(Exception):
    """An API refusal: the HTTP status, one line of detail, and the bad fields if any."""

    def __init__(self, status: int, detail: str, *, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.errors, self.headers = status, detail, errors, headers or {}

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": f"/api/problems/{TYPES.get(self.status, 'error')}",
                                "title": TITLES.get(self.status, "Error"), "status": self.status, "detail": self.detail}
        if instance:
            body["instance"] = instance
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def contract_errors(exc: Any) -> list[dict[str, Any]]:
    """The problems of a :class:`mindpulse.contract.ContractError` as ``errors`` entries."""
    return [{"row": p.row, "field": p.field, "value": p.value, "expected": p.expected} for p in exc.problems]
