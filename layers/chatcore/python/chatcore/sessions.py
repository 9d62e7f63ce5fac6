"""Token lifetime on an open socket: ``reauth``, the warning, and closing at expiry.

API Gateway checks a token only at ``$connect``, and its authorizer context (with the token's
``exp``) stays the same for the connection's life. So the connection item keeps the ``exp`` a
``reauth`` extended it to (``tokenExp``), and a connection lives until
``max(context exp, tokenExp)``:

- ``verdict`` (pure) says, for that instant and now: ``ok``, ``warn`` (less than
  ``warn_seconds`` left: the client gets ``reauth_required`` and should send ``reauth``), or
  ``expired`` (the server closes the socket with ``DELETE @connections``).
- The chat function checks each frame (``Sessions.check``): while the context's ``exp`` is far
  off that is arithmetic, no request; only in the last ``warn_seconds`` does it read
  ``tokenExp`` (one GetItem). A ``reauth`` frame is always let through, so an expired client
  can still extend it.
- The sweep function (``functions/sweep``, every minute) finds connections that never send a
  frame: ``ByTokenExpiry`` is a sparse index on ``expiryBucket`` (the minute of the effective
  ``exp``, ``EXP#<minute>``) and ``tokenExp``; it queries the few minute buckets around now,
  never a Scan. ``reauth`` moves the connection to its new bucket.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import ClientError

from chatcore.auth import AuthError, Identity, TokenVerifier
from chatcore.errors import Forbidden, InvalidToken
from chatcore.items import META, connection_key, from_item, to_item

__all__ = [
    "BY_TOKEN_EXPIRY_INDEX",
    "is_reauth",
    "WARN_SECONDS",
    "Sessions",
    "expiry_bucket",
    "verdict",
]

WARN_SECONDS = 120
BY_TOKEN_EXPIRY_INDEX = "ByTokenExpiry"


def expiry_bucket(exp: int) -> str:
    """The ``ByTokenExpiry`` partition of a connection whose token ends at ``exp``."""
    return f"EXP#{exp // 60}"


def is_reauth(body: str | bytes | None) -> bool:
    """Whether a frame is a ``reauth`` (let through even when the token has expired)."""
    if not body:
        return False
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and data.get("action") == "reauth"


def verdict(exp: int | None, now: float, *, warn_seconds: int = WARN_SECONDS) -> str:
    """``ok``, ``warn`` or ``expired`` for a token that ends at ``exp`` (None: never)."""
    if exp is None or now < exp - warn_seconds:
        return "ok"
    return "expired" if now >= exp else "warn"


class Sessions:
    """The ``tokenExp`` of connection items in ConnectionsTable."""

    def __init__(
        self,
        *,
        client: Any,
        table: str,
        warn_seconds: int = WARN_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._table = table
        self._warn = warn_seconds
        self._clock = clock

    def check(self, connection_id: str, identity: Identity) -> tuple[str, int | None]:
        """The connection's verdict now, and the ``exp`` it is judged by."""
        now = self._clock()
        first = verdict(identity.exp, now, warn_seconds=self._warn)
        if first == "ok":
            return "ok", identity.exp
        extended = self.token_exp(connection_id)
        exp = max(identity.exp or 0, extended or 0)
        return verdict(exp, now, warn_seconds=self._warn), exp

    def token_exp(self, connection_id: str) -> int | None:
        answer = self._client.get_item(
            TableName=self._table,
            Key=to_item({"pk": connection_key(connection_id), "sk": META}),
            ConsistentRead=True,
            ProjectionExpression="tokenExp",
        )
        item = answer.get("Item")
        value = from_item(item).get("tokenExp") if item else None
        return int(value) if value is not None else None

    def reauth(
        self, connection_id: str, identity: Identity, token: str, verifier: TokenVerifier
    ) -> int:
        """Extend the connection to the fresh token's ``exp``; return it.

        Raises ``InvalidToken`` for a token that does not verify (or has no ``exp``) and
        ``Forbidden`` for a valid token of another user. Nothing changes on either.
        """
        try:
            fresh = verifier.verify(token)
        except AuthError as exc:
            raise InvalidToken(f"the token does not verify ({exc.reason}); get a new one") from None
        if fresh.user_id != identity.user_id:
            raise Forbidden("that token is for another user; reconnect to switch users")
        if fresh.exp is None:
            raise InvalidToken("the token has no exp")
        try:
            self._client.update_item(
                TableName=self._table,
                Key=to_item({"pk": connection_key(connection_id), "sk": META}),
                UpdateExpression="SET tokenExp = :e, expiryBucket = :b",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=to_item(
                    {":e": fresh.exp, ":b": expiry_bucket(fresh.exp)}
                ),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            raise Forbidden("this connection is closing; reconnect with the new token") from None
        return fresh.exp

    def expiring(self, *, before: float, since: float) -> Iterator[tuple[str, int]]:
        """``(connection id, exp)`` of connections whose token ends in ``[since, before)``."""
        for minute in range(int(since) // 60, int(before) // 60 + 1):
            paginator = self._client.get_paginator("query")
            for page in paginator.paginate(
                TableName=self._table,
                IndexName=BY_TOKEN_EXPIRY_INDEX,
                KeyConditionExpression="expiryBucket = :b AND tokenExp < :before",
                ExpressionAttributeValues=to_item({":b": f"EXP#{minute}", ":before": int(before)}),
            ):
                for raw in page.get("Items", []):
                    item = from_item(raw)
                    exp = int(item["tokenExp"])
                    if exp >= since:
                        yield str(item["pk"]).removeprefix("CONN#"), exp
