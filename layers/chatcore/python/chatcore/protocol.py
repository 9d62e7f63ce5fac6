"""The wire protocol (v1): client frames in, server events out. No I/O.

``parse_frame`` turns the text of one WebSocket frame into a typed frame or raises a
:class:`~chatcore.errors.ChatError` whose ``code`` the client sees (and whose ``ref`` is the
client's, when the frame carried a valid one). The ``*_event`` builders produce every server
event exactly as ``docs/architecture.md`` draws it; ``encode`` turns one into compact JSON bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chatcore import actions
from chatcore.actions import ActionFrame
from chatcore.attachments import parse_attachment_ids
from chatcore.errors import BadRequest, ChatError, TooLarge, UnknownAction
from chatcore.rooms import validate_room, validate_user_id

__all__ = [
    "ACTIONS",
    "MAX_REF_LENGTH",
    "Dm",
    "Frame",
    "History",
    "Join",
    "Leave",
    "Limits",
    "Ping",
    "Send",
    "Typing",
    "Who",
    "ack_event",
    "encode",
    "error_event",
    "history_event",
    "joined_event",
    "left_event",
    "message_event",
    "messages_event",
    "notification_event",
    "parse_frame",
    "pong_event",
    "presence_change_event",
    "presence_list_event",
    "typing_event",
]

MAX_REF_LENGTH = 64


@dataclass(frozen=True, kw_only=True)
class Limits:
    """The configurable limits a frame is checked against (see ``Config``)."""

    max_text_length: int = 4000
    max_room_length: int = 64
    history_page_limit: int = 100


@dataclass(frozen=True, kw_only=True)
class Join:
    room: str
    ref: str | None = None


@dataclass(frozen=True, kw_only=True)
class Leave:
    room: str
    ref: str | None = None


@dataclass(frozen=True, kw_only=True)
class Send:
    room: str
    text: str
    ref: str | None = None
    attachments: tuple[str, ...] = ()  # attachment ids (chatcore.attachments)


@dataclass(frozen=True, kw_only=True)
class Dm:
    to: str
    text: str
    ref: str | None = None
    attachments: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class History:
    room: str
    limit: int
    after: int | None = None
    before: int | None = None
    ref: str | None = None


@dataclass(frozen=True, kw_only=True)
class Typing:
    room: str
    ref: str | None = None


@dataclass(frozen=True, kw_only=True)
class Who:
    room: str
    ref: str | None = None


@dataclass(frozen=True, kw_only=True)
class Ping:
    ref: str | None = None


Frame = Join | Leave | Send | Dm | History | Typing | Who | Ping | ActionFrame

# The actions of ``chatcore.actions`` (edit, delete, react, read, moderation, reauth) follow.
ACTIONS = ("join", "leave", "send", "dm", "history", "typing", "who", "ping", *actions.ACTIONS)


def parse_frame(body: str | bytes | None, *, limits: Limits | None = None) -> Frame:
    """Validate one client frame; raise ``ChatError`` (with the client's ``ref``) when invalid."""
    limits = limits or Limits()
    data = _load_object(body)
    ref = _ref(data)
    try:
        return _build(data, ref, limits)
    except ChatError as exc:
        exc.ref = ref
        raise


def _load_object(body: str | bytes | None) -> dict[str, Any]:
    if body is None or body == "" or body == b"":
        raise BadRequest("the frame is empty; send a JSON object with an 'action'")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the frame must be a JSON object")
    return data


def _ref(data: dict[str, Any]) -> str | None:
    ref = data.get("ref")
    if ref is None:
        return None
    if not isinstance(ref, str) or not ref or len(ref) > MAX_REF_LENGTH:
        raise BadRequest(f"'ref' must be a string of 1 to {MAX_REF_LENGTH} characters")
    return ref


def _build(data: dict[str, Any], ref: str | None, limits: Limits) -> Frame:
    action = data.get("action")
    if not isinstance(action, str) or not action:
        raise BadRequest("'action' must be a non-empty string")
    if action == "ping":
        return Ping(ref=ref)
    if action == "dm":
        to = validate_user_id(data.get("to"), field="to")
        ids = parse_attachment_ids(data.get("attachments"))
        return Dm(to=to, text=_message_text(data, limits, ids), ref=ref, attachments=ids)
    if action in actions.ACTIONS:
        return actions.parse_action(
            action,
            data,
            ref,
            max_text_length=limits.max_text_length,
            max_room_length=limits.max_room_length,
        )
    if action not in ACTIONS:
        raise UnknownAction(f"unknown action '{action[:32]}'; expected one of {', '.join(ACTIONS)}")
    # DM rooms are well-formed names here; who may use them is decided with the identity.
    room = validate_room(data.get("room"), max_length=limits.max_room_length, allow_dm=True)
    if action == "join":
        return Join(room=room, ref=ref)
    if action == "leave":
        return Leave(room=room, ref=ref)
    if action == "send":
        ids = parse_attachment_ids(data.get("attachments"))
        return Send(room=room, text=_message_text(data, limits, ids), ref=ref, attachments=ids)
    if action == "typing":
        return Typing(room=room, ref=ref)
    if action == "who":
        return Who(room=room, ref=ref)
    return _history(data, room, ref, limits)


def _text(data: dict[str, Any], limits: Limits) -> str:
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise BadRequest("'text' must be a non-empty string")
    if len(text) > limits.max_text_length:
        raise TooLarge(f"'text' is longer than {limits.max_text_length} characters")
    return text


def _message_text(data: dict[str, Any], limits: Limits, ids: tuple[str, ...]) -> str:
    # A message that carries files may have no text.
    if ids and data.get("text") in (None, ""):
        return ""
    return _text(data, limits)


def _seq(data: dict[str, Any], field: str) -> int | None:
    value = data.get(field)
    if value is None:
        return None
    # bool is an int in Python; true/false is not a seq.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadRequest(f"'{field}' must be a non-negative integer seq")
    return value


def _history(data: dict[str, Any], room: str, ref: str | None, limits: Limits) -> History:
    after = _seq(data, "after")
    before = _seq(data, "before")
    if after is not None and before is not None and before <= after:
        raise BadRequest("'before' must be greater than 'after'")
    raw_limit = data.get("limit", limits.history_page_limit)
    if (
        not isinstance(raw_limit, int)
        or isinstance(raw_limit, bool)
        or not 1 <= raw_limit <= limits.history_page_limit
    ):
        raise BadRequest(f"'limit' must be an integer from 1 to {limits.history_page_limit}")
    return History(room=room, after=after, before=before, limit=raw_limit, ref=ref)


# ---- server events -------------------------------------------------------------------------


def _with_ref(event: dict[str, Any], ref: str | None) -> dict[str, Any]:
    if ref is not None:
        event["ref"] = ref
    return event


def message_event(
    *,
    id: str,
    room: str,
    seq: int,
    from_: str,
    name: str,
    text: str,
    ts: int,
    attachments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "message",
        "id": id,
        "room": room,
        "seq": seq,
        "from": from_,
        "name": name,
        "text": text,
        "ts": ts,
    }
    if attachments:
        # [{id, name, type, size, width?, height?}]: references, never the bytes.
        event["attachments"] = attachments
    return event


def messages_event(*, room: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Several ``message`` events of one room in one frame, in seq order (see ``frames``)."""
    return {"type": "messages", "room": room, "messages": messages}


def ack_event(*, ref: str | None, id: str, room: str, seq: int) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "ack"}
    _with_ref(event, ref)
    event.update(id=id, room=room, seq=seq)
    return event


def joined_event(*, room: str, seq: int, ref: str | None = None) -> dict[str, Any]:
    return _with_ref({"type": "joined", "room": room, "seq": seq}, ref)


def left_event(*, room: str, ref: str | None = None) -> dict[str, Any]:
    return _with_ref({"type": "left", "room": room}, ref)


def history_event(
    *, room: str, messages: list[dict[str, Any]], ref: str | None = None
) -> dict[str, Any]:
    return _with_ref({"type": "history", "room": room, "messages": messages}, ref)


def presence_change_event(*, room: str, event: str, user_id: str, name: str) -> dict[str, Any]:
    if event not in ("join", "leave"):
        raise ValueError("presence event is 'join' or 'leave'")
    return {"type": "presence", "room": room, "event": event, "user": {"id": user_id, "name": name}}


def presence_list_event(
    *, room: str, users: list[dict[str, str]], ref: str | None = None
) -> dict[str, Any]:
    return _with_ref({"type": "presence", "room": room, "users": users}, ref)


def typing_event(*, room: str, from_: str, name: str) -> dict[str, Any]:
    return {"type": "typing", "room": room, "from": from_, "name": name}


def notification_event(*, id: str, payload: Any, ts: int) -> dict[str, Any]:
    return {"type": "notification", "id": id, "payload": payload, "ts": ts}


def pong_event(*, ref: str | None = None) -> dict[str, Any]:
    return _with_ref({"type": "pong"}, ref)


def error_event(*, code: str, message: str, ref: str | None = None) -> dict[str, Any]:
    return _with_ref({"type": "error", "code": code, "message": message}, ref)


def encode(event: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, the bytes ``post_to_connection`` sends."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
