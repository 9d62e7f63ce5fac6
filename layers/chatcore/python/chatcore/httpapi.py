"""The HTTP API (payload format 2.0), pure: routes and their scopes, the request view, inputs,
history cursors, error statuses and response shapes. No I/O.

Routing is API Gateway's: the handler dispatches on ``requestContext.routeKey`` (``GET /me``,
``POST /rooms/{room}/messages``) and reads ``pathParameters``, so nothing here matches paths a
second time (and a named stage's prefix in ``rawPath`` can never confuse it).

Identity comes only from ``requestContext.authorizer``: ``jwt.claims`` from the native JWT
authorizer (every claim a string, lists as ``"[a b]"``) or ``lambda`` from the HS256 Lambda
authorizer (the same context the WebSocket authorizer gives). Scopes come from the claims too:
API Gateway leaves ``jwt.scopes`` null on routes that declare none, and the publish route serves
users and services alike.

Errors are ``{"code", "message"}`` with the stable codes of :mod:`chatcore.errors`; the status
follows the code (``STATUS_BY_CODE``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from chatcore.auth import AuthError, Identity, identity_from_claims, parse_scopes
from chatcore.errors import BadRequest, ChatError, Forbidden, TooLarge
from chatcore.protocol import MAX_REF_LENGTH, History, Limits, Send, parse_frame
from chatcore.rooms import validate_room, validate_user_id

__all__ = [
    "ADMIN_SCOPE",
    "DISCONNECT",
    "HISTORY",
    "MAX_BODY_BYTES",
    "ME",
    "MEMBERS",
    "MY_ROOMS",
    "NOTIFY",
    "NOTIFY_SCOPE",
    "PUBLISH",
    "PUBLISH_SCOPE",
    "ROUTES",
    "ROUTE_SCOPES",
    "STATUS_BY_CODE",
    "HttpRequest",
    "PublishInput",
    "decode_cursor",
    "encode_cursor",
    "error_response",
    "has_scope",
    "history_input",
    "history_page",
    "json_body",
    "json_response",
    "next_cursor",
    "path_room",
    "path_user",
    "publish_input",
    "require_scope",
]

PUBLISH = "POST /rooms/{room}/messages"
HISTORY = "GET /rooms/{room}/messages"
MEMBERS = "GET /rooms/{room}/members"
ME = "GET /me"
MY_ROOMS = "GET /me/rooms"
NOTIFY = "POST /notifications"
DISCONNECT = "POST /users/{user}/disconnect"

ROUTES = (PUBLISH, HISTORY, MEMBERS, ME, MY_ROOMS, NOTIFY, DISCONNECT)

PUBLISH_SCOPE = "chat/publish"
NOTIFY_SCOPE = "chat/notify"
ADMIN_SCOPE = "chat/admin"

# Scopes a route requires (any one of them). The JWT authorizer gets them as route scopes in
# template.yaml, the HS256 Lambda authorizer enforces them from here; a test keeps both equal.
# The publish route requires none: a user posts without scopes, a service with chat/publish.
ROUTE_SCOPES: dict[str, tuple[str, ...]] = {
    NOTIFY: (NOTIFY_SCOPE,),
    DISCONNECT: (ADMIN_SCOPE,),
}

# Far above a 4,000-character message or a 128 KB notification, far below API Gateway's 10 MB.
MAX_BODY_BYTES = 256 * 1024

STATUS_BY_CODE: dict[str, int] = {
    "bad_request": 400,
    "unknown_action": 404,
    "not_member": 403,
    "forbidden": 403,
    "not_found": 404,
    "too_large": 413,
    "rate_limited": 429,
    "attachment_not_found": 404,
    "attachment_not_ready": 409,
    "attachment_expired": 410,
    # WebSocket-only (reauth, token lifetime); listed so every code has a status.
    "invalid_token": 403,
    "token_expired": 403,
    "internal": 500,
}


@dataclass(frozen=True, kw_only=True)
class HttpRequest:
    """The fields of a 2.0 event the routes use; ``identity`` is None without an authorizer."""

    route_key: str
    method: str
    path: str
    request_id: str
    path_parameters: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    identity: Identity | None = None

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> HttpRequest:
        context = event.get("requestContext") or {}
        http = context.get("http") or {}
        body = event.get("body")
        if body is not None and event.get("isBase64Encoded"):
            try:
                body = base64.b64decode(body).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                body = "\x00"  # not UTF-8 text: fails as JSON like any other bad body
        return cls(
            route_key=str(event.get("routeKey") or context.get("routeKey") or ""),
            method=str(http.get("method", "")),
            path=str(event.get("rawPath", http.get("path", ""))),
            request_id=str(context.get("requestId", "")),
            path_parameters={
                str(k): str(v) for k, v in (event.get("pathParameters") or {}).items()
            },
            query={str(k): str(v) for k, v in (event.get("queryStringParameters") or {}).items()},
            headers={str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()},
            body=body,
            identity=_identity(context.get("authorizer")),
        )

    def caller(self) -> Identity:
        if self.identity is None:
            raise AuthError("the request carries no authorizer identity")
        return self.identity


def _identity(authorizer: Any) -> Identity | None:
    if not isinstance(authorizer, Mapping):
        return None
    try:
        jwt = authorizer.get("jwt")
        if isinstance(jwt, Mapping):
            claims = jwt.get("claims") or {}
            identity = identity_from_claims(claims)
            granted = parse_scopes(jwt.get("scopes"))
            if granted and not identity.scopes:
                identity = Identity(
                    user_id=identity.user_id,
                    name=identity.name,
                    rooms=identity.rooms,
                    scopes=granted,
                )
            return identity
        lam = authorizer.get("lambda")
        if isinstance(lam, Mapping):
            return Identity.from_context(lam)
    except AuthError:
        return None
    return None


# ---- scopes ---------------------------------------------------------------------------------


def has_scope(identity: Identity, scope: str) -> bool:
    return scope in identity.scopes


def require_scope(identity: Identity, route_key: str) -> None:
    """Raise ``Forbidden`` unless the identity holds one of the route's scopes (if it has any).

    The gateway's authorizer already refused such requests; checking again here means a route
    someone wires without its authorizer still cannot be used by an ordinary user.
    """
    needed = ROUTE_SCOPES.get(route_key, ())
    if needed and not any(s in identity.scopes for s in needed):
        raise Forbidden(f"this route needs the scope {' or '.join(needed)}")


# ---- inputs ---------------------------------------------------------------------------------


def path_room(request: HttpRequest, *, limits: Limits) -> str:
    # Decoded once: a client may send "private%3Ateam" or "private:team"; neither name can
    # hold a "%", so decoding an already decoded value changes nothing.
    room = unquote(request.path_parameters.get("room", ""))
    return validate_room(room, max_length=limits.max_room_length, allow_dm=True)


def path_user(request: HttpRequest) -> str:
    return validate_user_id(unquote(request.path_parameters.get("user", "")), field="user")


def json_body(request: HttpRequest, *, max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    body = request.body
    if body is None or body.strip() == "":
        raise BadRequest("the body is empty; send a JSON object")
    if len(body.encode("utf-8")) > max_bytes:
        raise TooLarge(f"the body is over {max_bytes} bytes")
    try:
        data = json.loads(body)
    except ValueError:
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


@dataclass(frozen=True, kw_only=True)
class PublishInput:
    room: str
    text: str
    ref: str | None
    attachments: tuple[str, ...] = ()


def publish_input(request: HttpRequest, *, limits: Limits) -> PublishInput:
    """``{text, ref?, attachments?}`` (or the ``Idempotency-Key`` header as the ref), checked
    by the very rules of a WebSocket ``send`` frame: same lengths, same codes."""
    room = path_room(request, limits=limits)
    data = json_body(request)
    key = request.headers.get("idempotency-key")
    ref = data.get("ref")
    if key is not None:
        if not 1 <= len(key) <= MAX_REF_LENGTH:
            raise BadRequest(f"the Idempotency-Key header must be 1 to {MAX_REF_LENGTH} characters")
        if ref is not None and ref != key:
            raise BadRequest("'ref' and the Idempotency-Key header differ; send one of them")
        ref = key
    frame: dict[str, Any] = {"action": "send", "room": room, "text": data.get("text")}
    if ref is not None:
        frame["ref"] = ref
    if data.get("attachments") is not None:
        frame["attachments"] = data["attachments"]
    send = parse_frame(json.dumps(frame), limits=limits)
    assert isinstance(send, Send)
    return PublishInput(room=send.room, text=send.text, ref=send.ref, attachments=send.attachments)


def _query_int(request: HttpRequest, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"'{name}' must be an integer") from None


def history_input(request: HttpRequest, *, limits: Limits) -> History:
    """``?after&before&limit`` or ``?cursor`` (from a previous page), as a ``history`` frame."""
    room = path_room(request, limits=limits)
    frame: dict[str, Any] = {"action": "history", "room": room}
    cursor = request.query.get("cursor")
    if cursor:
        direction, seq = decode_cursor(cursor)
        frame[direction] = seq
    else:
        for name in ("after", "before"):
            value = _query_int(request, name)
            if value is not None:
                frame[name] = value
    limit = _query_int(request, "limit")
    if limit is not None:
        frame["limit"] = limit
    history = parse_frame(json.dumps(frame), limits=limits)
    assert isinstance(history, History)
    return history


# ---- history cursors ------------------------------------------------------------------------


def encode_cursor(direction: str, seq: int) -> str:
    """Opaque to clients: the way on (``after`` forward, ``before`` back) and where from."""
    raw = json.dumps({"d": direction, "s": seq}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        direction, seq = data["d"], data["s"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise BadRequest("'cursor' is not one this API gave out; start again without it") from None
    if direction not in ("after", "before") or not isinstance(seq, int) or seq < 0:
        raise BadRequest("'cursor' is not one this API gave out; start again without it")
    return direction, seq


def next_cursor(history: History, messages: list[dict[str, Any]]) -> str | None:
    """The cursor of the next page, or None when this page is the last one.

    Forward (``after``) pages go on after the last message; the default (latest first, or
    ``before``) pages go back before the first one, as a chat loads earlier history. A short
    page, or one that reached seq 1, has no next page.
    """
    if len(messages) < history.limit or not messages:
        return None
    if history.after is not None:
        return encode_cursor("after", int(messages[-1]["seq"]))
    first = int(messages[0]["seq"])
    return encode_cursor("before", first) if first > 1 else None


def history_page(history: History, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {"room": history.room, "messages": messages, "next": next_cursor(history, messages)}


# ---- responses ------------------------------------------------------------------------------


def json_response(
    status: int, body: Any, *, headers: Mapping[str, str] | None = None
) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **(headers or {})},
        "body": json.dumps(body, separators=(",", ":"), ensure_ascii=False),
    }


def error_response(error: ChatError) -> dict[str, Any]:
    status = STATUS_BY_CODE.get(error.code, 500)
    # A 429 says when to come back: the send budget is per second.
    headers = {"retry-after": "1"} if status == 429 else None
    return json_response(status, {"code": error.code, "message": error.message}, headers=headers)
