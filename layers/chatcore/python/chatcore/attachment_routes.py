"""The attachment routes of the HTTP API, request in, response out (the store does the I/O).

``POST /rooms/{room}/attachments`` ``{name, type, size}`` -> ``201 {id, upload: {url, fields},
expires}`` for a user who may use the room; ``GET /attachments/{id}`` -> ``302`` to a short-lived
pre-signed GET (``200 {url}`` with ``Accept: application/json``) for anyone who may read the room.
Every refusal is JSON ``{code, message}`` with the status of its code.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from chatcore import attachments, observability
from chatcore.attachment_store import AttachmentStore
from chatcore.auth import AuthError, Identity
from chatcore.config import Config
from chatcore.errors import (
    AttachmentNotFound,
    AttachmentNotReady,
    ChatError,
    Forbidden,
    NotFound,
)
from chatcore.httpapi import HttpRequest, error_response, json_body, json_response
from chatcore.rooms import check_readable, check_usable, is_dm, validate_room

__all__ = ["DECLARE_ROUTE", "DOWNLOAD_ROUTE", "ROUTES", "handle", "wants_json"]

DECLARE_ROUTE = "POST /rooms/{room}/attachments"
DOWNLOAD_ROUTE = "GET /attachments/{id}"
# Routes of the project's HttpApi served by the attachments function (the others:
# chatcore.httpapi.ROUTES, on the HTTP function).
ROUTES = (DECLARE_ROUTE, DOWNLOAD_ROUTE)
_ID = re.compile(r"[0-9a-f]{32}")


def _check_may_post(room: str, identity: Identity) -> None:
    if is_dm(room):
        # A DM room is used through `dm`, by its two users only.
        check_readable(room, user_id=identity.user_id, private_rooms=identity.rooms)
    else:
        check_usable(room, private_rooms=identity.rooms)


def wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("accept", "")


def declare(request: HttpRequest, *, store: AttachmentStore, config: Config) -> dict[str, Any]:
    identity = request.caller()
    # Decoded once, as chatcore.httpapi.path_room does: "private%3Ateam" or "private:team".
    room = validate_room(
        unquote(request.path_parameters.get("room", "")),
        max_length=config.max_room_length,
        allow_dm=True,
    )
    _check_may_post(room, identity)
    declaration = attachments.parse_declaration(
        json_body(request),
        max_bytes=config.max_attachment_bytes,
        allowed_types=config.attachment_types,
    )
    answer = store.declare(declaration, room=room, user_id=identity.user_id)
    observability.count("AttachmentsDeclared")
    return json_response(201, answer)


def download(request: HttpRequest, *, store: AttachmentStore) -> dict[str, Any]:
    identity = request.caller()
    attachment_id = request.path_parameters.get("id", "")
    if not _ID.fullmatch(attachment_id):
        raise NotFound("no such attachment")
    item = store.get(attachment_id)
    if item is None or item.get("status") == attachments.REJECTED:
        raise AttachmentNotFound(f"no attachment {attachment_id}")
    check_readable(str(item["room"]), user_id=identity.user_id, private_rooms=identity.rooms)
    if item.get("status") != attachments.READY:
        raise AttachmentNotReady(f"attachment {attachment_id} is not uploaded yet")
    url = store.download_url(item)
    if wants_json(request):
        return json_response(200, {"url": url})
    return {
        "statusCode": 302,
        "headers": {"location": url, "cache-control": "no-store"},
        "body": "",
    }


def handle(request: HttpRequest, *, store: AttachmentStore, config: Config) -> dict[str, Any]:
    """One attachment route; every failure becomes a JSON error, never a stack trace."""
    try:
        if request.route_key == DECLARE_ROUTE:
            return declare(request, store=store, config=config)
        if request.route_key == DOWNLOAD_ROUTE:
            return download(request, store=store)
        raise NotFound(f"no route {request.route_key}")
    except ChatError as exc:
        observability.rejected(exc.code)
        observability.logger.info("attachment request refused", extra={"code": exc.code})
        return error_response(exc)
    except AuthError as exc:
        # The gateway's authorizer should have refused already: the deployment is wrong.
        observability.logger.error(
            "no identity on an attachment route", extra={"reason": exc.reason}
        )
        # Answered as the other HTTP routes answer it (chatcore.httproutes).
        return error_response(Forbidden("no authenticated identity"))
