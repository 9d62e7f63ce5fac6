"""The SNS notification schema. No I/O.

The SNS ``Message`` is a JSON object::

    {"targets": {"users": ["u1"], "rooms": ["lobby"], "all": false},
     "payload": {...any JSON...},
     "id": "optional, generated when absent"}

At least one target is required (a non-empty ``users`` or ``rooms`` list, or ``all: true``).
Anything else raises :class:`InvalidNotification`, whose message never quotes the payload.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from chatcore.errors import ChatError
from chatcore.fanout import MAX_PAYLOAD_BYTES
from chatcore.rooms import validate_room, validate_user_id

__all__ = ["MAX_TARGETS", "InvalidNotification", "Notification", "parse_notification"]

MAX_TARGETS = 1000
_MAX_ROOM_LENGTH = 256


class InvalidNotification(ValueError):
    """The SNS message does not follow the schema; it is logged (without payload) and dropped."""


@dataclass(frozen=True, kw_only=True)
class Notification:
    id: str
    payload: Any
    users: tuple[str, ...] = ()
    rooms: tuple[str, ...] = ()
    everyone: bool = False


def _names(targets: dict[str, Any], field: str) -> list[Any]:
    value = targets.get(field, [])
    if not isinstance(value, list):
        raise InvalidNotification(f"targets.{field} must be a list")
    if len(value) > MAX_TARGETS:
        raise InvalidNotification(f"targets.{field} has more than {MAX_TARGETS} entries")
    return value


def parse_notification(message: str) -> Notification:
    try:
        data = json.loads(message)
    except (ValueError, TypeError):
        raise InvalidNotification("the SNS message is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidNotification("the SNS message must be a JSON object")
    targets = data.get("targets")
    if not isinstance(targets, dict):
        raise InvalidNotification("'targets' must be an object")
    try:
        users = tuple(
            dict.fromkeys(
                validate_user_id(u, field="targets.users") for u in _names(targets, "users")
            )
        )
        rooms = tuple(
            dict.fromkeys(
                validate_room(r, max_length=_MAX_ROOM_LENGTH, allow_dm=True)
                for r in _names(targets, "rooms")
            )
        )
    except ChatError as exc:
        raise InvalidNotification(exc.message) from None
    everyone = targets.get("all", False)
    if not isinstance(everyone, bool):
        raise InvalidNotification("targets.all must be true or false")
    if not (users or rooms or everyone):
        raise InvalidNotification("no target: give users, rooms or all: true")
    if "payload" not in data or data["payload"] is None:
        raise InvalidNotification("'payload' is required")
    ident = data.get("id")
    if ident is None:
        ident = str(uuid.uuid4())
    elif not isinstance(ident, str) or not ident or len(ident) > 128:
        raise InvalidNotification("'id' must be a string of 1 to 128 characters")
    if len(message.encode("utf-8")) > MAX_PAYLOAD_BYTES:
        raise InvalidNotification(f"the notification is over {MAX_PAYLOAD_BYTES} bytes")
    return Notification(
        id=ident, payload=data["payload"], users=users, rooms=rooms, everyone=everyone
    )
