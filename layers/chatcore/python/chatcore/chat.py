"""The chat actions: what each client frame does, given the adapters.

``ChatService.handle`` takes one parsed frame from one caller and returns the event to reply to
the caller (or None). Events for other members (presence, typing) are posted here through the
``Delivery``; room messages are not: they reach members through the MessagesTable stream and the
broadcast function, so a message is delivered only once it is durably stored.

``ChatService.publish(room, text, ref, identity, *, connection_id)`` is the one way to store a
message, for the WebSocket ``send`` and ``dm`` and for any other front door (an HTTP API):

- ``connection_id``: the sending socket, which must be a member of the room; ``None`` checks no
  membership (an HTTP caller holds no socket). The room rules still apply: ``check_usable`` for
  rooms, and only its two users may publish to a ``dm:`` room.
- the sender's budget is ``send_rate_per_second`` per room and second (``rate_limited``);
- a ``(user, ref)`` stored before answers the same ack and stores nothing;
- ``system=True`` (a service publishing over the HTTP API) marks the message ``system: true``;
  the service's identity is its ``from`` and its budget is counted like a user's.
- ``attachments``: ids of the sender's own, checked uploads for that room (``AttachmentStore``);
  any other id refuses the send and nothing is stored.

It costs two DynamoDB requests (``chatcore.publisher``), attachments or not; each attachment adds
one S3 tagging request. A message the backend itself posts would pass ``per_second=None`` and no
connection to the same ``Publisher``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chatcore import observability
from chatcore.action_service import ActionService
from chatcore.actions import ActionFrame
from chatcore.attachment_store import AttachmentStore
from chatcore.auth import Identity, TokenVerifier
from chatcore.delivery import Delivery
from chatcore.edits import MessageEditor
from chatcore.errors import BadRequest, Forbidden, NotFound, NotMember
from chatcore.moderation import Moderation
from chatcore.protocol import (
    Dm,
    Frame,
    History,
    Join,
    Leave,
    Ping,
    Send,
    Typing,
    Who,
    encode,
    history_event,
    joined_event,
    left_event,
    pong_event,
    presence_change_event,
    presence_list_event,
    typing_event,
)
from chatcore.publisher import Publisher
from chatcore.reactions import Reactions
from chatcore.receipts import ReadMarkers, unread
from chatcore.rooms import check_readable, check_usable, dm_room, is_dm
from chatcore.sessions import Sessions
from chatcore.store import ConnectionStore, MessageLog

__all__ = ["Caller", "ChatService", "leave_all"]


@dataclass(frozen=True)
class Caller:
    connection_id: str
    identity: Identity


class ChatService:
    def __init__(
        self,
        *,
        store: ConnectionStore,
        log: MessageLog,
        delivery: Delivery,
        send_rate_per_second: int = 20,
        presence_room_limit: int = 100,
        publisher: Publisher | None = None,
        attachments: AttachmentStore | None = None,
        verifier: Callable[[], TokenVerifier] | None = None,
    ) -> None:
        self._attachments = attachments
        self._store = store
        self._log = log
        self._delivery = delivery
        self._rate = send_rate_per_second
        self._presence_limit = presence_room_limit
        self._publisher = publisher or log.publisher(connections_table=store.table)
        self.actions = _action_service(self, verifier)

    def handle(self, frame: Frame, caller: Caller) -> dict[str, Any] | None:
        if isinstance(frame, Join):
            return self.join(frame, caller)
        if isinstance(frame, Leave):
            return self.leave(frame, caller)
        if isinstance(frame, Send):
            return self.send(frame, caller)
        if isinstance(frame, Dm):
            return self.dm(frame, caller)
        if isinstance(frame, History):
            return self.history(frame, caller)
        if isinstance(frame, Typing):
            self.typing(frame, caller)
            return None
        if isinstance(frame, Who):
            return self.who(frame, caller)
        if isinstance(frame, Ping):
            return pong_event(ref=frame.ref)
        if isinstance(frame, ActionFrame):
            return self.actions.handle(frame, caller.connection_id, caller.identity)
        raise BadRequest("unsupported frame")

    def join(self, frame: Join, caller: Caller) -> dict[str, Any]:
        check_usable(frame.room, private_rooms=caller.identity.rooms)
        user = caller.identity.user_id
        # One BatchGetItem: the latest seq, the user's ban and read marker.
        state = self.actions.markers.join_state(frame.room, user)
        if state.banned(time.time()):
            raise Forbidden(f"you are banned from '{frame.room}' for now")
        added = self._store.add_membership(caller.connection_id, frame.room, caller.identity)
        if added:
            self._announce(frame.room, caller, "join")
        if state.read is None:
            self.actions.markers.start(frame.room, user, state.last)
        event = joined_event(room=frame.room, seq=state.last, ref=frame.ref)
        event["unread"] = unread(state.last, state.read)
        return event

    def leave(self, frame: Leave, caller: Caller) -> dict[str, Any]:
        if not self._store.remove_membership(caller.connection_id, frame.room):
            raise NotMember(f"you have not joined '{frame.room}'")
        self._announce(frame.room, caller, "leave")
        return left_event(room=frame.room, ref=frame.ref)

    def send(self, frame: Send, caller: Caller) -> dict[str, Any]:
        # DM rooms are written through the dm action only, even by their two users.
        check_usable(frame.room, private_rooms=caller.identity.rooms)
        return self.publish(
            frame.room,
            frame.text,
            frame.ref,
            caller.identity,
            connection_id=caller.connection_id,
            attachments=frame.attachments,
        )

    def dm(self, frame: Dm, caller: Caller) -> dict[str, Any]:
        if frame.to == caller.identity.user_id:
            raise BadRequest("'to' must be another user")
        room = dm_room(caller.identity.user_id, frame.to)
        # A DM room has no memberships: its two users may always write to it.
        return self.publish(
            room,
            frame.text,
            frame.ref,
            caller.identity,
            connection_id=None,
            attachments=frame.attachments,
        )

    def publish(
        self,
        room: str,
        text: str,
        ref: str | None,
        identity: Identity,
        *,
        connection_id: str | None,
        system: bool = False,
        attachments: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Store one message and return its ack (see the module docstring); ``system`` marks a
        service's message (``system: true`` on the stored and delivered message)."""
        if is_dm(room):
            check_readable(room, user_id=identity.user_id, private_rooms=identity.rooms)
        else:
            check_usable(room, private_rooms=identity.rooms)
        if attachments and self._attachments is None:
            raise BadRequest("attachments are not enabled on this deployment")
        stored = self._publisher.publish(
            room=room,
            user_id=identity.user_id,
            name=identity.name,
            text=text,
            ref=ref,
            connection_id=connection_id,
            per_second=self._rate,
            system=system,
            attachments=attachments,
            keep_objects=self._attachments.keep_objects if self._attachments else None,
        )
        if stored.created:
            observability.count("MessagesStored")
        return stored.ack

    def history(self, frame: History, caller: Caller) -> dict[str, Any]:
        check_readable(
            frame.room, user_id=caller.identity.user_id, private_rooms=caller.identity.rooms
        )
        if not self._log.room_exists(frame.room):
            raise NotFound(f"no message has been stored in '{frame.room}'")
        messages = self._log.history(
            frame.room, after=frame.after, before=frame.before, limit=frame.limit
        )
        return history_event(room=frame.room, messages=messages, ref=frame.ref)

    def typing(self, frame: Typing, caller: Caller) -> None:
        check_usable(frame.room, private_rooms=caller.identity.rooms)
        self._require_member(frame.room, caller)
        event = typing_event(
            room=frame.room, from_=caller.identity.user_id, name=caller.identity.name
        )
        self._to_members(frame.room, event, exclude=caller.connection_id)

    def who(self, frame: Who, caller: Caller) -> dict[str, Any]:
        check_readable(
            frame.room, user_id=caller.identity.user_id, private_rooms=caller.identity.rooms
        )
        users: dict[str, str] = {}
        for member in self._store.members(frame.room):
            users.setdefault(member.user_id, member.name)
        listed = [{"id": uid, "name": users[uid]} for uid in sorted(users)]
        return presence_list_event(room=frame.room, users=listed, ref=frame.ref)

    # ---- helpers ------------------------------------------------------------------------

    def _require_member(self, room: str, caller: Caller) -> None:
        if not self._store.is_member(caller.connection_id, room):
            raise NotMember(f"join '{room}' before using it")

    def _announce(self, room: str, caller: Caller, change: str) -> None:
        event = presence_change_event(
            room=room, event=change, user_id=caller.identity.user_id, name=caller.identity.name
        )
        self._to_members(room, event, exclude=caller.connection_id)

    def _to_members(self, room: str, event: dict[str, Any], *, exclude: str) -> None:
        _post_small_event(
            self._store, self._delivery, room, event, exclude=exclude, limit=self._presence_limit
        )


