"""The browser page's scrollback over the HTTP API, in Debian's Chromium against the whole stack.

The page learns the HTTP API's URL from ``/_local/config`` (another port, so a cross-origin
request with a preflight) and loads earlier history with ``GET /rooms/{room}/messages``; the
socket then carries no ``history`` frame for it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import WebSocket, expect

from tests.e2e.browser_support import ChatPage, LibraryUser, unique
from tests.e2e.test_browser import (  # noqa: F401  (fixtures)
    HISTORY_PAGE,
    library_user,
    signed_in,
)

pytestmark = pytest.mark.browser


def test_earlier_history_comes_over_the_http_api(
    new_page: Callable[[], ChatPage],
    library_user: Callable[..., LibraryUser],  # noqa: F811
) -> None:
    room = unique("scroll-")
    cli = library_user(unique("writer"))
    cli.join(room)
    sent = [f"line {n}" for n in range(1, HISTORY_PAGE + 3)]
    for text in sent:
        cli.send(room, text)

    page = new_page()
    frames: list[dict[str, Any]] = []

    def watch(ws: WebSocket) -> None:
        ws.on("framesent", lambda payload: frames.append(json.loads(payload)))

    page.page.on("websocket", watch)
    page.sign_in(unique("Reader"))
    page.join(room)
    expect(page.messages()).to_have_count(HISTORY_PAGE)

    with page.page.expect_response(lambda r: f"/rooms/{room}/messages" in r.url) as answer:
        page.by("load-earlier").click()
    assert answer.value.status == 200
    assert answer.value.request.headers["authorization"].startswith("Bearer ")
    assert "before=3" in answer.value.url
    expect(page.messages()).to_have_count(len(sent))
    assert page.texts() == sent
    # Only the join's history went over the socket; the earlier page did not.
    asked = [f for f in frames if f.get("action") == "history"]
    assert len(asked) == 1 and asked[0].get("before") != 3, asked
    assert page.errors == []
