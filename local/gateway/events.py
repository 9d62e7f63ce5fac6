"""Lambda proxy events for a WebSocket API, field for field like the ones API Gateway sends.

Pure functions over plain data: :class:`Api` (what the stage looks like) and :class:`Peer` (what
the client sent when it connected). The shapes follow captured API Gateway events: ``$connect``
carries the client's headers and query string; messages carry ``messageId`` and ``body``;
``$disconnect`` carries API Gateway's own small header set and ``disconnectStatusCode`` /
``disconnectReason``; the REQUEST authorizer gets ``type``, ``methodArn``, headers, query string
and a ``requestContext`` without ``authorizer``.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Api",
    "Peer",
    "authorizer_event",
    "connect_event",
    "disconnect_event",
    "error_frame",
    "message_event",
    "method_arn",
    "new_id",
    "request_time",
]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def new_id() -> str:
    """An id in API Gateway's shape (``L0SM9cOFvHcCIhw=``): 16 base64 characters ending in ``=``.

    Connection ids go into URL paths (``/@connections/{id}``), so ``+`` and ``/`` are kept out,
    as they are out of the ids AWS hands out.
    """
    while True:
        candidate = base64.b64encode(secrets.token_bytes(11)).decode("ascii")
        if "+" not in candidate and "/" not in candidate:
            return candidate


def request_time(epoch_ms: int) -> str:
    """``26/Nov/2026:18:00:00 +0000``, always English and UTC like API Gateway's."""
    t = time.gmtime(epoch_ms / 1000)
    return (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Api:
    api_id: str
    stage: str
    domain_name: str  # where https://{domainName}/{stage} leads to @connections
    region: str
    account_id: str


@dataclass
class Peer:
    """What the gateway knows about one connection, from its upgrade request on."""

    connection_id: str
    connected_at: int  # epoch ms
    source_ip: str
    user_agent: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    query: list[tuple[str, str]] = field(default_factory=list)
    forwarded_port: int = 443
    forwarded_proto: str = "https"
    authorizer: dict[str, Any] | None = None  # principalId + context + integrationLatency


def method_arn(api: Api, route_key: str = "$connect") -> str:
    return f"arn:aws:execute-api:{api.region}:{api.account_id}:{api.api_id}/{api.stage}/{route_key}"


def _single_and_multi(pairs: list[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value  # the last value wins, as in API Gateway's single-value map
        multi.setdefault(name, []).append(value)
    return single, multi


def _connect_headers(peer: Peer, api: Api) -> list[tuple[str, str]]:
    pairs = [(k, v) for k, v in peer.headers if k.lower() not in ("x-forwarded-for",)]
    # API Gateway adds its forwarding headers and a trace id to what the client sent.
    trace = f"Root=1-{peer.connected_at // 1000:08x}-{secrets.token_hex(12)}"
    pairs += [
        ("X-Amzn-Trace-Id", trace),
        ("X-Forwarded-For", peer.source_ip),
        ("X-Forwarded-Port", str(peer.forwarded_port)),
        ("X-Forwarded-Proto", peer.forwarded_proto),
    ]
    return pairs


def _context(
    api: Api,
    peer: Peer,
    *,
    route_key: str,
    event_type: str,
    request_id: str,
    at_ms: int,
    with_authorizer: bool = True,
) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": request_time(at_ms),
        "messageDirection": "IN",
        "stage": api.stage,
        "connectedAt": peer.connected_at,
        "requestTimeEpoch": at_ms,
        "identity": {"userAgent": peer.user_agent, "sourceIp": peer.source_ip},
        "requestId": request_id,
        "domainName": api.domain_name,
        "connectionId": peer.connection_id,
        "apiId": api.api_id,
    }
    if with_authorizer and peer.authorizer is not None:
        ctx["authorizer"] = dict(peer.authorizer)
    return ctx


def _with_query(event: dict[str, Any], peer: Peer) -> None:
    # API Gateway leaves both keys out when the URL has no query string.
    if peer.query:
        single, multi = _single_and_multi(peer.query)
        event["queryStringParameters"] = single
        event["multiValueQueryStringParameters"] = multi


def authorizer_event(api: Api, peer: Peer, *, request_id: str, at_ms: int) -> dict[str, Any]:
    headers, multi_headers = _single_and_multi(_connect_headers(peer, api))
    event: dict[str, Any] = {
        "type": "REQUEST",
        "methodArn": method_arn(api),
        "headers": headers,
        "multiValueHeaders": multi_headers,
    }
    _with_query(event, peer)
    event["stageVariables"] = {}
    event["requestContext"] = _context(
        api,
        peer,
        route_key="$connect",
        event_type="CONNECT",
        request_id=request_id,
        at_ms=at_ms,
        with_authorizer=False,
    )
    return event


def connect_event(api: Api, peer: Peer, *, request_id: str, at_ms: int) -> dict[str, Any]:
    headers, multi_headers = _single_and_multi(_connect_headers(peer, api))
    event: dict[str, Any] = {"headers": headers, "multiValueHeaders": multi_headers}
    _with_query(event, peer)
    event["requestContext"] = _context(
        api, peer, route_key="$connect", event_type="CONNECT", request_id=request_id, at_ms=at_ms
    )
    event["isBase64Encoded"] = False
    return event


def message_event(
    api: Api,
    peer: Peer,
    *,
    route_key: str,
    body: str | bytes,
    request_id: str,
    message_id: str,
    at_ms: int,
) -> dict[str, Any]:
    ctx = _context(
        api, peer, route_key=route_key, event_type="MESSAGE", request_id=request_id, at_ms=at_ms
    )
    ctx = {"routeKey": route_key, "messageId": message_id, **ctx}
    # Binary frames reach the integration base64-encoded, flagged by isBase64Encoded.
    if isinstance(body, bytes):
        return {
            "requestContext": ctx,
            "body": base64.b64encode(body).decode("ascii"),
            "isBase64Encoded": True,
        }
    return {"requestContext": ctx, "body": body, "isBase64Encoded": False}


def disconnect_event(
    api: Api, peer: Peer, *, status_code: int, reason: str, request_id: str, at_ms: int
) -> dict[str, Any]:
    # $disconnect does not replay the client's headers: API Gateway sends this fixed set.
    pairs = [
        ("Host", api.domain_name),
        ("x-api-key", ""),
        ("X-Forwarded-For", ""),
        ("x-restapi", ""),
    ]
    headers, multi_headers = _single_and_multi(pairs)
    ctx = _context(
        api,
        peer,
        route_key="$disconnect",
        event_type="DISCONNECT",
        request_id=request_id,
        at_ms=at_ms,
    )
    ctx["disconnectStatusCode"] = status_code
    ctx["disconnectReason"] = reason
    return {
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "requestContext": ctx,
        "isBase64Encoded": False,
    }


def error_frame(message: str, connection_id: str, request_id: str) -> str:
    """API Gateway's own error frame, e.g. ``{"message": "Forbidden", ...}``."""
    return json.dumps(
        {"message": message, "connectionId": connection_id, "requestId": request_id},
        separators=(",", ":"),
    )
