"""Who may call what: bearer tokens and the right each route needs.

Every route of the API either names the right it needs with :func:`requires` (a FastAPI
dependency whose ``right`` attribute the tests read off the route table, so a route added
without a rule fails them) or is listed in :data:`PUBLIC`.
"""

from __future__ import annotations

from fastapi import Request

from mindpulse.accounts import RIGHTS, Principal
from mindpulse.api.problems import Problem

#: Routes anyone may call: health probes, the sign-in itself, and the API's own documentation.
PUBLIC = frozenset({"/healthz", "/readyz", "/api/v1/auth/token", "/api/docs", "/api/openapi.json",
                    "/docs/oauth2-redirect", "/api/static-docs"})


def remote_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


class Requires:
    """The dependency of a route that needs ``right``: the caller's :class:`Principal`, or a 401/403 problem."""


    def __init__(self, right: str):
        if right not in RIGHTS:
            raise ValueError(f"right: got {right!r}, expected one of {', '.join(RIGHTS)}")
        self.right = right

    async def __call__(self, request: Request) -> Principal:
        # Run on the event loop, not in a worker thread: the lookup is one indexed read (~0.2 ms),
        # less than the hop to a thread and back would cost.
        services = request.app.state.services
        token = bearer_token(request)
        if token is None:
            raise Problem(401, "this route needs 'Authorization: Bearer <token>' (mindpulse tokens create, "
                               "or POST /api/v1/auth/token with a username and password)",
                          headers={"WWW-Authenticate": "Bearer"})
        principal = services.accounts.authenticate_token(token)
        if principal is None:
            services.audit.record("anonymous", "api", "token_refused", outcome="refused",
                                  remote=remote_address(request), target=f"{request.method} {request.url.path}")
            raise Problem(401, "the bearer token is unknown, expired or revoked, or its account is disabled",
                          headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if not principal.may(self.right):
            services.audit.record(principal.name, "api", "forbidden", outcome="refused", remote=remote_address(request),
                                  target=f"{request.method} {request.url.path}",
                                  details={"needs": self.right, "role": principal.account.role,
                                           "token": principal.token_id})
            raise Problem(403, f"this route needs the right {self.right!r}; {principal.name!r} "
                               f"({principal.account.role}) has {', '.join(sorted(principal.rights)) or 'none'} here")
        request.state.principal = principal
        return principal


_REQUIRES = {right: Requires(right) for right in RIGHTS}


def requires(right: str) -> Requires:
    """The dependency of routes that need ``right`` (one shared instance per right)."""
    return _REQUIRES[right]
