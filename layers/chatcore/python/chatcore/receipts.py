"""Read markers and unread counts (``ReadMarkers``).

A user's marker for a room is the ConnectionsTable item ``USER#u`` / ``ROOM#r`` (``readSeq``): a
user's own membership of the room, which outlives its sockets (the ``ROOM#r`` / ``CONN#c`` items
go with each connection). It is written on the user's first join (at the room's latest seq: a
newcomer has nothing unread) and by ``read``, and only ever moves forward (the condition
``readSeq < :s``), so two tabs reading out of order cannot move it back.

``unread`` is the room counter's ``last`` minus ``readSeq``: seq is gapless, so no message is
counted. ``rooms`` lists a user's rooms with one Query of ``USER#u`` and one BatchGetItem of the
rooms' counters: O(1) per room, whatever the rooms hold.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chatcore.errors import BadRequest, InternalError
from chatcore.items import COUNTER_SEQ, ban_key, from_item, room_key, to_item, user_key

__all__ = ["JoinState", "ReadMarkers", "unread"]

_BATCH_GET_MAX = 100


def unread(last: int, read: int | None) -> int:
    return max(0, last - (read if read is not None else last))


@dataclass(frozen=True)
class JoinState:
    """What a join reads in one BatchGetItem: the room's latest seq and owner, the user's ban
    (``banned_until``: None, 0 = until unbanned, or its end) and read marker."""

    last: int
    owner: str | None
    banned_until: int | None
    read: int | None

    def banned(self, now: float) -> bool:
        until = self.banned_until
        return until is not None and (until == 0 or until > now)


class ReadMarkers:
    def __init__(
        self,
        *,
        client: Any,
        connections_table: str,
        messages_table: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._connections = connections_table
        self._messages = messages_table
        self._clock = clock

    def join_state(self, room: str, user_id: str) -> JoinState:
        wanted: dict[str, list[dict[str, Any]]] = {
            self._messages: [
                {"pk": room_key(room), "seq": COUNTER_SEQ},
                {"pk": ban_key(room, user_id), "seq": COUNTER_SEQ},
            ],
            self._connections: [{"pk": user_key(user_id), "sk": room_key(room)}],
        }
        counter = ban = marker = None
        for item in self._batch_get(wanted):
            pk = str(item["pk"])
            if pk.startswith("USER#"):
                marker = item
            elif pk.startswith("BAN#"):
                ban = item
            else:
                counter = item
        return JoinState(
            last=int((counter or {}).get("last", 0)),
            owner=str(counter["owner"]) if counter and counter.get("owner") else None,
            banned_until=int(ban.get("until", 0)) if ban else None,
            read=int(marker["readSeq"]) if marker and "readSeq" in marker else None,
        )

    def start(self, room: str, user_id: str, last: int) -> None:
        """The marker of a user's first join: everything before it counts as read."""
        self._client.update_item(
            TableName=self._connections,
            Key=to_item({"pk": user_key(user_id), "sk": room_key(room)}),
            UpdateExpression="SET readSeq = if_not_exists(readSeq, :s), room = :r",
            ExpressionAttributeValues=to_item({":s": last, ":r": room}),
        )

    def mark(self, room: str, user_id: str, seq: int, *, last: int) -> int:
        """Move the marker to ``seq`` (never back); return where it is now."""
        if seq > last:
            raise BadRequest(f"'seq' {seq} is past the latest message of '{room}' ({last})")
        try:
            self._client.update_item(
                TableName=self._connections,
                Key=to_item({"pk": user_key(user_id), "sk": room_key(room)}),
                UpdateExpression="SET readSeq = :s, room = :r, readAt = :t",
                ConditionExpression="attribute_not_exists(readSeq) OR readSeq < :s",
                ExpressionAttributeValues=to_item(
                    {":s": seq, ":r": room, ":t": int(self._clock() * 1000)}
                ),
            )
            return seq
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
        # Already at or past seq: the marker stays where it is.
        return self.read_seq(room, user_id) or seq

    def read_seq(self, room: str, user_id: str) -> int | None:
        answer = self._client.get_item(
            TableName=self._connections,
            Key=to_item({"pk": user_key(user_id), "sk": room_key(room)}),
            ConsistentRead=True,
        )
        item = answer.get("Item")
        return int(from_item(item)["readSeq"]) if item else None

    def rooms(self, user_id: str) -> list[dict[str, Any]]:
        """``[{room, seq, read, unread}]`` for every room the user joined or read, by name."""
        markers: dict[str, int] = {}
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._connections,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues=to_item({":p": user_key(user_id)}),
        ):
            for raw in page.get("Items", []):
                item = from_item(raw)
                markers[str(item["room"])] = int(item.get("readSeq", 0))
        lasts: dict[str, int] = {}
        names = sorted(markers)
        for start in range(0, len(names), _BATCH_GET_MAX):
            keys = [{"pk": room_key(r), "seq": COUNTER_SEQ} for r in names[start : start + 100]]
            for item in self._batch_get({self._messages: keys}):
                lasts[str(item["pk"]).removeprefix("ROOM#")] = int(item.get("last", 0))
        return [
            {
                "room": room,
                "seq": lasts.get(room, 0),
                "read": markers[room],
                "unread": unread(lasts.get(room, 0), markers[room]),
            }
            for room in names
        ]

    def _batch_get(self, wanted: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            table: {"Keys": [to_item(k) for k in keys], "ConsistentRead": True}
            for table, keys in wanted.items()
        }
        found: list[dict[str, Any]] = []
        for attempt in range(5):
            answer = self._client.batch_get_item(RequestItems=request)
            for items in answer.get("Responses", {}).values():
                found.extend(from_item(i) for i in items)
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                return found
            time.sleep(0.01 * (attempt + 1))
        raise InternalError("DynamoDB left reads unprocessed after retries")
