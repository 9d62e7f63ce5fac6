"""Route selection by RouteSelectionExpression, with API Gateway's fallbacks."""

from __future__ import annotations

import pytest

from local.gateway.routing import RouteSelectionError, parse_expression, select_route

ROUTES = {"$connect", "$disconnect", "send", "join", "$default", "5", "true"}
ACTION = parse_expression("$request.body.action")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"action": "send"}', "send"),
        ('{"action": "join", "room": "x"}', "join"),
        ('{"action": "unknown"}', "$default"),
        ('{"action": "$connect"}', "$default"),  # lifecycle routes are never selected by a body
        ('{"action": "$disconnect"}', "$default"),
        ('{"no_action": 1}', "$default"),
        ('{"action": {"nested": 1}}', "$default"),
        ('{"action": ["send"]}', "$default"),
        ('{"action": 5}', "5"),
        ('{"action": true}', "true"),
        ('["send"]', "$default"),
        ("not json", "$default"),
        ("", "$default"),
        (b'{"action": "send"}', "$default"),  # binary frames are never parsed
    ],
)
def test_select_route(body: str | bytes, expected: str) -> None:
    assert select_route(ACTION, body, ROUTES) == expected


def test_nested_path() -> None:
    path = parse_expression("$request.body.meta.action")
    assert path == ("meta", "action")
    assert select_route(path, '{"meta": {"action": "send"}}', ROUTES) == "send"
    assert select_route(path, '{"meta": "send"}', ROUTES) == "$default"
    assert select_route(path, '{"action": "send"}', ROUTES) == "$default"


def test_braced_spelling() -> None:
    assert parse_expression("${request.body.action}") == ("action",)


def test_no_default_means_no_route() -> None:
    assert select_route(ACTION, '{"action": "other"}', {"send"}) is None
    assert select_route(ACTION, '{"action": "send"}', {"send"}) == "send"


@pytest.mark.parametrize(
    "expression", ["$request.header.x", "action", "$request.body.", "$request.body.a..b"]
)
def test_unsupported_expressions_are_refused_with_a_reason(expression: str) -> None:
    with pytest.raises(RouteSelectionError, match="RouteSelectionExpression"):
        parse_expression(expression)
