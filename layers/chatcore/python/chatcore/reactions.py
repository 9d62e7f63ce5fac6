"""Reactions: counters on the message item, one per user per emoji (``Reactions``).

A reaction is one TransactWriteItems of two items:

- ``REACT#room#seq#user#emoji`` / seq 0 in MessagesTable, Put with ``attribute_not_exists`` (react)
  or Delete with ``attribute_exists`` (unreact): this is what makes it one per user per emoji;
- the message item: ``reactions.#e`` + 1 (or - 1) and the ``change`` record for the stream, on
  the condition that the message exists, is not deleted, and (for a new emoji) has fewer than
  ``MAX_DISTINCT`` distinct emoji.

Reacting twice (or unreacting what was never there) changes nothing and is answered like the
first time: a retry is safe. History shows ``reactions {emoji: count}`` straight from the item.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from chatcore.edits import message_key, refusal
from chatcore.errors import InternalError, NotFound, TooLarge
from chatcore.items import COUNTER_SEQ, from_item, to_item

__all__ = ["MAX_DISTINCT", "Reactions", "reaction_key"]

MAX_DISTINCT = 20


def reaction_key(room: str, seq: int, user_id: str, emoji: str) -> str:
    return f"REACT#{room}#{seq}#{user_id}#{emoji}"


class Reactions:
    def __init__(
        self,
        *,
        client: Any,
        table: str,
        retention_days: int = 30,
        max_distinct: int = MAX_DISTINCT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._table = table
        self._retention = retention_days * 86400
        self._max = max_distinct
        self._clock = clock

    def react(self, *, room: str, message_id: str, emoji: str, user_id: str, add: bool) -> bool:
        """Add (or remove) ``user_id``'s ``emoji``; return False when nothing had to change."""
        key = message_key(room, message_id)
        marker = {"pk": reaction_key(room, int(key["seq"]), user_id, emoji), "seq": COUNTER_SEQ}
        if add:
            own: dict[str, Any] = {
                "Put": {
                    "TableName": self._table,
                    "Item": to_item(
                        {
                            **marker,
                            "kind": "reaction",
                            "expiresAt": int(self._clock()) + self._retention,
                        }
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            expression = "SET reactions.#e = if_not_exists(reactions.#e, :zero) + :one, #c = :c"
            condition = (
                "#id = :id AND attribute_not_exists(deleted) AND "
                "(attribute_exists(reactions.#e) OR size(reactions) < :max)"
            )
            values: dict[str, Any] = {":zero": 0, ":max": self._max}
        else:
            own = {
                "Delete": {
                    "TableName": self._table,
                    "Key": to_item(marker),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            }
            expression = "SET reactions.#e = reactions.#e - :one, #c = :c"
            condition = "#id = :id AND attribute_not_exists(deleted) AND reactions.#e > :zero"
            values = {":zero": 0}
        change = {"op": "react" if add else "unreact", "user": user_id, "emoji": emoji}
        message = {
            "Update": {
                "TableName": self._table,
                "Key": to_item(key),
                "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {"#id": "id", "#e": emoji, "#c": "change"},
                "ExpressionAttributeValues": to_item(
                    {**values, ":id": message_id, ":one": 1, ":c": change}
                ),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
        try:
            self._client.transact_write_items(TransactItems=[own, message])
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons") or []
        return self._refused(reasons, room=room, message_id=message_id, user_id=user_id, add=add)

    def _refused(
        self,
        reasons: Sequence[dict[str, Any]],
        *,
        room: str,
        message_id: str,
        user_id: str,
        add: bool,
    ) -> bool:
        codes = [str(r.get("Code", "None")) for r in reasons] + ["None", "None"]
        if codes[1] == "ConditionalCheckFailed":
            raw = reasons[1].get("Item") if len(reasons) > 1 else None
            old = from_item(raw) if raw else None
            reason = refusal(old, room=room, message_id=message_id, user_id="")
            if reason == "deleted":
                raise NotFound(f"message '{message_id}' has been deleted")
            if reason == "not_found":
                raise NotFound(f"no message '{message_id}' in '{room}'")
            if add:
                raise TooLarge(f"a message takes at most {self._max} different emoji")
            return False
        if codes[0] == "ConditionalCheckFailed":
            return False  # already reacted (or nothing to remove): nothing changes
        raise InternalError("the message is busy; retry the reaction")
