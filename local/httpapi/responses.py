"""What an HTTP API makes of a Lambda's answer (payload format 2.0), and its own error answers.

A result with ``statusCode`` is used as given: ``headers`` (scalar values), ``cookies`` (one
``set-cookie`` header each), ``body`` (a string, base64 when ``isBase64Encoded``). A result
without ``statusCode`` is inferred: 200, ``content-type: application/json``, the result's JSON as
the body (a string result is the body itself). A Lambda error or an answer API Gateway cannot use
(a non-numeric status, a body that is not a string, bad base64) is 500
``{"message":"Internal Server Error"}``. ``multiValueHeaders`` belongs to payload format 1.0 and is
ignored, as API Gateway ignores it in 2.0. Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["ERROR_MESSAGES", "HttpReply", "InvokeResultLike", "error_reply", "integration_reply"]

# API Gateway's own bodies for the answers it gives itself.
ERROR_MESSAGES = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

# Hop-by-hop and framing headers: the gateway frames the response itself.
_DROPPED = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})


class InvokeResultLike(Protocol):
    ok: bool
    payload: Any
    error: dict[str, Any] | None


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    problem: str | None = None  # why the gateway answered 5xx itself (for the log only)

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None


def error_reply(
    status: int, *, problem: str | None = None, headers: list[tuple[str, str]] | None = None
) -> HttpReply:
    """API Gateway's own answer, e.g. ``404 {"message":"Not Found"}``."""
    body = json.dumps({"message": ERROR_MESSAGES.get(status, "Error")}, separators=(",", ":"))
    return HttpReply(
        status,
        [("content-type", "application/json"), *(headers or [])],
        body.encode(),
        problem,
    )


def _malformed(problem: str) -> HttpReply:
    return error_reply(500, problem=f"malformed Lambda proxy response: {problem}")


def _status(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        status = value
    elif isinstance(value, str) and value.strip().isdigit():
        status = int(value)
    else:
        return None
    return status if 100 <= status <= 599 else None


def _header_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


def _structured(payload: Mapping[str, Any]) -> HttpReply:
    status = _status(payload.get("statusCode"))
    if status is None:
        return _malformed(f"statusCode {payload.get('statusCode')!r} is not an HTTP status")
    headers: list[tuple[str, str]] = []
    raw_headers = payload.get("headers") or {}
    if not isinstance(raw_headers, Mapping):
        return _malformed("headers must be an object")
    for name, value in raw_headers.items():
        if value is None:
            continue
        text = _header_text(value)
        if text is None:
            return _malformed(f"header {name!r} must be a string")
        if str(name).lower() not in _DROPPED:
            headers.append((str(name).lower(), text))
    cookies = payload.get("cookies") or []
    if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
        return _malformed("cookies must be a list of strings")
    headers += [("set-cookie", cookie) for cookie in cookies]
    body = payload.get("body")
    if body is None:
        data = b""
    elif not isinstance(body, str):
        return _malformed("body must be a string")
    elif payload.get("isBase64Encoded") is True:
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return _malformed("body is not valid base64 but isBase64Encoded is true")
    else:
        data = body.encode("utf-8")
    if not any(name == "content-type" for name, _ in headers):
        headers.insert(0, ("content-type", "text/plain; charset=utf-8"))
    return HttpReply(status, headers, data)


def integration_reply(result: InvokeResultLike) -> HttpReply:
    """The HTTP answer for a Lambda proxy integration's result."""
    if not result.ok:
        error = result.error or {}
        return error_reply(
            500,
            problem=f"integration failed: {error.get('errorType')}: {error.get('errorMessage')}",
        )
    payload = result.payload
    if isinstance(payload, Mapping) and "statusCode" in payload:
        return _structured(payload)
    # No statusCode: API Gateway assumes 200 and JSON, with the result itself as the body.
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return HttpReply(200, [("content-type", "application/json")], body.encode("utf-8"))
