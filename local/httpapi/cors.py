"""CORS the way an HTTP API with ``CorsConfiguration`` does it: the gateway answers itself.

A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) is answered 204
by the gateway, whatever routes exist, without invoking anything. Every other response gets the
configured CORS headers when its ``Origin`` is allowed, and loses the ``access-control-*`` headers
the backend set: with a configuration, API Gateway ignores the integration's own. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence

from local.httpapi.responses import HttpReply
from local.model import CorsSpec

__all__ = ["allowed_origin", "apply_cors", "is_preflight", "preflight_reply"]


def is_preflight(method: str, origin: str | None, request_method: str | None) -> bool:
    return method.upper() == "OPTIONS" and bool(origin) and bool(request_method)


def allowed_origin(cors: CorsSpec, origin: str | None) -> str | None:
    """The ``access-control-allow-origin`` value for ``origin``, or None when it is not allowed."""
    if not origin:
        return None
    if "*" in cors.allow_origins:
        return "*"
    for allowed in cors.allow_origins:
        if allowed.rstrip("/").lower() == origin.rstrip("/").lower():
            return origin
    return None


def _joined(values: Sequence[str]) -> str:
    return ",".join(values)


def preflight_reply(cors: CorsSpec, origin: str | None) -> HttpReply:
    headers: list[tuple[str, str]] = []
    value = allowed_origin(cors, origin)
    if value is not None:
        headers.append(("access-control-allow-origin", value))
        if cors.allow_methods:
            headers.append(("access-control-allow-methods", _joined(cors.allow_methods)))
        if cors.allow_headers:
            headers.append(("access-control-allow-headers", _joined(cors.allow_headers)))
        if cors.max_age is not None:
            headers.append(("access-control-max-age", str(cors.max_age)))
        if cors.allow_credentials:
            headers.append(("access-control-allow-credentials", "true"))
    return HttpReply(204, headers, b"")


def apply_cors(cors: CorsSpec, origin: str | None, reply: HttpReply) -> HttpReply:
    """``reply`` with the backend's CORS headers replaced by the configured ones."""
    headers = [(k, v) for k, v in reply.headers if not k.lower().startswith("access-control-")]
    value = allowed_origin(cors, origin)
    if value is not None:
        headers.append(("access-control-allow-origin", value))
        if cors.expose_headers:
            headers.append(("access-control-expose-headers", _joined(cors.expose_headers)))
        if cors.allow_credentials:
            headers.append(("access-control-allow-credentials", "true"))
    return HttpReply(reply.status, headers, reply.body, reply.problem)
