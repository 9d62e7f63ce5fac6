"""Just enough of an HTTP API gateway to put real HTTP clients in front of the handlers on moto.

Each request is matched to a route of ``chatcore.httpapi.ROUTES``, authorized by the real
authorizer function (the HS256 Lambda authorizer, 2.0 event, simple response), turned into a 2.0
event with the authorizer's context and handed to the real HTTP function, whose 2.0 response is
written back. API Gateway's own refusals keep AWS's bodies (401/403/404 ``{"message": ...}``).
It is not the local stack's gateway (no CORS, throttling or payload limits): the functional
tests use it to drive ``client.http`` and ``chat`` against the handlers.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from chatcore.httpapi import ROUTES
from tests.support.chat import ChatHarness
from tests.support.events import http_authorizer_event, http_request

__all__ = ["running_http_gateway"]


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts)
    )
    return re.compile(regex + "$")


_ROUTES = [(key, key.split(" ", 1)[0], _pattern(key.split(" ", 1)[1])) for key in ROUTES]


def _gateway_error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


def _match(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    for key, route_method, pattern in _ROUTES:
        found = pattern.match(path)
        if found and route_method == method:
            return key, found.groupdict()
    return None


def _handler(chat: ChatHarness) -> Any:
    async def handle(request: web.Request) -> web.Response:
        path = request.raw_path.split("?", 1)[0]
        matched = _match(request.method, path)
        if matched is None:
            return _gateway_error(404, "Not Found")
        route_key, params = matched
        header = request.headers.get("Authorization")
        if not header:
            return _gateway_error(401, "Unauthorized")
        token = header.removeprefix("Bearer ").strip()
        answer = chat.invoke("authorizer", http_authorizer_event(token, route_key=route_key))
        if not answer.get("isAuthorized"):
            return _gateway_error(403, "Forbidden")
        context = answer["context"]
        text = await request.text()
        event = http_request(
            route_key,
            user=context["userId"],
            name=context["name"],
            rooms=[r for r in context.get("rooms", "").split(",") if r],
            scopes=context.get("scope", "").split(),
            path=params,
            query=dict(request.query),
            body=text or None,
            headers={k: v for k, v in request.headers.items() if k.lower() != "content-length"},
        )
        result = chat.invoke("http", event)
        return web.Response(
            status=result["statusCode"],
            body=result.get("body", ""),
            headers=result.get("headers", {}),
        )

    return handle


@asynccontextmanager
async def running_http_gateway(chat: ChatHarness) -> AsyncIterator[str]:
    """Serve the harness's handlers on 127.0.0.1; yield the base URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _handler(chat))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
