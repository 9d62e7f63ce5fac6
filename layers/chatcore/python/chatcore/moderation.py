"""Who moderates a room, and kick / ban / unban (``Moderation``).

A room's moderators are the users whose token carries ``roles: ["moderator"]`` (every room) and
the room's owner: the first user to store a message in it (``owner`` on the room counter, set by
the send that creates it). DM rooms have no moderators.

A ban is the MessagesTable item ``BAN#room#user`` / seq 0 (``until``: its end in epoch seconds,
0 for "until unbanned"; ``expiresAt`` lets TTL remove an ended ban, and ``until`` is checked
anyway since TTL may lag). A send reads it in the BatchGetItem it does already, a join in its own
BatchGetItem: banning costs no request on either path. Kick and ban remove the target's
memberships of the room (each connection of that user in the room gets ``kicked`` / ``banned``
first) and tell the room's other members it left, as a leave does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chatcore.auth import Identity
from chatcore.delivery import Delivery
from chatcore.errors import BadRequest, Forbidden
from chatcore.items import COUNTER_SEQ, ban_key, room_key, to_item
from chatcore.protocol import encode
from chatcore.rooms import is_dm
from chatcore.store import ConnectionStore

__all__ = ["Moderation", "may_moderate"]


def may_moderate(identity: Identity, owner: str | None) -> bool:
    return identity.is_moderator or (owner is not None and owner == identity.user_id)


class Moderation:
    def __init__(
        self,
        *,
        client: Any,
        messages_table: str,
        store: ConnectionStore,
        delivery: Delivery,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._messages = messages_table
        self._store = store
        self._delivery = delivery
        self._clock = clock

    def owner(self, room: str) -> str | None:
        answer = self._client.get_item(
            TableName=self._messages,
            Key=to_item({"pk": room_key(room), "seq": COUNTER_SEQ}),
            ConsistentRead=True,
            ProjectionExpression="#o",
            ExpressionAttributeNames={"#o": "owner"},
        )
        owner = answer.get("Item", {}).get("owner", {}).get("S")
        return str(owner) if owner else None

    def may_moderate(self, identity: Identity, room: str) -> bool:
        if is_dm(room):
            return False
        # The role needs no read; the owner is one GetItem, only when the role is missing.
        return identity.is_moderator or self.owner(room) == identity.user_id

    def require(self, identity: Identity, room: str, target: str, verb: str) -> None:
        if is_dm(room):
            raise BadRequest("a DM room has no moderators")
        if target == identity.user_id:
            raise BadRequest(f"you cannot {verb} yourself")
        if not self.may_moderate(identity, room):
            raise Forbidden(f"only a moderator or the owner of '{room}' may {verb}")

    def remove(self, room: str, target: str, event: dict[str, Any]) -> tuple[list[str], str]:
        """Take ``target``'s connections out of ``room``, telling each first; return the ids
        removed and the name the user had in the room."""
        found = [m for m in self._store.members(room) if m.user_id == target]
        ids = [m.connection_id for m in found]
        if ids:
            self._delivery.deliver(encode(event), ids, allow_queue=False)
        name = found[0].name if found and found[0].name else target
        return [cid for cid in ids if self._store.remove_membership(cid, room)], name

    def ban(self, room: str, target: str, *, by: str, seconds: int | None) -> int | None:
        """Store the ban; return its end (None: until unbanned)."""
        now = int(self._clock())
        until = now + seconds if seconds is not None else None
        item: dict[str, Any] = {
            "pk": ban_key(room, target),
            "seq": COUNTER_SEQ,
            "kind": "ban",
            "room": room,
            "user": target,
            "by": by,
            "until": until or 0,
            "at": now,
        }
        if until is not None:
            item["expiresAt"] = until
        self._client.put_item(TableName=self._messages, Item=to_item(item))
        return until

    def unban(self, room: str, target: str) -> bool:
        answer = self._client.delete_item(
            TableName=self._messages,
            Key=to_item({"pk": ban_key(room, target), "seq": COUNTER_SEQ}),
            ReturnValues="ALL_OLD",
        )
        return bool(answer.get("Attributes"))
