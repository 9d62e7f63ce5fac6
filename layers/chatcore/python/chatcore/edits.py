"""Edit and delete a stored message in place: one conditional UpdateItem each (``MessageEditor``).

A message id carries its seq (``items.message_id``), so the item is found by its key without an
index. The update's condition holds the rules, so a race can never slip between a check and the
write: ``id = :id`` (the id names this message), ``attribute_not_exists(deleted)`` (a tombstone
stays a tombstone) and, unless the caller moderates the room, ``from = :user`` (author only).
When it fails, the item as it was (``ALL_OLD``) tells ``refusal`` which rule failed, without
another read. Each change bumps ``version`` and records itself in ``change`` for the stream
(``chatcore.changes``). A delete removes the text and the reactions and keeps the seq: a
tombstone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from chatcore.errors import Forbidden, NotFound
from chatcore.items import from_item, room_key, seq_of_id, to_item

__all__ = ["MessageEditor", "message_key", "refusal"]


def message_key(room: str, message_id: str) -> dict[str, Any]:
    """The MessagesTable key of the message ``message_id`` names; ``NotFound`` for a foreign id."""
    seq = seq_of_id(message_id)
    if seq is None:
        raise NotFound(f"no message '{message_id[:80]}' in '{room}'")
    return {"pk": room_key(room), "seq": seq}


def refusal(old: Mapping[str, Any] | None, *, room: str, message_id: str, user_id: str) -> str:
    """Why a conditional change failed: ``not_found``, ``deleted`` or ``not_author``."""
    if not old or old.get("kind") != "message" or str(old.get("id")) != message_id:
        return "not_found"
    if old.get("deleted"):
        return "deleted"
    if str(old.get("from")) != user_id:
        return "not_author"
    return "not_found"


class MessageEditor:
    """Edits and deletes on MessagesTable message items."""

    def __init__(self, *, client: Any, table: str, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table
        self._clock = clock

    def edit(
        self,
        *,
        room: str,
        message_id: str,
        text: str,
        user_id: str,
        may_moderate: Callable[[], bool],
    ) -> int:
        """Replace the text; return the new version. Raises ``NotFound`` / ``Forbidden``."""
        now_ms = int(self._clock() * 1000)
        answer = self._change(
            room,
            message_id,
            user_id,
            may_moderate,
            "SET #t = :t, #v = if_not_exists(#v, :zero) + :one, editedTs = :now, #c = :c",
            {":t": text, ":now": now_ms, ":c": {"op": "edit", "user": user_id}},
            verb="edit",
        )
        return int(answer.get("version", 0))

    def delete(
        self, *, room: str, message_id: str, user_id: str, may_moderate: Callable[[], bool]
    ) -> None:
        """Leave a tombstone in place of the message. Raises ``NotFound`` / ``Forbidden``."""
        self._change(
            room,
            message_id,
            user_id,
            may_moderate,
            "SET deleted = :yes, #v = if_not_exists(#v, :zero) + :one, #c = :c "
            "REMOVE #t, reactions, editedTs",
            {":yes": True, ":c": {"op": "delete", "user": user_id}},
            verb="delete",
        )

    def _change(
        self,
        room: str,
        message_id: str,
        user_id: str,
        may_moderate: Callable[[], bool],
        expression: str,
        values: dict[str, Any],
        *,
        verb: str,
    ) -> dict[str, Any]:
        key = message_key(room, message_id)
        author_only = True
        while True:
            condition = "#id = :id AND attribute_not_exists(deleted)"
            names = {"#id": "id", "#t": "text", "#v": "version", "#c": "change"}
            bound = {**values, ":id": message_id, ":zero": 0, ":one": 1}
            if author_only:
                condition += " AND #f = :u"
                names["#f"] = "from"
                bound[":u"] = user_id
            try:
                answer = self._client.update_item(
                    TableName=self._table,
                    Key=to_item(key),
                    UpdateExpression=expression,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=to_item(bound),
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return from_item(answer.get("Attributes") or {})
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                old = exc.response.get("Item")
                reason = refusal(
                    from_item(old) if old else None,
                    room=room,
                    message_id=message_id,
                    user_id=user_id,
                )
            if reason == "not_author" and author_only and may_moderate():
                # A moderator's change: the same update without the author condition.
                author_only = False
                continue
            if reason == "deleted":
                raise NotFound(f"message '{message_id}' has been deleted")
            if reason == "not_author":
                raise Forbidden(f"only its author or a moderator may {verb} that message")
            raise NotFound(f"no message '{message_id}' in '{room}'")
