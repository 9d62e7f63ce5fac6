"""DynamoDB attribute values to and from Python, without importing boto3.

The same conversions as ``boto3.dynamodb.types`` (numbers as ``Decimal`` in DynamoDB's own
decimal context, floats refused, sets by element type), written out here because importing that
module imports all of boto3 (its session, s3transfer: more than 100 ms of every cold start) for
what is a few dictionary conversions. Binary values come back as ``bytes``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

__all__ = ["DYNAMODB_CONTEXT", "TypeDeserializer", "TypeSerializer"]

# DynamoDB's number limits: 38 digits of precision; anything it would round is an error.
DYNAMODB_CONTEXT = Context(
    Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow]
)

_BINARY = (bytes, bytearray)


def _number(value: Any) -> str:
    return str(DYNAMODB_CONTEXT.create_decimal(value))


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")
    return isinstance(value, int | Decimal)


class TypeSerializer:
    """Python value -> ``{"S": ...}`` / ``{"N": ...}`` / ... (``serialize``)."""

    def serialize(self, value: Any) -> dict[str, Any]:
        if value is None:
            return {"NULL": True}
        if isinstance(value, bool):
            return {"BOOL": value}
        if _is_number(value):
            return {"N": _number(value)}
        if isinstance(value, str):
            return {"S": value}
        if isinstance(value, _BINARY):
            return {"B": bytes(value)}
        if isinstance(value, Set):
            return self._set(value)
        if isinstance(value, Mapping):
            return {"M": {str(k): self.serialize(v) for k, v in value.items()}}
        if isinstance(value, Sequence):
            return {"L": [self.serialize(v) for v in value]}
        raise TypeError(f"Unsupported type {type(value)!r} for value {value!r}")

    def _set(self, value: Set[Any]) -> dict[str, Any]:
        items = list(value)
        # An empty set is a number set, as in boto3 (DynamoDB refuses it at write time).
        if all(_is_number(v) for v in items):
            return {"NS": [_number(v) for v in items]}
        if items and all(isinstance(v, str) for v in items):
            return {"SS": items}
        if items and all(isinstance(v, _BINARY) for v in items):
            return {"BS": [bytes(v) for v in items]}
        raise TypeError(f"Unsupported set {value!r}: the elements of a set must share one type")


class TypeDeserializer:
    """``{"S": ...}`` / ``{"N": ...}`` / ... -> Python value (``deserialize``)."""

    def deserialize(self, value: Mapping[str, Any]) -> Any:
        if not value:
            raise TypeError(
                "Value must be a nonempty dictionary whose key is a valid dynamodb type."
            )
        (kind, raw), *_ = value.items()
        if kind == "NULL":
            return None
        if kind == "BOOL":
            return bool(raw)
        if kind == "N":
            return DYNAMODB_CONTEXT.create_decimal(raw)
        if kind in ("S", "B"):
            return raw
        if kind == "SS":
            return set(raw)
        if kind == "NS":
            return {DYNAMODB_CONTEXT.create_decimal(v) for v in raw}
        if kind == "BS":
            return set(raw)
        if kind == "L":
            return [self.deserialize(v) for v in raw]
        if kind == "M":
            return {k: self.deserialize(v) for k, v in raw.items()}
        raise TypeError(f"Dynamodb type {kind} is not supported")
