"""DynamoDB adapters: ``ConnectionStore`` (ConnectionsTable) and ``MessageLog`` (MessagesTable).

Both take an injected low-level ``dynamodb`` client. Keys and attributes are the ones drawn in
``docs/architecture.md`` (and built in ``chatcore.items``). Storing a message is
``chatcore.publisher`` (``MessageLog.append`` and ``MessageLog.publisher`` lead there). Every
per-message path is a GetItem, BatchGetItem, Query or write; the only Scan is
``ConnectionStore.all_connections`` for notifications addressed to everyone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chatcore.auth import Identity
from chatcore.changes import history_entry
from chatcore.errors import InternalError
from chatcore.fanout import backoff_delay
from chatcore.items import META, connection_key, ref_key, room_key
from chatcore.items import from_item as _from_item
from chatcore.items import to_item as _to_item
from chatcore.publisher import Publisher, StoredSend
from chatcore.sending import stored_ack as _stored_ack

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
_BATCH_WRITE_MAX = 25
_TRANSACT_ATTEMPTS = 5


@dataclass(frozen=True)
class Member:
    connection_id: str
    user_id: str
    name: str


class ConnectionStore:
    """Connections and their room memberships."""

    def __init__(self, *, client: Any, table: str, ttl_seconds: int = 7200) -> None:
        if not table:
            raise ValueError("ConnectionStore needs a table name (CONNECTIONS_TABLE)")
        self._client = client
        self._table = table
        self._ttl = ttl_seconds

    @property
    def table(self) -> str:
        return self._table

    @property
    def client(self) -> Any:
        return self._client

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
                    # The token's end, indexed by minute for the sweep (``chatcore.sessions``).
                    **(
                        {"tokenExp": identity.exp, "expiryBucket": f"EXP#{identity.exp // 60}"}
                        if identity.exp is not None
                        else {}
                    ),
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

    def delete_connection(self, connection_id: str, *, item: dict[str, Any] | None = None) -> int:
        """Delete the connection item and every membership it holds; return items deleted.

        ``item``: the connection item, when the caller has just read it (saves reading it
        again). Idempotent: deleting an unknown connection deletes nothing and succeeds.
        """
        if item is None:
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
        """Join; return False when the connection was already a member (nothing changes).

        One transaction: the membership (condition absent) and the room on the connection item,
        which lists its rooms so a disconnect finds memberships without a Scan. Both or neither:
        a membership the connection item does not list would outlive its connection.
        """
        now = time.time()
        membership = {
            "Put": {
                "TableName": self._table,
                "Item": _to_item(
                    {
                        "pk": room_key(room),
                        "sk": connection_key(connection_id),
                        "userId": identity.user_id,
                        "name": identity.name,
                        "joinedAt": int(now * 1000),
                        "expiresAt": int(now) + self._ttl,
                    }
                ),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        # if_not_exists: should the item have been swept meanwhile, it comes back whole (owner,
        # TTL) rather than as a bare "rooms" item that would never expire.
        listed = {
            "Update": {
                "TableName": self._table,
                "Key": _to_item({"pk": connection_key(connection_id), "sk": META}),
                "UpdateExpression": (
                    "ADD rooms :r SET ownerId = if_not_exists(ownerId, :u), "
                    "#n = if_not_exists(#n, :name), expiresAt = if_not_exists(expiresAt, :exp)"
                ),
                "ExpressionAttributeNames": {"#n": "name"},
                "ExpressionAttributeValues": _to_item(
                    {
                        ":r": {room},
                        ":u": identity.user_id,
                        ":name": identity.name,
                        ":exp": int(now) + self._ttl,
                    }
                ),
            }
        }
        return self._transact([membership, listed]) is None

    def remove_membership(self, connection_id: str, room: str) -> bool:
        """Leave; return False when the connection was not a member.

        One transaction: the membership (condition present) and the room off the connection
        item (condition present, so a swept connection item is not brought back bare).
        """
        key = _to_item({"pk": room_key(room), "sk": connection_key(connection_id)})
        failed = self._transact(
            [
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": key,
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": _to_item({"pk": connection_key(connection_id), "sk": META}),
                        "UpdateExpression": "DELETE rooms :r",
                        "ConditionExpression": "attribute_exists(pk)",
                        "ExpressionAttributeValues": _to_item({":r": {room}}),
                    }
                },
            ]
        )
        if failed is None:
            return True
        if failed[0] == "ConditionalCheckFailed":
            return False
        # A membership whose connection item has gone: delete the membership alone.
        answer = self._client.delete_item(TableName=self._table, Key=key, ReturnValues="ALL_OLD")
        return bool(answer.get("Attributes"))

    def _transact(self, items: list[dict[str, Any]]) -> list[str] | None:
        """Run a transaction; None when it was written, else each item's cancellation code.

        A cancellation only for a concurrent transaction on the same items (a send's
        ConditionCheck on the membership, say) is tried again after a short jittered pause.
        """
        for attempt in range(_TRANSACT_ATTEMPTS):
            try:
                self._client.transact_write_items(TransactItems=items)
                return None
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                reasons = exc.response.get("CancellationReasons") or []
                codes = [str(r.get("Code", "None")) for r in reasons]
            if "ConditionalCheckFailed" in codes:
                return codes
            time.sleep(backoff_delay(attempt, base=0.01, cap=0.2))
        raise InternalError("the room is too busy to change its members; try again")

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

    @property
    def table(self) -> str:
        return self._table

    @property
    def client(self) -> Any:
        return self._client

    @property
    def retention_days(self) -> int:
        return self._retention // 86400

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
            Key=_to_item({"pk": ref_key(user_id, ref), "seq": 0}),
            ConsistentRead=True,
        )
        item = answer.get("Item")
        return _stored_ack(_from_item(item)) if item else None

    def append(
        self,
        *,
        room: str,
        user_id: str,
        name: str,
        text: str,
        ref: str | None = None,
        now_ms: int | None = None,
        attachments: Sequence[str] = (),
        keep_objects: Callable[[list[str]], None] | None = None,
    ) -> StoredSend:
        """Store one message with the room's next seq; a repeated ``(user, ref)`` stores nothing.

        No membership check and no send budget: see ``chatcore.publisher`` for the read and the
        transaction, and ``ChatService.publish`` for the checked path clients use.
        """
        return self.publisher().publish(
            room=room,
            user_id=user_id,
            name=name,
            text=text,
            ref=ref,
            now_ms=now_ms,
            attachments=attachments,
            keep_objects=keep_objects,
        )

    def publisher(self, *, connections_table: str = "") -> Publisher:
        """A ``Publisher`` on this log's client and table (and ConnectionsTable, when given)."""
        return Publisher(
            client=self._client,
            messages_table=self._table,
            connections_table=connections_table,
            retention_days=self._retention // 86400,
            sleep=self._sleep,
        )

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
        # Edits, tombstones and reaction counts are kept on the item (``chatcore.changes``).
        return history_entry(item)
