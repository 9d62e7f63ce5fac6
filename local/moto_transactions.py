"""TransactWriteItems for the embedded moto server, in time that does not grow with the table.

moto implements a transaction by deep-copying every table it touches (items and stream shard)
before it starts, and putting the copy back if any part fails. A send in this app is one
transaction on MessagesTable, so each send copied the whole message log: at a few thousand
messages a send took half a second, and the local stack slowed down the longer it ran.

The embedded server answers one DynamoDB request at a time (see ``local.aws``), so a transaction
is already isolated. That allows the plain two-phase algorithm: check every condition against
the current items first, and write only when all of them hold. Nothing is copied except the few
items the transaction writes, kept to undo a write that fails validation half-way (which the
condition phase cannot foresee, e.g. an update expression on a wrongly typed attribute).

``install()`` swaps the method on moto's DynamoDB backend class; it is idempotent.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["install"]

_MAX_ITEMS = 100
_OPS = frozenset({"ConditionCheck", "Put", "Delete", "Update"})


def install() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend.transact_write_items, "_two_phase", False):
        return
    setattr(transact_write_items, "_two_phase", True)  # noqa: B010 (a marker on a function)
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > _MAX_ITEMS:
        raise TooManyTransactionsException()

    # Phase 1: validate the request and check every condition; write nothing.
    planned: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = []
    targets: set[tuple[str, str]] = set()
    errors: list[tuple[Any, Any, Any]] = []
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(entry.items()))
        if op_type not in _OPS:
            raise MockValidationException("Unsupported transaction operation")
        table_name = op["TableName"]
        key = _key_of(self, op_type, op)
        target = (str(table_name), str(dict(sorted(key.items()))))
        if target in targets:
            raise MultipleTransactionsException()
        targets.add(target)
        planned.append((op_type, op, table_name, key))

        current = self.get_item(table_name, key)
        condition = op.get("ConditionExpression")
        if condition is not None and not get_filter_expression(
            condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
        ).expr(current):
            old = None
            if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                old = current.to_json()["Attributes"]
            failed = ConditionalCheckFailed(item=old)
            errors.append(("ConditionalCheckFailed", str(failed.message), old))
        else:
            errors.append((None, None, None))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)

    # Phase 2: write, keeping what each written item was so a failed write can be undone.
    before = [
        (table_name, key, copy.deepcopy(self.get_item(table_name, key)))
        for op_type, _, table_name, key in planned
        if op_type != "ConditionCheck"
    ]
    try:
        for op_type, op, table_name, key in planned:
            _write(self, op_type, op, table_name, key)
    except Exception as exc:
        _undo(self, before)
        if isinstance(exc, MockValidationException):
            raise
        raise TransactionCanceledException([(type(exc).__name__, str(exc), None)]) from None


def _key_of(backend: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return dict(op["Key"])
    table = backend.get_table(op["TableName"])
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def _write(
    backend: Any, op_type: str, op: dict[str, Any], table_name: str, key: dict[str, Any]
) -> None:
    # Conditions were checked in phase 1, under the same lock: they still hold.
    names = op.get("ExpressionAttributeNames")
    values = op.get("ExpressionAttributeValues")
    if op_type == "Put":
        backend.put_item(table_name, op["Item"])
    elif op_type == "Delete":
        backend.delete_item(table_name, key)
    elif op_type == "Update":
        backend.update_item(
            table_name,
            key,
            update_expression=op["UpdateExpression"],
            expression_attribute_names=names,
            expression_attribute_values=values,
        )


def _undo(backend: Any, before: list[tuple[str, dict[str, Any], Any]]) -> None:
    for table_name, key, item in before:
        if item is None:
            backend.delete_item(table_name, key)
        else:
            backend.put_item(table_name, item.to_json()["Attributes"])
