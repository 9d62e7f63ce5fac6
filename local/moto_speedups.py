"""Faster answers from the embedded moto DynamoDB, with the same content.

Profiled with py-spy on the embedded server (a 1,000-member ``Query`` with
``ProjectionExpression``, and ``GetItem``), moto's time went to:

* **Every base-table Query sorts the whole table.** ``Table.query`` walks ``all_items()``, which
  sorts every item of every partition, then keeps the queried partition. ConnectionsTable holds
  a connection item per client plus a membership per room joined, so each members Query cost
  grew with the number of clients. moto already keeps items per partition
  (``table.items[hash_key][range_key]``); the fast path reads that one partition.
* **A deep copy of every matching item before the projection.** Projection builds new items
  anyway (``Item.project`` re-serialises the values), so the copy is skipped when there is one.
* **Reflection per request.** moto lists the handler's methods (``inspect.getmembers``) on
  every request to find the action's; the list is cached per class.
* **The response serialiser.** moto walks botocore's output shape attribute by attribute for
  every item (a quarter of a Query's time). For DynamoDB's item operations the result moto
  builds is already the JSON document (``dynamo_to_dict``); when it holds nothing but JSON types
  (no binary, no timestamps, no ``None``) and only members of the output shape, ``json.dumps``
  writes the same document. Anything else goes through moto's serialiser as before.

What stays moto's own: request parsing and validation, key-condition parsing, condition,
filter and update expressions, paging (``Limit``, ``ExclusiveStartKey``, the 1 MB page),
``ScanIndexForward``, streams, errors. ``install()`` is idempotent; the local stack calls it
with :mod:`local.moto_transactions` (it relies on the same serialised requests).
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

__all__ = ["install", "in_shape_order", "plain_json"]

# DynamoDB operations whose results are items, keys, counts and capacity: JSON as moto builds
# them. Table descriptions carry timestamps and go through moto's serialiser.
_FAST_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)


def install() -> None:
    import moto.core.responses as core_responses
    from moto.core.responses import ActionResult
    from moto.dynamodb.models.table import Table

    if getattr(Table.query, "_fast", False):
        return
    original_query = Table.query
    original_execute = ActionResult.execute_result
    # moto lists a handler class's methods with inspect.getmembers on every request, to find
    # the one named after the action; a class's methods do not change while it serves.
    core_responses.method_names_from_class = functools.lru_cache(maxsize=None)(
        core_responses.method_names_from_class
    )

    def query(
        self: Any, hash_key: Any, range_comparison: Any, range_objs: Any, *args: Any, **kwargs: Any
    ) -> Any:
        if _fast_query_applies(self, hash_key, args, kwargs):
            return _partition_query(self, hash_key, range_comparison, range_objs, *args, **kwargs)
        named = _query_kwargs(args, kwargs)
        conditions = named.get("hash_key_conditions")
        if named.get("index_name") and conditions:
            # moto's index query keeps, out of the whole table sorted, the items whose index
            # hash key matches. Handing it only those items (sorted the same way) gives the
            # same answer without sorting the table. Requests are serialised: nothing else
            # sees this table meanwhile.
            attr, expected = conditions[0]
            self.all_items = lambda: _index_candidates(self, attr, expected)
            try:
                return original_query(self, hash_key, range_comparison, range_objs, *args, **kwargs)
            finally:
                del self.all_items
        return original_query(self, hash_key, range_comparison, range_objs, *args, **kwargs)

    def execute_result(self: Any, context: Any) -> Any:
        body = _fast_body(self.result, context) if type(self) in fast_classes else None
        if body is None:
            return original_execute(self, context)
        content_type = "application/x-amz-json-{}".format(
            context.service_model.metadata.get("jsonVersion", "1.0")
        )
        return 200, {"Content-Type": content_type}, body

    from moto.dynamodb.responses import DynamoResult

    # Only these two: subclasses that page or transform results keep their own execute_result.
    fast_classes = (ActionResult, DynamoResult)
    setattr(query, "_fast", True)  # noqa: B010 (a marker on a function)
    Table.query = query  # type: ignore[method-assign]
    ActionResult.execute_result = execute_result  # type: ignore[method-assign]


# --- Query: one partition instead of the whole table ---------------------------------------

# Positional order of Table.query after (hash_key, range_comparison, range_objs).
_QUERY_ARGS = (
    "limit",
    "exclusive_start_key",
    "scan_index_forward",
    "projection_expressions",
    "index_name",
    "consistent_read",
    "filter_expression",
)


def _query_kwargs(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    named = dict(zip(_QUERY_ARGS, args, strict=False))
    named.update(kwargs)
    return named


def _fast_query_applies(
    table: Any, hash_key: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> bool:
    named = _query_kwargs(args, kwargs)
    extra = set(named) - set(_QUERY_ARGS) - {"hash_key_conditions", "range_key_conditions"}
    return (
        hash_key is not None
        and not named.get("index_name")
        # Legacy QueryFilter arguments, and multi-attribute keys: moto's own path.
        and not extra
        and len(named.get("hash_key_conditions") or ()) <= 1
        and len(named.get("range_key_conditions") or ()) <= 1
        and table.range_key_attr is not None
    )


def _partition_query(
    table: Any,
    hash_key: Any,
    range_comparison: str | None,
    range_objs: list[Any],
    *args: Any,
    **kwargs: Any,
) -> tuple[list[Any], int, dict[str, Any] | None]:
    """moto's ``Table.query`` for a base table with a sort key, reading only ``hash_key``'s items.

    The same steps in the same order as moto's: sort by the range key, reverse for
    ``ScanIndexForward=false``, skip up to ``ExclusiveStartKey``, stop at ``Limit`` or the 1 MB
    page, compare the range key, then the filter expression and the projection.
    """
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import RESULT_SIZE_LIMIT

    named = _query_kwargs(args, kwargs)
    limit = named.get("limit")
    exclusive_start_key = named.get("exclusive_start_key")
    scan_index_forward = named.get("scan_index_forward")
    projection_expressions = named.get("projection_expressions")
    filter_expression = named.get("filter_expression")

    partition = table.items.get(hash_key)
    candidates: list[Any] = (
        [i for i in partition.values() if isinstance(i, Item)] if partition else []
    )
    candidates.sort(key=lambda item: item.range_key)
    if scan_index_forward is False:
        candidates.reverse()

    hash_attrs = [table.hash_key_attr]
    range_attrs = [table.range_key_attr]
    results: list[Any] = []
    result_size = 0
    scanned_count = 0
    last_evaluated_key = None
    skipping = exclusive_start_key is not None
    for item in candidates:
        if skipping:
            if table._item_comes_before_dct(
                item, exclusive_start_key, hash_attrs, range_attrs, scan_index_forward
            ):
                continue
            skipping = False
        size = item.size()
        if len(results) == limit or result_size + size > RESULT_SIZE_LIMIT:
            last_evaluated_key = table._get_last_evaluated_key(results[-1], None)
            break
        if range_comparison and not item.range_key.compare(range_comparison, range_objs):
            continue
        results.append(item)
        result_size += size
        scanned_count += 1

    if not projection_expressions:
        # Without a projection the items leave as they are stored: copy them, as moto does.
        results = copy.deepcopy(results)
    if filter_expression is not None:
        results = [item for item in results if filter_expression.expr(item)]
    if projection_expressions:
        # Item.project builds new items from the values: nothing stored is shared.
        results = [project(item, projection_expressions) for item in results]
    return results, scanned_count, last_evaluated_key


# Types whose value moto's projection round trip (to Python and back) returns unchanged;
# numbers, binary and sets are re-encoded on the way, so they keep moto's own path.
_VERBATIM_TYPES = frozenset({"S", "BOOL", "NULL"})


def project(item: Any, projection_expressions: list[list[str]]) -> Any:
    """``item.project(...)`` for top-level string, boolean and null attributes, without the
    round trip through Python values; anything else is moto's ``Item.project``."""
    from moto.dynamodb.models.dynamo_type import Item

    attrs: dict[str, Any] = {}
    stored = item.attrs
    for expr in projection_expressions:
        if len(expr) != 1 or "[" in expr[0]:
            return item.project(projection_expressions)
        value = stored.get(expr[0])
        if value is None:
            continue
        if value.type not in _VERBATIM_TYPES:
            return item.project(projection_expressions)
        attrs[expr[0]] = {value.type: value.value}
    return Item(hash_key=item.hash_key, range_key=item.range_key, attrs=attrs)


