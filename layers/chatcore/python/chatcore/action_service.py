"""The actions of ``chatcore.actions``: what each does, given the adapters (``ActionService``).

``ChatService.handle`` hands these frames here. Edits, deletes and reactions change the message
item and reply to the caller; the members hear of them through the stream and the broadcaster
(``chatcore.changes``), exactly as they hear of messages. Receipts, kicks and bans are posted
from here, like presence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chatcore import observability
from chatcore.actions import (
    ActionFrame,
    Ban,
    Delete,
    Edit,
    Kick,
    React,
    Read,
    Reauth,
    RoomList,
    Unban,
    banned_event,
    deleted_event,
    edited_event,
    kicked_event,
    moderated_event,
    reacted_event,
    read_event,
    reauthed_event,
    receipt_event,
    rooms_event,
)
from chatcore.auth import Identity, TokenVerifier
from chatcore.edits import MessageEditor
from chatcore.errors import InternalError, NotFound
from chatcore.moderation import Moderation
from chatcore.protocol import presence_change_event
from chatcore.reactions import Reactions
from chatcore.receipts import ReadMarkers
from chatcore.rooms import check_readable
from chatcore.sessions import Sessions

__all__ = ["ActionService", "PostSmall"]

# (room, event, exclude connection): post to a small room's members (presence rules).
PostSmall = Callable[[str, dict[str, Any], str], None]


class ActionService:
    def __init__(
        self,
        *,
        editor: MessageEditor,
        reactions: Reactions,
        markers: ReadMarkers,
        moderation: Moderation,
        sessions: Sessions,
        post_small: PostSmall,
        latest_seq: Callable[[str], int],
        verifier: Callable[[], TokenVerifier] | None = None,
    ) -> None:
        self.editor = editor
        self.reactions = reactions
        self.markers = markers
        self.moderation = moderation
        self.sessions = sessions
        self._post_small = post_small
        self._latest = latest_seq
        self._verifier = verifier

    def handle(self, frame: ActionFrame, connection_id: str, identity: Identity) -> dict[str, Any]:
        if isinstance(frame, Reauth):
            return self.reauth(frame, connection_id, identity)
        if isinstance(frame, RoomList):
            return rooms_event(rooms=self.markers.rooms(identity.user_id), ref=frame.ref)
        check_readable(frame.room, user_id=identity.user_id, private_rooms=identity.rooms)
        if isinstance(frame, Edit):
            version = self.editor.edit(
                room=frame.room,
                message_id=frame.id,
                text=frame.text,
                user_id=identity.user_id,
                may_moderate=lambda: self.moderation.may_moderate(identity, frame.room),
            )
            observability.count("MessagesEdited")
            return edited_event(room=frame.room, id=frame.id, version=version, ref=frame.ref)
        if isinstance(frame, Delete):
            self.editor.delete(
                room=frame.room,
                message_id=frame.id,
                user_id=identity.user_id,
                may_moderate=lambda: self.moderation.may_moderate(identity, frame.room),
            )
            observability.count("MessagesDeleted")
            return deleted_event(room=frame.room, id=frame.id, ref=frame.ref)
        if isinstance(frame, React):
            self.reactions.react(
                room=frame.room,
                message_id=frame.id,
                emoji=frame.emoji,
                user_id=identity.user_id,
                add=frame.add,
            )
            op = "add" if frame.add else "remove"
            return reacted_event(
                room=frame.room, id=frame.id, emoji=frame.emoji, op=op, ref=frame.ref
            )
        if isinstance(frame, Read):
            return self.read(frame, connection_id, identity)
        return self.moderate(frame, connection_id, identity)

    def read(self, frame: Read, connection_id: str, identity: Identity) -> dict[str, Any]:
        seq = self.markers.mark(
            frame.room, identity.user_id, frame.seq, last=self._latest(frame.room)
        )
        if seq == frame.seq:
            event = receipt_event(room=frame.room, user=identity.user_id, seq=seq)
            self._post_small(frame.room, event, connection_id)
        return read_event(room=frame.room, seq=seq, ref=frame.ref)

    def moderate(
        self, frame: Kick | Ban | Unban, connection_id: str, identity: Identity
    ) -> dict[str, Any]:
        verb = {Kick: "kick", Ban: "ban", Unban: "unban"}[type(frame)]
        self.moderation.require(identity, frame.room, frame.user, verb)
        until: int | None = None
        if isinstance(frame, Unban):
            if not self.moderation.unban(frame.room, frame.user):
                raise NotFound(f"'{frame.user}' is not banned from '{frame.room}'")
        else:
            if isinstance(frame, Ban):
                until = self.moderation.ban(
                    frame.room, frame.user, by=identity.user_id, seconds=frame.seconds
                )
                notice = banned_event(room=frame.room, by=identity.user_id, until=until)
            else:
                notice = kicked_event(room=frame.room, by=identity.user_id)
            removed, name = self.moderation.remove(frame.room, frame.user, notice)
            if isinstance(frame, Kick) and not removed:
                raise NotFound(f"'{frame.user}' is not in '{frame.room}'")
            if removed:
                leave = presence_change_event(
                    room=frame.room, event="leave", user_id=frame.user, name=name
                )
                self._post_small(frame.room, leave, connection_id)
        observability.count("Moderations")
        return moderated_event(
            room=frame.room, user=frame.user, op=verb, until=until, ref=frame.ref
        )

    def reauth(self, frame: Reauth, connection_id: str, identity: Identity) -> dict[str, Any]:
        if self._verifier is None:
            raise InternalError("reauth is not configured on this deployment")
        exp = self.sessions.reauth(connection_id, identity, frame.token, self._verifier())
        return reauthed_event(exp=exp, ref=frame.ref)
