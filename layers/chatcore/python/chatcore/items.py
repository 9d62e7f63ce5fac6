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
    "connection_key",
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


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in values.items()}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}
