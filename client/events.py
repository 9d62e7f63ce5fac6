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
    "ErrorEvent",
    "Event",
    "History",
    "Joined",
    "Left",
    "Message",
    "Messages",
    "Notification",
    "Pong",
    "Presence",
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
    )


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
        return Joined(raw=raw, room=room, seq=_int(raw.get("seq")))
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
    return UnknownEvent(raw=raw)
