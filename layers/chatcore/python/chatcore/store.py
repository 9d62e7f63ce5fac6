"""DynamoDB adapters: ``ConnectionStore`` (ConnectionsTable) and ``MessageLog`` (MessagesTable).

Both take an injected low-level ``dynamodb`` client. Keys and attributes are the ones drawn in
``docs/architecture.md``. Every per-message path is a GetItem, Query or write; the only Scan is
``ConnectionStore.all_connections`` for notifications addressed to everyone.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from chatcore.attachments import descriptors_from_item
from chatcore.auth import Identity
from chatcore.errors import InternalError
from chatcore.fanout import backoff_delay
from chatcore.protocol import ack_event, message_event

__all__ = [
    "BY_USER_INDEX",
    "ConnectionStore",
    "Member",
    "MessageLog",
    "StoredSend",
    "connection_key",
    "room_key",
]

BY_USER_INDEX = "ByUser"
META = "META"
_BATCH_WRITE_MAX = 25
# A hot room's counter is contended: retry a lost race after a short full-jitter pause.
_APPEND_ATTEMPTS = 20

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def connection_key(connection_id: str) -> str:
    return f"CONN#{connection_id}"


def room_key(room: str) -> str:
    return f"ROOM#{room}"


def _ref_key(user_id: str, ref: str) -> str:
    return f"REF#{user_id}#{ref}"


def _to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in values.items()}


def _from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


@dataclass(frozen=True)
class Member:
    connection_id: str
    user_id: str
    name: str


class ConnectionStore:
    """Connections, their room memberships and their send-rate window."""

    def __init__(self, *, client: Any, table: str, ttl_seconds: int = 7200) -> None:
        if not table:
            raise ValueError("ConnectionStore needs a table name (CONNECTIONS_TABLE)")
        self._client = client
        self._table = table
        self._ttl = ttl_seconds

    # ---- connections --------------------------------------------------------------------

    def put_connection(
        self, connection_id: str, identity: Identity, *, connected_at_ms: int | None = None
    ) -> None:
        now = time.time()
        connected = connected_at_ms if connected_at_ms is not None else int(now * 1000)
        self._client.put_item(
            TableName=self._table,
            Item=_to_item(
                {
                    "pk": connection_key(connection_id),
                    "sk": META,
                    "ownerId": identity.user_id,
                    "name": identity.name,
                    "connectedAt": connected,
                    "expiresAt": int(now) + self._ttl,
                }
            ),
        )

    def get_connection(self, connection_id: str) -> dict[str, Any] | None:
        answer = self._client.get_item(
            TableName=self._table,
            Key=_to_item({"pk": connection_key(connection_id), "sk": META}),
            ConsistentRead=True,
        )
        item = answer.get("Item")
        return _from_item(item) if item else None

    def delete_connection(self, connection_id: str) -> int:
        """Delete the connection item and every membership it holds; return items deleted.

        Idempotent: deleting an unknown connection deletes nothing and succeeds.
        """
        item = self.get_connection(connection_id)
        rooms = sorted(item.get("rooms", set())) if item else []
        keys = [{"pk": room_key(r), "sk": connection_key(connection_id)} for r in rooms]
        keys.append({"pk": connection_key(connection_id), "sk": META})
        for start in range(0, len(keys), _BATCH_WRITE_MAX):
            requests = [
                {"DeleteRequest": {"Key": _to_item(k)}}
                for k in keys[start : start + _BATCH_WRITE_MAX]
            ]
            self._batch_write(requests)
        return len(keys) if item else 0

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        pending = {self._table: requests}
        for _ in range(5):
            answer = self._client.batch_write_item(RequestItems=pending)
            pending = answer.get("UnprocessedItems") or {}
            if not pending:
                return
        raise InternalError("DynamoDB left deletes unprocessed after retries")

    def connections_of(self, user_id: str) -> list[str]:
        """Every connection id of one user, through the ByUser index."""
        ids = []
        for item in self._query(
            IndexName=BY_USER_INDEX,
            KeyConditionExpression="ownerId = :u",
            ExpressionAttributeValues=_to_item({":u": user_id}),
        ):
            ids.append(str(item["pk"]).removeprefix("CONN#"))
        return ids

    def all_connections(self) -> Iterator[str]:
        """Every connection id, by a paginated Scan: for notifications to everyone, only."""
        paginator = self._client.get_paginator("scan")
        for page in paginator.paginate(
            TableName=self._table,
            FilterExpression="sk = :meta",
            ExpressionAttributeValues=_to_item({":meta": META}),
            ProjectionExpression="pk",
        ):
            for item in page.get("Items", []):
                yield str(_from_item(item)["pk"]).removeprefix("CONN#")

    # ---- memberships --------------------------------------------------------------------

    def add_membership(self, connection_id: str, room: str, identity: Identity) -> bool:
        """Join; return False when the connection was already a member (nothing changes)."""
        now = time.time()
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_to_item(
                    {
                        "pk": room_key(room),
                        "sk": connection_key(connection_id),
                        "userId": identity.user_id,
                        "name": identity.name,
                        "joinedAt": int(now * 1000),
                        "expiresAt": int(now) + self._ttl,
                    }
                ),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        # The connection item lists its rooms, so a disconnect finds memberships without a Scan.
        # if_not_exists: should the item have been swept meanwhile, it comes back whole (owner,
        # TTL) rather than as a bare "rooms" item that would never expire.
        self._client.update_item(
            TableName=self._table,
            Key=_to_item({"pk": connection_key(connection_id), "sk": META}),
            UpdateExpression=(
                "ADD rooms :r SET ownerId = if_not_exists(ownerId, :u), "
                "#n = if_not_exists(#n, :name), expiresAt = if_not_exists(expiresAt, :exp)"
            ),
            ExpressionAttributeNames={"#n": "name"},
            ExpressionAttributeValues=_to_item(
                {
                    ":r": {room},
                    ":u": identity.user_id,
                    ":name": identity.name,
                    ":exp": int(now) + self._ttl,
                }
            ),
        )
        return True

    def remove_membership(self, connection_id: str, room: str) -> bool:
        """Leave; return False when the connection was not a member."""
        answer = self._client.delete_item(
            TableName=self._table,
            Key=_to_item({"pk": room_key(room), "sk": connection_key(connection_id)}),
            ReturnValues="ALL_OLD",
        )
        self._forget_room(connection_id, room)
        return bool(answer.get("Attributes"))

    def _forget_room(self, connection_id: str, room: str) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_to_item({"pk": connection_key(connection_id), "sk": META}),
                UpdateExpression="DELETE rooms :r",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=_to_item({":r": {room}}),
            )
        except ClientError as exc:
            if not _conditional_failed(exc):
                raise

    def is_member(self, connection_id: str, room: str) -> bool:
        answer = self._client.get_item(
            TableName=self._table,
            Key=_to_item({"pk": room_key(room), "sk": connection_key(connection_id)}),
            ConsistentRead=True,
            ProjectionExpression="pk",
        )
        return "Item" in answer

    def members(self, room: str) -> list[Member]:
        """Every membership of a room: one paginated Query."""
        return [
            Member(
                connection_id=str(item["sk"]).removeprefix("CONN#"),
                user_id=str(item.get("userId", "")),
                name=str(item.get("name", "")),
            )
            for item in self._query(
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues=_to_item({":p": room_key(room)}),
                ConsistentRead=True,
            )
        ]

    def member_ids(self, room: str, *, limit: int | None = None) -> list[str]:
        """The connection ids in a room; with ``limit``, at most ``limit + 1`` of them.

        Projects only the sort key: fan-out needs nothing else, and a Query's cost grows with
        the bytes it returns (moto's serialiser is several times faster on one attribute, too).
        ``limit + 1`` lets a caller tell "more than limit" without reading a big room whole.
        """
        ids: list[str] = []
        for item in self._query(
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues=_to_item({":p": room_key(room)}),
            ProjectionExpression="sk",
            ConsistentRead=True,
        ):
            ids.append(str(item["sk"]).removeprefix("CONN#"))
            if limit is not None and len(ids) > limit:
                break
        return ids

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(TableName=self._table, **kwargs):
            for item in page.get("Items", []):
                yield _from_item(item)

    # ---- send rate ----------------------------------------------------------------------

    def take_send_token(
        self, connection_id: str, *, per_second: int, now: float | None = None
    ) -> bool:
        """Count one send in the connection's current one-second window; False when over budget."""
        second = int(time.time() if now is None else now)
        key = _to_item({"pk": connection_key(connection_id), "sk": META})
        # Two rounds: when two sends open the same new second at once, one opens the window
        # and the other's open fails; that one must count itself in the window, not be refused.
        for _ in range(2):
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=key,
                    UpdateExpression="SET rateCount = rateCount + :one",
                    ConditionExpression="rateWindow = :now AND rateCount < :limit",
                    ExpressionAttributeValues=_to_item(
                        {":one": 1, ":now": second, ":limit": per_second}
                    ),
                )
                return True
            except ClientError as exc:
                if not _conditional_failed(exc):
                    raise
            try:
                # A new second (or a first send): open a fresh window.
                self._client.update_item(
                    TableName=self._table,
                    Key=key,
                    UpdateExpression="SET rateWindow = :now, rateCount = :one",
                    ConditionExpression=(
                        "attribute_exists(pk) AND "
                        "(attribute_not_exists(rateWindow) OR rateWindow <> :now)"
                    ),
                    ExpressionAttributeValues=_to_item({":one": 1, ":now": second}),
                )
                return True
            except ClientError as exc:
                if not _conditional_failed(exc):
                    raise
        # Same second and over budget, unless the connection item has gone (then nothing to limit).
        return self.get_connection(connection_id) is None


