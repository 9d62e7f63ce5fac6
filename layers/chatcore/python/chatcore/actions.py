"""The frames and events of edits, deletes, reactions, read markers, moderation and sessions.

Part of the wire protocol (``chatcore.protocol`` parses these actions through ``parse_action``
and re-exports nothing from here); kept apart so the core protocol stays short. No I/O.

Client frames::

    edit    {room, id, text}            -> edited {room, id, version}
    delete  {room, id}                  -> deleted {room, id}
    react   {room, id, emoji}           -> reacted {room, id, emoji, op: "add"}
    unreact {room, id, emoji}           -> reacted {room, id, emoji, op: "remove"}
    read    {room, seq}                 -> read {room, seq}
    rooms   {}                          -> rooms {rooms: [{room, seq, read, unread}]}
    kick    {room, user}                -> moderated {room, user, op: "kick"}
    ban     {room, user, seconds?}      -> moderated {room, user, op: "ban", until?}
    unban   {room, user}                -> moderated {room, user, op: "unban"}
    reauth  {token}                     -> reauthed {exp}

Events to others: ``message_updated``, ``message_deleted``, ``reaction`` (through the stream and
the broadcaster), ``receipt`` (small rooms only), ``kicked`` / ``banned`` (the target's
connections), ``reauth_required`` (a connection whose token is about to expire).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from chatcore.errors import BadRequest, TooLarge
from chatcore.rooms import validate_room, validate_user_id

__all__ = [
    "ACTIONS",
    "MAX_BAN_SECONDS",
    "MAX_EMOJI_LENGTH",
    "ActionFrame",
    "Ban",
    "Delete",
    "Edit",
    "Kick",
    "React",
    "Read",
    "Reauth",
    "RoomList",
    "Unban",
    "banned_event",
    "deleted_event",
    "edited_event",
    "kicked_event",
    "message_deleted_event",
    "message_updated_event",
    "moderated_event",
    "parse_action",
    "reacted_event",
    "reaction_event",
    "read_event",
    "reauth_required_event",
    "reauthed_event",
    "receipt_event",
    "rooms_event",
]

ACTIONS = ("edit", "delete", "react", "unreact", "read", "rooms", "kick", "ban", "unban", "reauth")

# One emoji may be several code points (skin tones, ZWJ sequences, flags); 16 holds them all.
MAX_EMOJI_LENGTH = 16
MAX_BAN_SECONDS = 366 * 86400
MAX_TOKEN_LENGTH = 8192


@dataclass(frozen=True, kw_only=True)
class Edit:
    room: str
    id: str
    text: str
    ref: str | None = None


@dataclass(frozen=True, kw_only=True)
class Delete:
    room: str
    id: str
    ref: str | None = None


@dataclass(frozen=True, kw_only=True)
class React:
    room: str
    id: str
    emoji: str
    add: bool  # False: unreact
    ref: str | None = None


@dataclass(frozen=True, kw_only=True)
class Read:
    room: str
    seq: int
    ref: str | None = None


@dataclass(frozen=True, kw_only=True)
class RoomList:
    ref: str | None = None


@dataclass(frozen=True, kw_only=True)
class Kick:
    room: str
    user: str
    ref: str | None = None


@dataclass(frozen=True, kw_only=True)
class Ban:
    room: str
    user: str
    seconds: int | None = None  # None: until unbanned
    ref: str | None = None


@dataclass(frozen=True, kw_only=True)
class Unban:
    room: str
    user: str
    ref: str | None = None


@dataclass(frozen=True, kw_only=True)
class Reauth:
    token: str = ""
    ref: str | None = None

    def __repr__(self) -> str:  # never the token, should a frame end up in a log
        return f"Reauth(ref={self.ref!r})"


ActionFrame = Edit | Delete | React | Read | RoomList | Kick | Ban | Unban | Reauth


def parse_action(
    action: str,
    data: dict[str, Any],
    ref: str | None,
    *,
    max_text_length: int,
    max_room_length: int,
) -> ActionFrame:
    """Build the frame for one of ``ACTIONS``; raise ``BadRequest`` / ``TooLarge`` when invalid."""
    if action == "rooms":
        return RoomList(ref=ref)
    if action == "reauth":
        token = data.get("token")
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise BadRequest("'token' must be the new access token (a non-empty string)")
        return Reauth(token=token, ref=ref)
    room = validate_room(data.get("room"), max_length=max_room_length, allow_dm=True)
    if action == "read":
        seq = data.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise BadRequest("'seq' must be a non-negative integer: the last seq you have read")
        return Read(room=room, seq=seq, ref=ref)
    if action in ("kick", "ban", "unban"):
        user = validate_user_id(data.get("user"), field="user")
        if action == "kick":
            return Kick(room=room, user=user, ref=ref)
        if action == "unban":
            return Unban(room=room, user=user, ref=ref)
        return Ban(room=room, user=user, seconds=_seconds(data.get("seconds")), ref=ref)
    message_id = _message_id(data.get("id"))
    if action == "delete":
        return Delete(room=room, id=message_id, ref=ref)
    if action == "edit":
        return Edit(room=room, id=message_id, text=_text(data, max_text_length), ref=ref)
    return React(
        room=room,
        id=message_id,
        emoji=validate_emoji(data.get("emoji")),
        add=action == "react",
        ref=ref,
    )


def _message_id(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > 80:
        raise BadRequest("'id' must be the id of a message (as its ack or message event gave it)")
    return value


def _text(data: dict[str, Any], max_length: int) -> str:
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise BadRequest("'text' must be a non-empty string")
    if len(text) > max_length:
        raise TooLarge(f"'text' is longer than {max_length} characters")
    return text


def _seconds(value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_BAN_SECONDS:
        raise BadRequest(f"'seconds' must be an integer from 1 to {MAX_BAN_SECONDS}, or absent")
    return value


def validate_emoji(value: object) -> str:
    """One emoji: 1 to ``MAX_EMOJI_LENGTH`` code points, no letters, digits, spaces or controls.

    Not a full emoji grammar (that changes every year); enough that a reaction is a symbol and
    not a message smuggled into a map key.
    """
    if not isinstance(value, str) or not value or len(value) > MAX_EMOJI_LENGTH:
        raise BadRequest(f"'emoji' must be one emoji (1 to {MAX_EMOJI_LENGTH} code points)")
    for char in value:
        category = unicodedata.category(char)
        if category[0] in ("L", "N", "Z") or (category[0] == "C" and char != "\u200d"):
            raise BadRequest("'emoji' must be an emoji, not letters, digits or spaces")
    return value


# ---- events -------------------------------------------------------------------------------


def _with_ref(event: dict[str, Any], ref: str | None) -> dict[str, Any]:
    if ref is not None:
        event["ref"] = ref
    return event


def edited_event(*, room: str, id: str, version: int, ref: str | None = None) -> dict[str, Any]:
    return _with_ref({"type": "edited", "room": room, "id": id, "version": version}, ref)


def deleted_event(*, room: str, id: str, ref: str | None = None) -> dict[str, Any]:
    return _with_ref({"type": "deleted", "room": room, "id": id}, ref)


def reacted_event(
    *, room: str, id: str, emoji: str, op: str, ref: str | None = None
) -> dict[str, Any]:
    return _with_ref({"type": "reacted", "room": room, "id": id, "emoji": emoji, "op": op}, ref)


def message_updated_event(
    *, room: str, id: str, seq: int, text: str, version: int, edited_ts: int
) -> dict[str, Any]:
    return {
        "type": "message_updated",
        "room": room,
        "id": id,
        "seq": seq,
        "text": text,
        "version": version,
        "edited_ts": edited_ts,
    }


def message_deleted_event(*, room: str, id: str, seq: int) -> dict[str, Any]:
    return {"type": "message_deleted", "room": room, "id": id, "seq": seq}


def reaction_event(
    *, room: str, id: str, seq: int, emoji: str, user: str, count: int, op: str
) -> dict[str, Any]:
    return {
        "type": "reaction",
        "room": room,
        "id": id,
        "seq": seq,
        "emoji": emoji,
        "user": user,
        "count": count,
        "op": op,
    }


def read_event(*, room: str, seq: int, ref: str | None = None) -> dict[str, Any]:
    return _with_ref({"type": "read", "room": room, "seq": seq}, ref)


def receipt_event(*, room: str, user: str, seq: int) -> dict[str, Any]:
    return {"type": "receipt", "room": room, "user": user, "seq": seq}


def rooms_event(*, rooms: list[dict[str, Any]], ref: str | None = None) -> dict[str, Any]:
    return _with_ref({"type": "rooms", "rooms": rooms}, ref)


def moderated_event(
    *, room: str, user: str, op: str, until: int | None = None, ref: str | None = None
) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "moderated", "room": room, "user": user, "op": op}
    if until is not None:
        event["until"] = until
    return _with_ref(event, ref)


def kicked_event(*, room: str, by: str) -> dict[str, Any]:
    return {"type": "kicked", "room": room, "by": by}


def banned_event(*, room: str, by: str, until: int | None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "banned", "room": room, "by": by}
    if until is not None:
        event["until"] = until
    return event


def reauthed_event(*, exp: int, ref: str | None = None) -> dict[str, Any]:
    return _with_ref({"type": "reauthed", "exp": exp}, ref)


def reauth_required_event(*, exp: int) -> dict[str, Any]:
    return {"type": "reauth_required", "exp": exp}