def _index_candidates(table: Any, attr: str, expected: Any) -> list[Any]:
    """The items ``Table.all_items()`` returns whose ``attr`` equals ``expected``, same order."""
    items: list[Any] = []
    for hash_set in table.items.values():
        for item in hash_set.values() if table.range_key_attr else (hash_set,):
            value = item.attrs.get(attr)
            if value and value == expected:
                items.append(item)
    return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)


# --- Serialising: json.dumps when the result is plain JSON ---------------------------------


def plain_json(value: Any) -> bool:
    """True when ``value`` is made only of dicts, lists, str, int, float and bool."""
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is dict:
            stack.extend(v.values())
        elif t is list:
            stack.extend(v)
        elif t not in (str, int, float, bool):
            return False
    return True


def _fast_body(result: Any, context: Any) -> str | None:
    if type(result) is not dict:
        return None
    operation = context.operation_model
    if context.service_model.service_name != "dynamodb" or operation.name not in _FAST_OPERATIONS:
        return None
    # A handler may ask moto to transform some response members; keep moto's path then.
    if getattr(context.response, "RESPONSE_KEY_PATH_TO_TRANSFORMER", None):
        return None
    shape = operation.output_shape
    if shape is None or not set(result) <= set(shape.members):
        return None
    if not plain_json(result):
        return None
    # moto's serialiser writes members in the output shape's order, not the handler's.
    return json.dumps(in_shape_order(result, shape))


def in_shape_order(value: Any, shape: Any) -> Any:
    """``value`` with every structure's members in ``shape``'s order (as moto writes them)."""
    kind = shape.type_name
    if kind == "structure" and type(value) is dict:
        if len(value) == 1:
            # An AttributeValue ({"S": ...}) and other one-member structures: nothing to order
            # at this level, and most hold a plain value (the common case, kept cheap).
            ((k, v),) = value.items()
            if k not in shape.members:
                return {}
            if type(v) in (str, int, float, bool):
                return value
            return {k: in_shape_order(v, shape.members[k])}
        members = shape.members
        return {k: in_shape_order(value[k], members[k]) for k in members if k in value}
    if kind == "list" and type(value) is list:
        return [in_shape_order(v, shape.member) for v in value]
    if kind == "map" and type(value) is dict:
        return {k: in_shape_order(v, shape.value) for k, v in value.items()}
    return value
