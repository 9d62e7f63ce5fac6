"""Route selection for incoming messages, the way API Gateway applies ``RouteSelectionExpression``.

The expression names a path into the JSON body (``$request.body.action``, nested paths such as
``$request.body.meta.action`` and the ``${request.body.action}`` spelling alike). A body that is
not JSON, a path that is missing or that ends on an object or array, a binary frame, or a key no
route has: all fall back to ``$default``. With no ``$default`` route there is nothing to call and
the gateway answers with API Gateway's ``Forbidden`` error frame.
"""

from __future__ import annotations

import json
import re
from collections.abc import Container
from typing import Any

__all__ = ["DEFAULT_ROUTE", "RouteSelectionError", "parse_expression", "select_route"]

DEFAULT_ROUTE = "$default"

_EXPRESSION = re.compile(r"^\$(?:\{request\.body\.([^}]+)\}|request\.body\.(.+))$")


class RouteSelectionError(ValueError):
    """An expression the local stack cannot evaluate (only ``$request.body.<path>``)."""


def parse_expression(expression: str) -> tuple[str, ...]:
    """``$request.body.meta.action`` -> ``("meta", "action")``."""
    match = _EXPRESSION.match(expression.strip())
    if not match:
        raise RouteSelectionError(
            f"unsupported RouteSelectionExpression {expression!r}: "
            "expected $request.body.<field>[.<field>...]"
        )
    path = match.group(1) or match.group(2)
    parts = tuple(path.split("."))
    if not all(parts):
        raise RouteSelectionError(f"empty field in RouteSelectionExpression {expression!r}")
    return parts


def _scalar_key(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


def select_route(path: tuple[str, ...], body: str | bytes, routes: Container[str]) -> str | None:
    """The route key for this message, ``$default`` as fallback, or None when nothing matches."""
    key: str | None = None
    if isinstance(body, str):
        try:
            value: Any = json.loads(body)
        except ValueError:
            value = None
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        key = _scalar_key(value)
    # $connect / $disconnect are lifecycle routes, never something a message can select.
    if key is not None and not key.startswith("$") and key in routes:
        return key
    if DEFAULT_ROUTE in routes:
        return DEFAULT_ROUTE
    return None
