"""What a changed message looks like: in history, and as the event the broadcaster posts. No I/O.

An edit, a delete or a reaction updates the message item in place (``chatcore.edits``,
``chatcore.reactions``) and writes what it did into the item's ``change`` attribute
(``{op, user, emoji?}``). The MessagesTable stream carries that MODIFY record to the broadcaster
like an INSERT, and ``change_event`` turns its new image into ``message_updated``,
``message_deleted`` or ``reaction``. A client that was away reads the same state from history:
``history_entry`` gives the latest text and ``version``, a tombstone for a deleted message (its
seq stays, so seq stays gapless), and ``reactions {emoji: count}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chatcore.actions import message_deleted_event, message_updated_event, reaction_event
from chatcore.attachments import descriptors_from_item

__all__ = ["OPS", "change_event", "history_entry", "reaction_counts"]

OPS = ("edit", "delete", "react", "unreact")


def reaction_counts(item: Mapping[str, Any]) -> dict[str, int]:
    """``emoji -> count`` for the emoji that still have a reaction (a count of 0 is dropped)."""
    raw = item.get("reactions") or {}
    return {str(emoji): int(count) for emoji, count in raw.items() if int(count) > 0}


def history_entry(item: Mapping[str, Any]) -> dict[str, Any]:
    """The history form of a stored message item (deserialised)."""
    seq = int(item["seq"])
    if item.get("deleted"):
        return {
            "type": "message",
            "id": str(item["id"]),
            "room": str(item["room"]),
            "seq": seq,
            "deleted": True,
        }
    entry: dict[str, Any] = {
        "type": "message",
        "id": str(item["id"]),
        "room": str(item["room"]),
        "seq": seq,
        "from": str(item["from"]),
        "name": str(item.get("name", item["from"])),
        "text": str(item["text"]),
        "ts": int(item["ts"]),
    }
    version = int(item.get("version", 0))
    if version:
        entry["version"] = version
        entry["edited_ts"] = int(item.get("editedTs", 0))
    reactions = reaction_counts(item)
    if reactions:
        entry["reactions"] = reactions
    files = descriptors_from_item(item.get("attachments"))
    if files:
        entry["attachments"] = files
    if item.get("system"):
        entry["system"] = True  # a service's message (see Publisher.publish)
    return entry


def change_event(image: Mapping[str, Any]) -> dict[str, Any] | None:
    """The event for a changed message's stream image; None when the image records no change."""
    change = image.get("change")
    if not isinstance(change, Mapping) or change.get("op") not in OPS:
        return None
    room, message_id, seq = str(image["room"]), str(image["id"]), int(image["seq"])
    op = str(change["op"])
    if op == "delete":
        return message_deleted_event(room=room, id=message_id, seq=seq)
    if op == "edit":
        return message_updated_event(
            room=room,
            id=message_id,
            seq=seq,
            text=str(image["text"]),
            version=int(image.get("version", 0)),
            edited_ts=int(image.get("editedTs", 0)),
        )
    emoji = str(change["emoji"])
    return reaction_event(
        room=room,
        id=message_id,
        seq=seq,
        emoji=emoji,
        user=str(change["user"]),
        count=int((image.get("reactions") or {}).get(emoji, 0)),
        op="add" if op == "react" else "remove",
    )
