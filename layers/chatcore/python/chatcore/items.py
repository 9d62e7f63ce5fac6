"""The key layout of both tables and the attribute (de)serialisation every adapter shares.

ConnectionsTable: ``pk`` + ``sk``; MessagesTable: ``pk`` + ``seq``. Items and keys are drawn in
``docs/architecture.md``.
"""

from __future__ import annotations

from typing import Any

from chatcore.dynamodb_types import TypeDeserializer, TypeSerializer

__all__ = [
    "COUNTER_SEQ",
    "META",
    "ban_key",
    "connection_key",
    "message_id",
    "seq_of_id",
    "user_key",
    "from_item",
    "ref_key",
    "room_key",
    "to_item",
]

META = "META"
# The room counter and the ref items sit at seq 0 of their partition; messages start at 1.
COUNTER_SEQ = 0

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def connection_key(connection_id: str) -> str:
    return f"CONN#{connection_id}"


def room_key(room: str) -> str:
    return f"ROOM#{room}"


def ref_key(user_id: str, ref: str) -> str:
    return f"REF#{user_id}#{ref}"


def ban_key(room: str, user_id: str) -> str:
    """MessagesTable ``BAN#room#user`` / seq 0, read in the BatchGetItem of every send."""
    return f"BAN#{room}#{user_id}"


def user_key(user_id: str) -> str:
    """ConnectionsTable ``USER#u``: one ``ROOM#r`` item per room the user joined (read marker)."""
    return f"USER#{user_id}"


def message_id(seq: int, nonce: str) -> str:
    """A message's id: its seq, then a random part. Edits, deletes and reactions name a message
    by id alone; the seq in it finds the item with one keyed request (no index, no Scan), and
    the update's condition ``id = :id`` refuses an id whose random part does not match."""
    return f"{seq}-{nonce}"


def seq_of_id(value: str) -> int | None:
    """The seq a message id carries, or None for an id this server did not make."""
    head, sep, rest = value.partition("-")
    if not sep or not rest or not head.isdigit() or head.startswith("0"):
        return None
    return int(head)


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in values.items()}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}
