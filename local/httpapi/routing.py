"""Route selection for an HTTP API, the way API Gateway picks the most specific route.

Each route key (``GET /items/{id}``, ``ANY /files/{proxy+}``, ``$default``) is compiled once into
segments. A request path matches when every segment does: a literal equals its segment, ``{name}``
takes one whole segment, a trailing ``{name+}`` takes one or more. Among the routes that match,
API Gateway's order decides: full matches (literals and path variables) before greedy ones, a
literal segment before a variable at the same place, a longer literal prefix before a shorter one
for greedy routes, a named method before ``ANY``; ``$default`` only when nothing else matches.
Path parameters are percent-decoded; matching is case-sensitive, as on AWS.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass

from local.model import HttpRouteSpec

__all__ = ["DEFAULT_ROUTE", "RouteMatch", "Router", "split_path"]

DEFAULT_ROUTE = "$default"

_LITERAL, _VARIABLE, _GREEDY = 0, 1, 2


@dataclass(frozen=True)
class RouteMatch:
    route: HttpRouteSpec
    path_parameters: dict[str, str]

    @property
    def route_key(self) -> str:
        return self.route.route_key


@dataclass(frozen=True)
class _Compiled:
    route: HttpRouteSpec
    method: str  # "GET", ..., or "ANY"
    kinds: tuple[int, ...]
    names: tuple[str, ...]  # the literal text, or the variable's name

    @property
    def greedy(self) -> bool:
        return bool(self.kinds) and self.kinds[-1] == _GREEDY

    def rank(self) -> tuple[int, int, tuple[int, ...], int]:
        # Smaller sorts first: full before greedy, longer greedy prefix first, literals before
        # variables position by position, a named method before ANY.
        prefix = -len(self.kinds) if self.greedy else 0
        return (int(self.greedy), prefix, self.kinds, int(self.method == "ANY"))

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if self.greedy:
            fixed = len(self.kinds) - 1
            if len(segments) <= fixed or not "/".join(segments[fixed:]):
                return None
        elif len(segments) != len(self.kinds):
            return None
        params: dict[str, str] = {}
        for i, (kind, name) in enumerate(zip(self.kinds, self.names, strict=True)):
            if kind == _GREEDY:
                params[name] = "/".join(segments[i:])
            elif kind == _VARIABLE:
                if not segments[i]:
                    return None  # a path variable never matches an empty segment
                params[name] = segments[i]
            elif segments[i] != name:
                return None
        return params


def _compile(route: HttpRouteSpec) -> _Compiled | None:
    if route.route_key == DEFAULT_ROUTE:
        return None
    method, _, path = route.route_key.partition(" ")
    kinds: list[int] = []
    names: list[str] = []
    for part in path.split("/")[1:]:
        if part.startswith("{") and part.endswith("+}"):
            kinds.append(_GREEDY)
            names.append(part[1:-2])
        elif part.startswith("{") and part.endswith("}"):
            kinds.append(_VARIABLE)
            names.append(part[1:-1])
        else:
            kinds.append(_LITERAL)
            names.append(part)
    return _Compiled(route, method.upper(), tuple(kinds), tuple(names))


def split_path(path: str) -> list[str]:
    """``/a/b%20c`` -> ``["a", "b c"]``; ``/`` -> ``[""]`` (the root is one empty segment)."""
    return [urllib.parse.unquote(part) for part in path.split("/")[1:]]


class Router:
    """The routes of one API, compiled once; :meth:`select` is pure and cheap."""

    def __init__(self, routes: Iterable[HttpRouteSpec]) -> None:
        self.default: HttpRouteSpec | None = None
        compiled: list[_Compiled] = []
        for route in routes:
            item = _compile(route)
            if item is None:
                self.default = route
            else:
                compiled.append(item)
        # Sorted once by specificity: the first route that matches is the one API Gateway picks.
        self._routes = sorted(compiled, key=_Compiled.rank)

    def select(self, method: str, path: str) -> RouteMatch | None:
        """The route for ``method`` and ``path`` (percent-encoded, without the stage prefix)."""
        segments = split_path(path if path.startswith("/") else "/" + path)
        method = method.upper()
        for item in self._routes:
            if item.method not in ("ANY", method):
                continue
            params = item.match(segments)
            if params is not None:
                return RouteMatch(item.route, params)
        if self.default is not None:
            return RouteMatch(self.default, {})
        return None