def _action_service(
    service: ChatService, verifier: Callable[[], TokenVerifier] | None
) -> ActionService:
    store, log = service._store, service._log
    client = log.client
    return ActionService(
        editor=MessageEditor(client=client, table=log.table),
        reactions=Reactions(client=client, table=log.table, retention_days=log.retention_days),
        markers=ReadMarkers(
            client=store.client, connections_table=store.table, messages_table=log.table
        ),
        moderation=Moderation(
            client=client, messages_table=log.table, store=store, delivery=service._delivery
        ),
        sessions=Sessions(client=store.client, table=store.table),
        post_small=lambda room, event, exclude: service._to_members(room, event, exclude=exclude),
        latest_seq=log.latest_seq,
        verifier=verifier,
    )


def _post_small_event(
    store: ConnectionStore,
    delivery: Delivery,
    room: str,
    event: dict[str, Any],
    *,
    exclude: str,
    limit: int,
) -> None:
    """Post a presence or typing event to a room's members, unless the room is big.

    These events are posted from the request that caused them, never via the queue, so their
    cost lands on that request: in a room of thousands, one join would post thousands of
    presence events (and N joins N^2). Above ``limit`` members they are skipped, as big chat
    products do; ``who`` still lists the room.
    """
    ids = store.member_ids(room, limit=limit)
    if len(ids) > limit:
        observability.count("PresenceSkipped")
        return
    result = delivery.deliver(encode(event), ids, exclude=[exclude], allow_queue=False)
    observability.record_fanout(result)


def leave_all(
    connection_id: str,
    *,
    store: ConnectionStore,
    delivery: Delivery,
    presence_room_limit: int = 100,
) -> list[str]:
    """Delete a connection and its memberships, then tell each room it left; return the rooms.

    Idempotent: an unknown connection deletes nothing and announces nothing.
    """
    item = store.get_connection(connection_id)
    if item is None:
        return []
    store.delete_connection(connection_id, item=item)
    rooms = sorted(item.get("rooms", set()))
    user_id = str(item.get("ownerId", ""))
    name = str(item.get("name", user_id))
    for room in rooms:
        event = presence_change_event(room=room, event="leave", user_id=user_id, name=name)
        _post_small_event(
            store, delivery, room, event, exclude=connection_id, limit=presence_room_limit
        )
    return rooms
