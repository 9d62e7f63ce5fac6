"""``SendBudget``: sends per second per identity, for callers without a connection (the HTTP
API), in the ConnectionsTable (``USER#{id}`` / ``RATE``).

The same one-second window as a WebSocket connection's budget (``ConnectionStore.take_send_token``)
on an item of its own: no ``ownerId`` (so the ByUser index never lists it) and no ``META`` sort
key (so a notification to everyone never takes it for a connection); TTL removes it.
"""

from __future__ import annotations

import time
from typing import Any

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

__all__ = ["SendBudget"]

# HTTP callers have no connection to hang a send budget on: theirs is kept per identity.
_BUDGET_SORT_KEY = "RATE"

_serializer = TypeSerializer()


def _to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in values.items()}


def _conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class SendBudget:
    """Take one send from an identity's budget for the current second (``take``)."""

    def __init__(self, *, client: Any, table: str, ttl_seconds: int = 120) -> None:
        self._client = client
        self._table = table
        self._ttl = ttl_seconds

    def take(self, user_id: str, *, per_second: int, now: float | None = None) -> bool:
        second = int(time.time() if now is None else now)
        key = _to_item({"pk": f"USER#{user_id}", "sk": _BUDGET_SORT_KEY})
        # Two rounds, as for connections: of two sends opening the same second, one opens the
        # window and the other counts itself in it.
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
                self._client.update_item(
                    TableName=self._table,
                    Key=key,
                    UpdateExpression="SET rateWindow = :now, rateCount = :one, expiresAt = :exp",
                    ConditionExpression="attribute_not_exists(rateWindow) OR rateWindow <> :now",
                    ExpressionAttributeValues=_to_item(
                        {":one": 1, ":now": second, ":exp": second + self._ttl}
                    ),
                )
                return True
            except ClientError as exc:
                if not _conditional_failed(exc):
                    raise
        return False
