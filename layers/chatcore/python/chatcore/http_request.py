"""A typed view of an HTTP API (payload format 2.0) Lambda event, and the JSON replies.

Identity comes only from the authorizer the gateway ran: ``requestContext.authorizer.jwt.claims``
(the native JWT authorizer; every claim arrives as a string, arrays as ``"[a b]"``) or
``requestContext.authorizer.lambda`` (a Lambda authorizer's context, as ``Identity.to_context``
writes it). Never from a header or the body.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chatcore.auth import AuthError, Identity
from chatcore.errors import BadRequest, ChatError

__all__ = ["STATUS", "HttpRequest", "error_response", "identity_from_authorizer", "json_response"]

# The HTTP status of each stable error code.
STATUS: dict[str, int] = {
    "bad_request": 400,
    "unknown_action": 404,
    "not_member": 403,
    "forbidden": 403,
    "too_large": 413,
    "rate_limited": 429,
    "not_found": 404,
    "attachment_not_found": 404,
    "attachment_not_ready": 409,
    "attachment_expired": 410,
    "internal": 500,
}


def _claim_list(value: Any) -> list[str]:
    """A JWT array claim as the HTTP API hands it over: ``"[a b]"``, or a JSON array string."""
    if isinstance(value, list):
        return [str(v) for v in value]
    if not isinstance(value, str) or not value.strip():
        return []
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            parsed = json.loads(text)
        except ValueError:
            return text[1:-1].split()
        if isinstance(parsed, list):
            return [str(v) for v in parsed]
    return [part for part in text.replace(",", " ").split() if part]


def identity_from_authorizer(authorizer: Mapping[str, Any] | None) -> Identity:
    """The caller of an HTTP API route; ``AuthError`` when no authorizer vouched for one."""
    authorizer = authorizer or {}
    jwt = authorizer.get("jwt")
    if isinstance(jwt, Mapping):
        claims = jwt.get("claims") or {}
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise AuthError("the JWT authorizer passed no sub claim")
        name = claims.get("name") or claims.get("preferred_username") or sub
        rooms = tuple(r for r in _claim_list(claims.get("rooms")) if r.startswith("private:"))
        return Identity(user_id=sub, name=str(name), rooms=rooms)
    context = authorizer.get("lambda")
    if isinstance(context, Mapping):
        return Identity.from_context(context)
    raise AuthError("the request carries no authorizer identity")


@dataclass(frozen=True, kw_only=True)
class HttpRequest:
    method: str
    path: str
    route_key: str
    request_id: str
    path_parameters: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: str | None = None
    authorizer: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> HttpRequest:
        context = event.get("requestContext") or {}
        http = context.get("http") or {}
        body = event.get("body")
        if body is not None and event.get("isBase64Encoded"):
            body = base64.b64decode(body).decode("utf-8", errors="replace")
        return cls(
            method=str(http.get("method", "")).upper(),
            path=str(http.get("path", event.get("rawPath", ""))),
            route_key=str(event.get("routeKey", context.get("routeKey", ""))),
            request_id=str(context.get("requestId", "")),
            path_parameters=dict(event.get("pathParameters") or {}),
            headers={str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()},
            body=body,
            authorizer=context.get("authorizer") or {},
        )

    def identity(self) -> Identity:
        return identity_from_authorizer(self.authorizer)

    def json_body(self) -> Any:
        if not self.body:
            raise BadRequest("the request has no body; send JSON")
        try:
            return json.loads(self.body)
        except ValueError:
            raise BadRequest("the body is not valid JSON") from None

    def wants_json(self) -> bool:
        return "application/json" in self.headers.get("accept", "")


def json_response(
    status: int, body: Any, *, headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **(headers or {})},
        "body": json.dumps(body, separators=(",", ":")),
    }


def error_response(error: ChatError) -> dict[str, Any]:
    return json_response(
        STATUS.get(error.code, 400), {"code": error.code, "message": error.message}
    )
