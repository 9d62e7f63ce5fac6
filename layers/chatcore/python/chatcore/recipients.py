"""Who receives a stored message or a notification, read from ConnectionsTable.

A room's members are one Query; a DM room's recipients are every connection of its two users
(ByUser index); ``all`` is the one paginated Scan, used only by notifications to everyone.
"""

from __future__ import annotations

from typing import Any

from chatcore.attachments import descriptors_from_item
from chatcore.notify import Notification
from chatcore.rooms import dm_members, is_dm
from chatcore.store import ConnectionStore

__all__ = ["message_from_image", "notification_recipients", "room_recipients"]


def room_recipients(store: ConnectionStore, room: str) -> list[str]:
    if is_dm(room):
        ids: list[str] = []
        for user in dict.fromkeys(dm_members(room)):
            ids.extend(store.connections_of(user))
        return ids
    return store.member_ids(room)


def notification_recipients(store: ConnectionStore, notification: Notification) -> list[str]:
    if notification.everyone:
        return list(store.all_connections())
    ids: list[str] = []
    for user in notification.users:
        ids.extend(store.connections_of(user))
    for room in notification.rooms:
        ids.extend(room_recipients(store, room))
    return list(dict.fromkeys(ids))


def message_from_image(image: dict[str, Any]) -> dict[str, Any] | None:
    """The ``message`` event for a MessagesTable stream image; None for counters and refs."""
    if image.get("kind") != "message":
        return None
    message = {
        "type": "message",
        "id": str(image["id"]),
        "room": str(image["room"]),
        "seq": int(image["seq"]),
        "from": str(image["from"]),
        "name": str(image.get("name", image["from"])),
        "text": str(image["text"]),
        "ts": int(image["ts"]),
    }
    if image.get("system"):
        message["system"] = True  # a service's message (see Publisher.publish)
    if image.get("attachments"):
        message["attachments"] = descriptors_from_item(image["attachments"])
    return message
