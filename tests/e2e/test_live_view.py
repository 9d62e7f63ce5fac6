"""The local stack's live view (``/_local/``) in Debian's Chromium, and what the log says.

Users chat through the Python client library while the page polls ``/_local/stats``; the test
reads what a person would: the chat function's invocations and timings, deliveries, open
connections, the queues, and plots that moved. A refused token is one info line in the log.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import websockets
from playwright.sync_api import Browser, Page, expect

from local.logs import LogRecord
from tests.e2e.browser_support import (
    TIMEOUT,
    LibraryUser,
    RunningStack,
    unique,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def live_page(browser: Browser, stack: RunningStack) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    page.goto(stack.page_url + "_local/")
    yield page
    context.close()


@pytest.fixture
def users(stack: RunningStack) -> Iterator[Callable[[str], LibraryUser]]:
    made: list[LibraryUser] = []

    def make(name: str) -> LibraryUser:
        user = LibraryUser(stack.running, stack.ws_url, stack.dev_token(name))
        made.append(user)
        return user

    yield make
    for user in made:
        user.close()


def at_least(page: Page, selector: str, value: float) -> None:
    """Wait (in the page) until the number shown at ``selector`` reaches ``value``."""
    page.wait_for_function(
        "([selector, value]) => Number(document.querySelector(selector)?.textContent) >= value",
        arg=[selector, value],
        timeout=TIMEOUT * 1000,
    )


def cell(page: Page, function: str, column: str) -> Any:
    return page.locator(f'#functions tr[data-row="{function}"] [data-col="{column}"]')


def test_live_view_follows_a_conversation(
    live_page: Page, users: Callable[[str], LibraryUser]
) -> None:
    room = unique("live-")
    ada, bob = users(unique("ada")), users(unique("bob"))
    ada.join(room)
    bob.join(room)
    for i in range(3):
        ada.send(room, f"hello {i}")
        bob.wait_for_message(f"hello {i}")

    # Two library users hold the only connections of this stack's module.
    expect(live_page.locator('[data-card="connections"] [data-value]')).to_have_text("2")
    # Two joins and three sends, once the page has polled since the last of them.
    at_least(live_page, '#functions tr[data-row="ChatFunction"] [data-col="invocations"]', 5)
    expect(cell(live_page, "ChatFunction", "errors")).to_have_text("0")
    expect(cell(live_page, "ChatFunction", "p99")).to_have_text(re.compile(r"^\d+\.\d$"))
    expect(cell(live_page, "ConnectFunction", "coldStarts")).to_have_text(re.compile(r"^[1-9]"))
    expect(cell(live_page, "BroadcastFunction", "invocations")).to_have_text(re.compile(r"^[1-9]"))
    # The app's own metrics: three messages reached two members each (and the senders' acks).
    latency = live_page.locator('[data-card="latency"] [data-value]')
    expect(latency).to_have_text(re.compile(r"^\d+ / \d+ ms$"))
    expect(
        live_page.locator('#queues tr[data-row="FanoutDeadLetterQueue"] [data-col="messages"]')
    ).to_have_text("0")
    # The plots: one polyline per series over the whole window, and the chat line has risen.
    points = cell(live_page, "ChatFunction", "perSecond").locator("polyline")
    expect(points).to_have_count(1)
    values = [float(p.split(",")[1]) for p in (points.get_attribute("points") or "").split()]
    assert len(values) == 60
    assert min(values) < max(values)
    stats = live_page.evaluate("fetch('/_local/stats').then(r => r.json())")
    assert stats["rates"]["MessagesStored"]["total"] >= 3
    assert stats["rates"]["Deliveries"]["total"] >= 6
    assert stats["rates"]["Frames"]["total"] >= 5


def test_live_view_says_when_the_stack_is_gone(live_page: Page) -> None:
    expect(live_page.locator("#status")).to_have_text(re.compile(r"^up \d+ s"))
    live_page.route("**/_local/stats", lambda route: route.abort())
    expect(live_page.locator("#status")).to_have_text(re.compile("stack unreachable"))
    expect(live_page.locator("#status")).to_have_class("down")


def test_a_refused_token_is_one_info_line_not_an_error(stack: RunningStack) -> None:
    records: list[LogRecord] = []
    seen = threading.Event()

    def listen(record: LogRecord) -> None:
        if record.source == "AuthorizerFunction" and record.level in ("info", "error"):
            records.append(record)
            if record.level == "info" and "refused" in record.message:
                seen.set()

    remove = stack.stack.log.add_listener(listen)
    try:

        async def connect() -> int:
            try:
                async with websockets.connect(stack.ws_url + "?token=not-a-jwt"):
                    return 101
            except websockets.InvalidStatus as exc:
                return exc.response.status_code

        assert stack.running.call(connect(), timeout=TIMEOUT) == 401
        assert seen.wait(TIMEOUT)
    finally:
        remove()
    refusals = [r for r in records if r.message == "refused: Unauthorized"]
    assert len(refusals) == 1 and refusals[0].level == "info"
    assert [r for r in records if r.level == "error"] == []