@dataclass(frozen=True)
class StoredSend:
    """The outcome of ``MessageLog.append``: the ack, and whether this call stored the message."""

    ack: dict[str, Any]
    created: bool
    message: dict[str, Any] | None = None


class MessageLog:
    """Per-room message log with a gapless ``seq`` and idempotent sends."""

    def __init__(
        self,
        *,
        client: Any,
        table: str,
        retention_days: int = 30,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not table:
            raise ValueError("MessageLog needs a table name (MESSAGES_TABLE)")
        self._client = client
        self._sleep = sleep
        self._table = table
        self._retention = retention_days * 86400

    def latest_seq(self, room: str) -> int:
        answer = self._client.get_item(
            TableName=self._table,
            Key=_to_item({"pk": room_key(room), "seq": 0}),
            ConsistentRead=True,
        )
        item = answer.get("Item")
        return int(_from_item(item).get("last", 0)) if item else 0

    def room_exists(self, room: str) -> bool:
        answer = self._client.get_item(
            TableName=self._table,
            Key=_to_item({"pk": room_key(room), "seq": 0}),
            ConsistentRead=True,
            ProjectionExpression="pk",
        )
        return "Item" in answer

    def stored_ack(self, user_id: str, ref: str) -> dict[str, Any] | None:
        answer = self._client.get_item(
            TableName=self._table,
            Key=_to_item({"pk": _ref_key(user_id, ref), "seq": 0}),
            ConsistentRead=True,
        )
        item = answer.get("Item")
        if not item:
            return None
        ack: dict[str, Any] = json.loads(_from_item(item)["ack"])
        return ack

    def append(
        self,
        *,
        room: str,
        user_id: str,
        name: str,
        text: str,
        ref: str | None = None,
        now_ms: int | None = None,
        attachments: list[dict[str, Any]] | None = None,
    ) -> StoredSend:
        """Store one message with the room's next seq; a repeated ``(user, ref)`` stores nothing.

        One TransactWriteItems moves the counter from n to n+1 (condition ``last = n``), puts the
        message (condition absent) and the ref item (condition absent): a lost race on the counter
        is retried with the new n, a lost race on the ref returns the first send's ack.
        """
        if ref is not None:
            previous = self.stored_ack(user_id, ref)
            if previous is not None:
                return StoredSend(ack=previous, created=False)
        message_id = str(uuid.uuid4())
        for attempt in range(_APPEND_ATTEMPTS):
            last = self.latest_seq(room)
            seq = last + 1
            ts = now_ms if now_ms is not None else int(time.time() * 1000)
            expires = ts // 1000 + self._retention
            message = message_event(
                id=message_id,
                room=room,
                seq=seq,
                from_=user_id,
                name=name,
                text=text,
                ts=ts,
                attachments=attachments,
            )
            ack = ack_event(ref=ref, id=message_id, room=room, seq=seq)
            try:
                self._client.transact_write_items(
                    TransactItems=self._append_items(room, seq, last, message, ack, ref, expires)
                )
                return StoredSend(ack=ack, created=True, message=message)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
            if ref is not None:
                previous = self.stored_ack(user_id, ref)
                if previous is not None:
                    return StoredSend(ack=previous, created=False)
            self._sleep(backoff_delay(attempt, base=0.01, cap=0.2))
        raise InternalError("the room is too busy to take the message; retry with the same ref")

    def _append_items(
        self,
        room: str,
        seq: int,
        last: int,
        message: dict[str, Any],
        ack: dict[str, Any],
        ref: str | None,
        expires: int,
    ) -> list[dict[str, Any]]:
        counter_condition = "attribute_not_exists(pk)" if last == 0 else "#last = :n"
        counter: dict[str, Any] = {
            "Update": {
                "TableName": self._table,
                "Key": _to_item({"pk": room_key(room), "seq": 0}),
                "UpdateExpression": "SET #last = :next",
                "ConditionExpression": counter_condition,
                "ExpressionAttributeNames": {"#last": "last"},
                "ExpressionAttributeValues": _to_item(
                    {":next": seq, **({} if last == 0 else {":n": last})}
                ),
            }
        }
        stored = {k: v for k, v in message.items() if k != "type"}
        items = [
            counter,
            {
                "Put": {
                    "TableName": self._table,
                    "Item": _to_item(
                        {**stored, "pk": room_key(room), "kind": "message", "expiresAt": expires}
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        if ref is not None:
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": _to_item(
                            {
                                "pk": _ref_key(str(message["from"]), ref),
                                "seq": 0,
                                "kind": "ref",
                                "ack": json.dumps(ack, separators=(",", ":")),
                                "expiresAt": expires,
                            }
                        ),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        return items

    def history(
        self, room: str, *, after: int | None = None, before: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` messages in seq order: the first ones after ``after``, else the last
        ones before ``before`` (or the latest when neither is given)."""
        low = (after or 0) + 1
        high = before - 1 if before is not None else None
        if high is not None and high < low:
            return []
        if high is None:
            condition = "pk = :p AND seq >= :low"
            values: dict[str, Any] = {":p": room_key(room), ":low": low}
        else:
            condition = "pk = :p AND seq BETWEEN :low AND :high"
            values = {":p": room_key(room), ":low": low, ":high": high}
        forward = after is not None
        answer = self._client.query(
            TableName=self._table,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=_to_item(values),
            ScanIndexForward=forward,
            Limit=limit,
            ConsistentRead=True,
        )
        messages = [self._message(_from_item(item)) for item in answer.get("Items", [])]
        if not forward:
            messages.reverse()
        return messages

    @staticmethod
    def _message(item: dict[str, Any]) -> dict[str, Any]:
        return message_event(
            id=str(item["id"]),
            room=str(item["room"]),
            seq=int(item["seq"]),
            from_=str(item["from"]),
            name=str(item.get("name", item["from"])),
            text=str(item["text"]),
            ts=int(item["ts"]),
            attachments=descriptors_from_item(item.get("attachments")),
        )
