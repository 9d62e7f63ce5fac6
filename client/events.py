"""Typed server events.

The server speaks JSON objects with a ``type`` (see ``docs/architecture.md``). :func:`parse_event`
turns one into the dataclass for its type; a type this client does not know is kept whole in
:class:`UnknownEvent`, so a newer server never breaks an older client. Every event keeps the
decoded object in ``raw`` for callers that want the exact wire form (``chat listen --json``).

Several messages of one room may come in one ``messages`` frame (:class:`Messages`); each of its
items is a :class:`Message` whose ``raw`` is that item, as if it had come alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Ack",
    "Banned",
    "Deleted",
    "Edited",
    "ErrorEvent",
    "Event",
    "History",
    "Joined",
    "Kicked",
    "Left",
    "Message",
    "MessageDeleted",
    "MessageUpdated",
    "Messages",
    "Moderated",
    "Notification",
    "Pong",
    "Presence",
    "Reacted",
    "Reaction",
    "ReadMarker",
    "ReauthRequired",
    "Reauthed",
    "Receipt",
    "RoomInfo",
    "RoomList",
    "Typing",
    "UnknownEvent",
    "User",
    "parse_event",
]


@dataclass(frozen=True)
class User:
    id: str
    name: str


@dataclass(frozen=True)
class Event:
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def type(self) -> str:
        return str(self.raw.get("type", ""))

    @property
    def ref(self) -> str | None:
        ref = self.raw.get("ref")
        return ref if isinstance(ref, str) else None


@dataclass(frozen=True)
class Message(Event):
    id: str
    room: str
    seq: int
    sender: str  # the wire field is ``from``, a keyword in Python
    name: str
    text: str
    ts: int
    # {id, name, type, size, width?, height?} per file (client.attachments downloads them).
    attachments: tuple[dict[str, Any], ...] = ()
    # From history: the latest edit, a tombstone (no text), the reaction counts.
    version: int = 0
    deleted: bool = False
    reactions: tuple[tuple[str, int], ...] = ()

    @property
    def reaction_counts(self) -> dict[str, int]:
        return dict(self.reactions)


@dataclass(frozen=True)
class Messages(Event):
    """Several messages of one room in one frame, in seq order (the server batches a busy room).

    :class:`~client.chat.ChatClient` never yields this: it passes each message on as a
    :class:`Message`, through the same ordering and de-duplication as one that came alone.
    """

    room: str
    messages: tuple[Message, ...]


@dataclass(frozen=True)
class Ack(Event):
    id: str
    room: str
    seq: int


@dataclass(frozen=True)
class Joined(Event):
    room: str
    seq: int
    unread: int = 0


@dataclass(frozen=True)
class Left(Event):
    room: str


@dataclass(frozen=True)
class History(Event):
    room: str
    messages: tuple[Message, ...]


@dataclass(frozen=True)
class Presence(Event):
    """Either a broadcast (``event`` + ``user``) or the reply to ``who`` (``users``)."""

    room: str
    event: str | None = None
    user: User | None = None
    users: tuple[User, ...] | None = None


@dataclass(frozen=True)
class Typing(Event):
    room: str
    sender: str
    name: str


@dataclass(frozen=True)
class Notification(Event):
    id: str
    payload: Any
    ts: int


@dataclass(frozen=True)
class Pong(Event):
    pass


@dataclass(frozen=True)
class ErrorEvent(Event):
    code: str
    message: str


@dataclass(frozen=True)
class UnknownEvent(Event):
    pass


# ---- edits, reactions, read markers, moderation, sessions -----------------------------------


@dataclass(frozen=True)
class Edited(Event):
    """The reply to ``edit``."""

    room: str
    id: str
    version: int


@dataclass(frozen=True)
class Deleted(Event):
    """The reply to ``delete``."""

    room: str
    id: str


@dataclass(frozen=True)
class Reacted(Event):
    """The reply to ``react`` / ``unreact`` (``op``: add / remove)."""

    room: str
    id: str
    emoji: str
    op: str


@dataclass(frozen=True)
class MessageUpdated(Event):
    room: str
    id: str
    seq: int
    text: str
    version: int
    edited_ts: int


@dataclass(frozen=True)
class MessageDeleted(Event):
    room: str
    id: str
    seq: int


@dataclass(frozen=True)
class Reaction(Event):
    room: str
    id: str
    seq: int
    emoji: str
    user: str
    count: int
    op: str


@dataclass(frozen=True)
class ReadMarker(Event):
    """The reply to ``read``: where the marker is now."""

    room: str
    seq: int


@dataclass(frozen=True)
class Receipt(Event):
    room: str
    user: str
    seq: int


@dataclass(frozen=True)
class RoomInfo:
    room: str
    seq: int
    read: int
    unread: int


@dataclass(frozen=True)
class RoomList(Event):
    rooms: tuple[RoomInfo, ...]


@dataclass(frozen=True)
class Moderated(Event):
    """The reply to ``kick`` / ``ban`` / ``unban``."""

    room: str
    user: str
    op: str
    until: int | None = None


@dataclass(frozen=True)
class Kicked(Event):
    room: str
    by: str


@dataclass(frozen=True)
class Banned(Event):
    room: str
    by: str
    until: int | None = None


@dataclass(frozen=True)
class Reauthed(Event):
    exp: int


@dataclass(frozen=True)
class ReauthRequired(Event):
    exp: int


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _user(value: Any) -> User:
    value = value if isinstance(value, dict) else {}
    uid = _str(value.get("id"))
    return User(id=uid, name=_str(value.get("name")) or uid)


def _message(raw: dict[str, Any]) -> Message:
    sender = _str(raw.get("from"))
    return Message(
        raw=raw,
        id=_str(raw.get("id")),
        room=_str(raw.get("room")),
        seq=_int(raw.get("seq")),
        sender=sender,
        name=_str(raw.get("name")) or sender,
        text=_str(raw.get("text")),
        ts=_int(raw.get("ts")),
        attachments=tuple(
            a for a in raw.get("attachments") or () if isinstance(a, dict) and "id" in a
        ),
        version=_int(raw.get("version")),
        deleted=raw.get("deleted") is True,
        reactions=_reactions(raw.get("reactions")),
    )


def _reactions(value: Any) -> tuple[tuple[str, int], ...]:
    if not isinstance(value, dict):
        return ()
    return tuple((str(k), _int(v)) for k, v in value.items() if _int(v) > 0)


def _optional_int(value: Any) -> int | None:
    return None if value is None else _int(value)


def _change_event(kind: Any, raw: dict[str, Any], room: str) -> Event | None:
    """The events of edits, reactions, read markers, moderation and sessions (None: not one)."""
    mid, seq = _str(raw.get("id")), _int(raw.get("seq"))
    if kind == "edited":
        return Edited(raw=raw, room=room, id=mid, version=_int(raw.get("version")))
    if kind == "deleted":
        return Deleted(raw=raw, room=room, id=mid)
    if kind == "reacted":
        return Reacted(
            raw=raw, room=room, id=mid, emoji=_str(raw.get("emoji")), op=_str(raw.get("op"))
        )
    if kind == "message_updated":
        return MessageUpdated(
            raw=raw,
            room=room,
            id=mid,
            seq=seq,
            text=_str(raw.get("text")),
            version=_int(raw.get("version")),
            edited_ts=_int(raw.get("edited_ts")),
        )
    if kind == "message_deleted":
        return MessageDeleted(raw=raw, room=room, id=mid, seq=seq)
    if kind == "reaction":
        return Reaction(
            raw=raw,
            room=room,
            id=mid,
            seq=seq,
            emoji=_str(raw.get("emoji")),
            user=_str(raw.get("user")),
            count=_int(raw.get("count")),
            op=_str(raw.get("op")),
        )
    if kind == "read":
        return ReadMarker(raw=raw, room=room, seq=seq)
    if kind == "receipt":
        return Receipt(raw=raw, room=room, user=_str(raw.get("user")), seq=seq)
    if kind == "rooms":
        items = raw.get("rooms")
        listed = tuple(
            RoomInfo(
                room=_str(i.get("room")),
                seq=_int(i.get("seq")),
                read=_int(i.get("read")),
                unread=_int(i.get("unread")),
            )
            for i in (items if isinstance(items, list) else [])
            if isinstance(i, dict)
        )
        return RoomList(raw=raw, rooms=listed)
    if kind == "moderated":
        return Moderated(
            raw=raw,
            room=room,
            user=_str(raw.get("user")),
            op=_str(raw.get("op")),
            until=_optional_int(raw.get("until")),
        )
    if kind == "kicked":
        return Kicked(raw=raw, room=room, by=_str(raw.get("by")))
    if kind == "banned":
        return Banned(
            raw=raw, room=room, by=_str(raw.get("by")), until=_optional_int(raw.get("until"))
        )
    if kind == "reauthed":
        return Reauthed(raw=raw, exp=_int(raw.get("exp")))
    if kind == "reauth_required":
        return ReauthRequired(raw=raw, exp=_int(raw.get("exp")))
    return None


def parse_event(raw: dict[str, Any]) -> Event:
    """Build the typed event for one decoded server frame; unknown or malformed types stay raw."""
    kind = raw.get("type")
    room = _str(raw.get("room"))
    if kind == "message":
        return _message(raw)
    if kind == "messages":
        items = raw.get("messages")
        items = items if isinstance(items, list) else []
        # An item names its room and type itself; fill them in only if a server left them out.
        batch = tuple(
            _message({"type": "message", "room": room, **m}) for m in items if isinstance(m, dict)
        )
        return Messages(raw=raw, room=room, messages=batch)
    if kind == "ack":
        return Ack(raw=raw, id=_str(raw.get("id")), room=room, seq=_int(raw.get("seq")))
    if kind == "joined":
        return Joined(raw=raw, room=room, seq=_int(raw.get("seq")), unread=_int(raw.get("unread")))
    if kind == "left":
        return Left(raw=raw, room=room)
    if kind == "history":
        items = raw.get("messages")
        items = items if isinstance(items, list) else []
        messages = tuple(_message(m) for m in items if isinstance(m, dict))
        return History(raw=raw, room=room, messages=messages)
    if kind == "presence":
        users = raw.get("users")
        if isinstance(users, list):
            return Presence(raw=raw, room=room, users=tuple(_user(u) for u in users))
        return Presence(
            raw=raw, room=room, event=_str(raw.get("event")), user=_user(raw.get("user"))
        )
    if kind == "typing":
        sender = _str(raw.get("from"))
        return Typing(raw=raw, room=room, sender=sender, name=_str(raw.get("name")) or sender)
    if kind == "notification":
        return Notification(
            raw=raw, id=_str(raw.get("id")), payload=raw.get("payload"), ts=_int(raw.get("ts"))
        )
    if kind == "pong":
        return Pong(raw=raw)
    if kind == "error":
        return ErrorEvent(raw=raw, code=_str(raw.get("code")), message=_str(raw.get("message")))
    return _change_event(kind, raw, room) or UnknownEvent(raw=raw)
