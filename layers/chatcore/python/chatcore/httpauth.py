"""The HTTP API's Lambda authorizer (payload 2.0, simple responses), for HS256 tokens. No I/O.

``authorize_route`` verifies the bearer token with the same ``TokenVerifier`` as ``$connect``
and checks the route's scopes (``httpapi.ROUTE_SCOPES``: a token needs one of them), then
answers ``{"isAuthorized": true, "context": ...}`` with the identity context the WebSocket
authorizer gives, which reaches the handler as ``requestContext.authorizer.lambda``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chatcore.auth import AuthError, TokenVerifier
from chatcore.httpapi import ROUTE_SCOPES

__all__ = [
    "HttpAuthorizerRequest",
    "authorize_route",
    "bearer_token",
    "is_http_authorizer_event",
]


def is_http_authorizer_event(event: Mapping[str, Any]) -> bool:
    """An HTTP API authorizer event (2.0) rather than a WebSocket ``$connect`` one."""
    return event.get("version") == "2.0" and "routeArn" in event


def bearer_token(header: str | None) -> str:
    """The token of ``Authorization: Bearer <token>`` (the scheme in any case), else ""."""
    if not header:
        return ""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return ""
    return token.strip()


@dataclass(frozen=True, kw_only=True)
class HttpAuthorizerRequest:
    """``token`` must never be logged."""

    route_key: str
    route_arn: str
    token: str

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> HttpAuthorizerRequest:
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        context = event.get("requestContext") or {}
        return cls(
            route_key=str(event.get("routeKey") or context.get("routeKey") or ""),
            route_arn=str(event.get("routeArn", "")),
            token=bearer_token(headers.get("authorization")),
        )


def authorize_route(
    request: HttpAuthorizerRequest, verifier: TokenVerifier
) -> tuple[dict[str, Any], str]:
    """The simple response, and a reason that is safe to log."""
    try:
        identity = verifier.verify(request.token)
    except AuthError as exc:
        return {"isAuthorized": False}, exc.reason
    needed = ROUTE_SCOPES.get(request.route_key, ())
    if needed and not any(scope in identity.scopes for scope in needed):
        return {"isAuthorized": False}, f"missing scope {' or '.join(needed)}"
    return {"isAuthorized": True, "context": identity.to_context()}, "allowed"
