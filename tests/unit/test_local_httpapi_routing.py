"""Route selection of the local HTTP API: API Gateway's priority, pure."""

from __future__ import annotations

import pytest

from local.httpapi.routing import Router
from local.model import HttpRouteSpec


def router(*keys: str) -> Router:
    return Router([HttpRouteSpec(route_key=key, function="Fn") for key in keys])


ROUTES = router(
    "GET /items/{id}",
    "GET /items/special",
    "ANY /items/{id}",
    "GET /items/{id}/parts/{part}",
    "ANY /files/{proxy+}",
    "GET /files/docs/{proxy+}",
    "GET /",
    "$default",
)


@pytest.mark.parametrize(
    ("method", "path", "key", "params"),
    [
        ("GET", "/items/special", "GET /items/special", {}),  # exact before a path variable
        ("GET", "/items/42", "GET /items/{id}", {"id": "42"}),
        ("DELETE", "/items/42", "ANY /items/{id}", {"id": "42"}),  # a named method before ANY
        ("GET", "/items/4/parts/7", "GET /items/{id}/parts/{part}", {"id": "4", "part": "7"}),
        ("GET", "/files/docs/a/b", "GET /files/docs/{proxy+}", {"proxy": "a/b"}),  # longer prefix
        ("PUT", "/files/docs/a/b", "ANY /files/{proxy+}", {"proxy": "docs/a/b"}),
        ("GET", "/files/x", "ANY /files/{proxy+}", {"proxy": "x"}),
        ("GET", "/files", "$default", {}),  # a greedy variable needs at least one segment
        ("GET", "/", "GET /", {}),
        ("POST", "/", "$default", {}),
        ("GET", "/items/a%20b", "GET /items/{id}", {"id": "a b"}),  # parameters are decoded
        ("GET", "/Items/special", "$default", {}),  # case-sensitive, as on AWS
        ("GET", "/items/", "$default", {}),  # a variable never matches an empty segment
        ("get", "/items/special", "GET /items/special", {}),
    ],
)
def test_the_most_specific_route_wins(
    method: str, path: str, key: str, params: dict[str, str]
) -> None:
    match = ROUTES.select(method, path)
    assert match is not None
    assert (match.route_key, match.path_parameters) == (key, params)


def test_without_a_default_route_nothing_matches_unknown_paths() -> None:
    routes = router("GET /items/{id}", "ANY /{proxy+}")
    assert routes.select("GET", "/") is None
    match = routes.select("POST", "/a/b")
    assert match is not None and match.route_key == "ANY /{proxy+}"
    assert router("GET /only").select("POST", "/only") is None


def test_declaration_order_does_not_change_the_choice() -> None:
    forwards = router("ANY /{proxy+}", "GET /a/{x}", "GET /a/b")
    backwards = router("GET /a/b", "GET /a/{x}", "ANY /{proxy+}")
    for routes in (forwards, backwards):
        picked = [routes.select("GET", p) for p in ("/a/b", "/a/c", "/a/b/c")]
        assert [m.route_key for m in picked if m] == ["GET /a/b", "GET /a/{x}", "ANY /{proxy+}"]
