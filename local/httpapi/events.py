"""Payload format 2.0 events, field for field like the ones an HTTP API sends to Lambda.

Pure functions over plain data: :class:`HttpRequest` is what the client sent, :class:`ApiInfo`
what the stage looks like. The shape follows captured events (see ``tests/events/http.json``):
header names lowercased, repeated headers and query parameters comma-joined, the ``cookie``
header moved to ``cookies``, ``rawQueryString`` exactly as sent, ``routeKey`` as declared
(``GET /items/{id}``), ``timeEpoch`` in milliseconds, and every optional key (``cookies``,
``queryStringParameters``, ``pathParameters``, ``stageVariables``, ``body``) left out when empty.
Bodies that are not text reach the function base64-encoded with ``isBase64Encoded: true``.
"""

from __future__ import annotations

import base64
import secrets
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from local.gateway.events import new_id, request_time

__all__ = [
    "ApiInfo",
    "HttpRequest",
    "authorizer_event",
    "claims_as_strings",
    "is_text",
    "new_id",
    "request_event",
    "route_arn",
]

# Content types whose bodies an HTTP API passes as text; everything else is base64-encoded
# (form posts included, as on AWS).
_TEXT_TYPES = (
    "application/json",
    "application/javascript",
    "application/xml",
    "application/x-yaml",
    "application/yaml",
    "application/graphql",
)


@dataclass(frozen=True)
class ApiInfo:
    api_id: str
    stage: str  # "$default" or a stage name
    region: str
    account_id: str
    stage_variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HttpRequest:
    """One request as it arrived; ``path`` is percent-encoded as sent, without the query."""

    method: str
    path: str
    query: str  # the raw query string, without "?"
    headers: tuple[tuple[str, str], ...]  # as received, names in any case, repeats kept
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"
    domain_name: str = "127.0.0.1"  # the Host the client used

    def header(self, name: str) -> str | None:
        """The value of ``name`` (repeats comma-joined), or None."""
        wanted = name.lower()
        values = [v for k, v in self.headers if k.lower() == wanted]
        return ",".join(values) if values else None


def is_text(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return (
        media.startswith("text/")
        or media in _TEXT_TYPES
        or media.endswith("+json")
        or media.endswith("+xml")
    )


def _joined_headers(request: HttpRequest, trace_ms: int) -> dict[str, str]:
    headers: dict[str, str] = {}
    forwarded: list[str] = []
    for name, value in request.headers:
        key = name.lower()
        if key == "cookie":
            continue  # cookies travel in "cookies"
        if key == "x-forwarded-for":
            forwarded.append(value)
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    # API Gateway adds its forwarding headers and a trace id to what the client sent.
    headers["x-amzn-trace-id"] = f"Root=1-{trace_ms // 1000:08x}-{secrets.token_hex(12)}"
    headers["x-forwarded-for"] = ", ".join([*forwarded, request.source_ip])
    headers.setdefault("x-forwarded-port", "443")
    headers.setdefault("x-forwarded-proto", "https")
    return headers


def _cookies(request: HttpRequest) -> list[str]:
    cookies: list[str] = []
    for name, value in request.headers:
        if name.lower() == "cookie":
            cookies += [part.strip() for part in value.split(";") if part.strip()]
    return cookies


def _query_parameters(raw: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in urllib.parse.parse_qsl(raw, keep_blank_values=True):
        params[name] = f"{params[name]},{value}" if name in params else value
    return params


def _domain_prefix(domain_name: str) -> str:
    return domain_name.split(":", 1)[0].split(".", 1)[0]


def route_arn(api: ApiInfo, request: HttpRequest, route_path: str) -> str:
    """``arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{METHOD}{path}``."""
    return (
        f"arn:aws:execute-api:{api.region}:{api.account_id}:{api.api_id}/{api.stage}/"
        f"{request.method.upper()}{route_path}"
    )


def _context(
    api: ApiInfo, request: HttpRequest, *, route_key: str, request_id: str, at_ms: int
) -> dict[str, Any]:
    return {
        "accountId": api.account_id,
        "apiId": api.api_id,
        "domainName": request.domain_name,
        "domainPrefix": _domain_prefix(request.domain_name),
        "http": {
            "method": request.method.upper(),
            "path": urllib.parse.unquote(request.path),
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": request.header("user-agent") or "",
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": api.stage,
        "time": request_time(at_ms),
        "timeEpoch": at_ms,
    }


def _common(
    api: ApiInfo,
    request: HttpRequest,
    *,
    route_key: str,
    path_parameters: Mapping[str, str],
    at_ms: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The keys the integration event and the authorizer event share, and the rest after them."""
    head: dict[str, Any] = {
        "routeKey": route_key,
        "rawPath": request.path,
        "rawQueryString": request.query,
    }
    cookies = _cookies(request)
    if cookies:
        head["cookies"] = cookies
    head["headers"] = _joined_headers(request, at_ms)
    if request.query:
        head["queryStringParameters"] = _query_parameters(request.query)
    tail: dict[str, Any] = {}
    if path_parameters:
        tail["pathParameters"] = dict(path_parameters)
    if api.stage_variables:
        tail["stageVariables"] = dict(api.stage_variables)
    return head, tail


def request_event(
    api: ApiInfo,
    request: HttpRequest,
    *,
    route_key: str,
    path_parameters: Mapping[str, str],
    request_id: str,
    at_ms: int,
    authorizer: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The event a Lambda proxy integration gets (payload format 2.0)."""
    head, tail = _common(
        api, request, route_key=route_key, path_parameters=path_parameters, at_ms=at_ms
    )
    context = _context(api, request, route_key=route_key, request_id=request_id, at_ms=at_ms)
    if authorizer is not None:
        context["authorizer"] = dict(authorizer)
    event: dict[str, Any] = {"version": "2.0", **head, "requestContext": context}
    if request.body:
        if is_text(request.header("content-type")):
            try:
                event["body"] = request.body.decode("utf-8")
                event["isBase64Encoded"] = False
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(request.body).decode("ascii")
                event["isBase64Encoded"] = True
        else:
            event["body"] = base64.b64encode(request.body).decode("ascii")
            event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    event.update(tail)
    return event


def authorizer_event(
    api: ApiInfo,
    request: HttpRequest,
    *,
    route_key: str,
    route_path: str,
    path_parameters: Mapping[str, str],
    identity_source: list[str],
    request_id: str,
    at_ms: int,
) -> dict[str, Any]:
    """The event a Lambda REQUEST authorizer gets (payload format 2.0): no body."""
    head, tail = _common(
        api, request, route_key=route_key, path_parameters=path_parameters, at_ms=at_ms
    )
    event: dict[str, Any] = {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": route_arn(api, request, route_path),
        "identitySource": list(identity_source),
        **head,
        "requestContext": _context(
            api, request, route_key=route_key, request_id=request_id, at_ms=at_ms
        ),
    }
    event.update(tail)
    return event


def _claim_text(value: Any) -> str:
    # API Gateway formats claim values the way Go prints them: arrays as "[a b]", objects as
    # "map[k:v]", integral numbers without a decimal point.
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, list):
        return "[" + " ".join(_claim_text(v) for v in value) + "]"
    if isinstance(value, dict):
        items = " ".join(f"{k}:{_claim_text(value[k])}" for k in sorted(value))
        return f"map[{items}]"
    if value is None:
        return ""
    return str(value)


def claims_as_strings(claims: Mapping[str, Any]) -> dict[str, str]:
    """A JWT's claims as ``requestContext.authorizer.jwt.claims`` carries them: all strings."""
    return {str(k): _claim_text(v) for k, v in claims.items()}
