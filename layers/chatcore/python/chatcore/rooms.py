"""Room and user names: what is valid, who may use which room.

Rooms are ``name``, ``private:name`` or ``dm:{a}:{b}``. A ``name`` starts with a letter or digit
and continues with letters, digits, ``.``, ``_`` or ``-``; the whole room is at most
``MAX_ROOM_LENGTH`` characters. ``private:`` rooms are open only to users whose token lists them;
``dm:`` rooms are made by the server for the ``dm`` action and only their two users may read them.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from chatcore.errors import BadRequest, Forbidden

__all__ = [
    "DM_PREFIX",
    "PRIVATE_PREFIX",
    "ROOM_PATTERN",
    "USER_PATTERN",
    "check_readable",
    "check_usable",
    "dm_members",
    "dm_room",
    "is_dm",
    "validate_room",
    "validate_user_id",
]

PRIVATE_PREFIX = "private:"
DM_PREFIX = "dm:"
ROOM_PATTERN = re.compile(r"(?:private:)?[A-Za-z0-9][A-Za-z0-9._-]*")
# No ":" in user ids, so "dm:{a}:{b}" always splits back into the same two users.
USER_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+|-]{0,127}")
_DM_PATTERN = re.compile(rf"dm:({USER_PATTERN.pattern}):({USER_PATTERN.pattern})")


def validate_user_id(value: object, *, field: str = "to") -> str:
    if not isinstance(value, str) or not USER_PATTERN.fullmatch(value):
        raise BadRequest(f"'{field}' must be a user id (letters, digits, . _ @ + | -)")
    return value


def validate_room(value: object, *, max_length: int, allow_dm: bool = False) -> str:
    """Return ``value`` when it is a well-formed room name, else raise ``BadRequest``."""
    if not isinstance(value, str) or not value:
        raise BadRequest("'room' must be a non-empty string")
    if len(value) > max_length:
        raise BadRequest(f"'room' is longer than {max_length} characters")
    if allow_dm and _DM_PATTERN.fullmatch(value):
        return value
    if not ROOM_PATTERN.fullmatch(value):
        raise BadRequest(
            "'room' must be letters, digits, '.', '_' or '-', optionally after 'private:'"
        )
    return value


def is_dm(room: str) -> bool:
    return room.startswith(DM_PREFIX)


def dm_room(a: str, b: str) -> str:
    """The one room two users share, the same whichever of them writes first."""
    first, second = sorted((a, b))
    return f"{DM_PREFIX}{first}:{second}"


def dm_members(room: str) -> tuple[str, str]:
    match = _DM_PATTERN.fullmatch(room)
    if match is None:
        raise BadRequest(f"'{room}' is not a direct-message room")
    return match.group(1), match.group(2)


def check_usable(room: str, *, private_rooms: Collection[str]) -> None:
    """Raise ``Forbidden`` unless the user may join (and so post to) ``room``."""
    if is_dm(room):
        raise Forbidden("direct-message rooms are used through the 'dm' action")
    if room.startswith(PRIVATE_PREFIX) and room not in private_rooms:
        raise Forbidden(f"your token does not grant the room '{room}'")


def check_readable(room: str, *, user_id: str, private_rooms: Collection[str]) -> None:
    """Raise ``Forbidden`` unless the user may read ``room``'s history or members."""
    if is_dm(room):
        if user_id not in dm_members(room):
            raise Forbidden("only its two users may read a direct-message room")
        return
    check_usable(room, private_rooms=private_rooms)
