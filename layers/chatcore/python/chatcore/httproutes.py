"""What each HTTP API route does, on the same core as the WebSocket actions.

``HttpRoutes.handle`` takes one parsed request and returns the 2.0 response. History and members
go through ``ChatService`` (the ``history`` and ``who`` actions, with their room rules);
the room list through ``ReadMarkers.rooms`` (the ``rooms`` action's own answer);
notifications through ``dispatch.deliver_notification`` like the notify function; a publish
through :func:`publish_message`, the one seam to the send path. Every ``ChatError`` becomes
``{"code", "message"}`` with its status; anything unexpected is logged with its stack and
answered ``500 internal``, never with the stack.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from chatcore import observability
from chatcore.auth import AuthError, Identity
from chatcore.chat import Caller, ChatService
from chatcore.delivery import Delivery
from chatcore.dispatch import deliver_notification
from chatcore.errors import (
    BadRequest,
    ChatError,
    Forbidden,
    InternalError,
    NotFound,
    TooLarge,
)
from chatcore.fanout import MAX_PAYLOAD_BYTES
from chatcore.httpapi import (
    DISCONNECT,
    HISTORY,
    ME,
    MEMBERS,
    MY_ROOMS,
    NOTIFY,
    PUBLISH,
    PUBLISH_SCOPE,
    HttpRequest,
    error_response,
    has_scope,
    history_input,
    history_page,
    json_body,
    json_response,
    path_room,
    path_user,
    publish_input,
    require_scope,
)
from chatcore.notify import InvalidNotification, parse_notification
from chatcore.protocol import Limits, Who
from chatcore.rooms import check_usable
from chatcore.routes import INTERNAL_MESSAGE
from chatcore.store import ConnectionStore

__all__ = ["HttpRoutes", "close_connections", "publish_message"]


def publish_message(
    chat: ChatService,
    room: str,
    text: str,
    ref: str | None,
    identity: Identity,
    *,
    attachments: Sequence[str] = (),
) -> dict[str, Any]:
    """Store one message exactly as a WebSocket ``send`` does and return its ack; the broadcast
    function delivers it from the stream like any other.

    The one place the HTTP API reaches the send path: ``ChatService.publish`` without a
    connection (an HTTP caller holds no socket, so no membership is checked). The same room
    rules (``check_usable`` first: a ``dm:`` room is written through the WebSocket ``dm``
    action only), the same idempotency by ``(user, ref)`` and the same budget, per user, room
    and second on the room's counter, shared with that user's WebSocket sends. A service
    (scope ``chat/publish``) publishes as itself, its message marked ``system: true``.
    """
    check_usable(room, private_rooms=identity.rooms)
    system = has_scope(identity, PUBLISH_SCOPE)
    return chat.publish(
        room, text, ref, identity, connection_id=None, system=system, attachments=attachments
    )


def close_connections(
    client: Any, connection_ids: list[str], *, store: ConnectionStore
) -> tuple[int, int]:
    """``DELETE @connections/{id}`` for each id; return (closed, gone).

    API Gateway closes each socket and runs ``$disconnect``, which cleans up as for any close.
    An id that answers 410 is already gone: its leftovers are deleted here, as a post's are.
    """
    closed = gone = 0
    for connection_id in connection_ids:
        try:
            client.delete_connection(ConnectionId=connection_id)
            closed += 1
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if error.get("Code") == "GoneException" or status == 410:
                gone += 1
                store.delete_connection(connection_id)
                continue
            raise InternalError("a connection could not be closed; retry later") from exc
    return closed, gone


class HttpRoutes:
    def __init__(
        self,
        *,
        chat: ChatService,
        store: ConnectionStore,
        delivery: Delivery,
        management: Callable[[], Any],
        limits: Limits,
    ) -> None:
        self._chat = chat
        self._store = store
        self._delivery = delivery
        # Built on first use: only disconnects close connections.
        self._management = management
        self._limits = limits
        self._actions: dict[str, Callable[[HttpRequest, Identity], dict[str, Any]]] = {
            PUBLISH: self.publish,
            HISTORY: self.history,
            MEMBERS: self.members,
            ME: self.me,
            MY_ROOMS: self.my_rooms,
            NOTIFY: self.notify,
            DISCONNECT: self.disconnect,
        }

    def handle(self, request: HttpRequest) -> dict[str, Any]:
        try:
            action = self._actions.get(request.route_key)
            if action is None:
                raise NotFound(f"no route {request.method} {request.path}")
            identity = request.caller()
            require_scope(identity, request.route_key)
            return action(request, identity)
        except ChatError as exc:
            observability.rejected(exc.code)
            observability.logger.info("request rejected", extra={"code": exc.code})
            return error_response(exc)
        except AuthError as exc:
            # The authorizer gives every route an identity: this is a wiring fault, not the client.
            observability.logger.error("no identity on an HTTP route", extra={"reason": exc.reason})
            observability.rejected("forbidden")
            return error_response(Forbidden("no authenticated identity"))
        except Exception:
            observability.logger.exception("unexpected failure on an HTTP route")
            observability.rejected("internal")
            return error_response(InternalError(INTERNAL_MESSAGE))

    # ---- routes ---------------------------------------------------------------------------

    def publish(self, request: HttpRequest, identity: Identity) -> dict[str, Any]:
        given = publish_input(request, limits=self._limits)
        ack = publish_message(
            self._chat, given.room, given.text, given.ref, identity, attachments=given.attachments
        )
        observability.logger.info(
            "published",
            extra={"room": given.room, "by_service": has_scope(identity, PUBLISH_SCOPE)},
        )
        return json_response(201, ack)

    def history(self, request: HttpRequest, identity: Identity) -> dict[str, Any]:
        frame = history_input(request, limits=self._limits)
        event = self._chat.history(frame, Caller("", identity))
        return json_response(200, history_page(frame, event["messages"]))

    def members(self, request: HttpRequest, identity: Identity) -> dict[str, Any]:
        room = path_room(request, limits=self._limits)
        event = self._chat.who(Who(room=room), Caller("", identity))
        return json_response(200, {"room": room, "users": event["users"]})

    def me(self, request: HttpRequest, identity: Identity) -> dict[str, Any]:
        connections = sorted(self._store.connections_of(identity.user_id))
        return json_response(
            200,
            {
                "id": identity.user_id,
                "name": identity.name,
                "rooms": list(identity.rooms),
                "scopes": list(identity.scopes),
                "connections": connections,
            },
        )

    def my_rooms(self, request: HttpRequest, identity: Identity) -> dict[str, Any]:
        # The WebSocket ``rooms`` action's list, from the same read: one Query of the caller's
        # markers and one BatchGetItem of those rooms' counters, O(1) per room.
        rooms = self._chat.actions.markers.rooms(identity.user_id)
        return json_response(200, {"rooms": rooms})

    def notify(self, request: HttpRequest, identity: Identity) -> dict[str, Any]:
        json_body(request, max_bytes=MAX_PAYLOAD_BYTES)  # size and JSON, with the HTTP codes
        try:
            notification = parse_notification(request.body or "")
            result = deliver_notification(notification, store=self._store, delivery=self._delivery)
        except InvalidNotification as exc:
            return error_response(_bad_notification(str(exc)))
        observability.record_fanout(result)
        observability.logger.info(
            "notification delivered",
            extra={"id": notification.id, "caller": identity.user_id, **result.as_dict()},
        )
        return json_response(
            202,
            {"id": notification.id, "delivered": result.delivered, "queued": result.queued_chunks},
        )

    def disconnect(self, request: HttpRequest, identity: Identity) -> dict[str, Any]:
        user = path_user(request)
        ids = sorted(self._store.connections_of(user))
        closed, gone = close_connections(self._management(), ids, store=self._store)
        observability.logger.info(
            "user disconnected",
            extra={"user": user, "caller": identity.user_id, "closed": closed, "gone": gone},
        )
        return json_response(200, {"user": user, "closed": closed, "gone": gone})


def _bad_notification(message: str) -> ChatError:
    # The schema's one size rule is the only "bytes" message it has.
    if "bytes" in message:
        return TooLarge(message)
    return BadRequest(message)
