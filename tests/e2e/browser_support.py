"""Helpers for the browser tests: the local stack on a background loop, Chromium, and a page model.

The local stack is asyncio; Playwright's sync API wants a thread without a running loop. So the
stack runs on its own loop in a background thread (``local.testing.StackThread``, the
``chat_stack`` fixture), the Python library clients the tests use run on that loop too, and the
tests, plain functions, call into it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import boto3
from playwright.sync_api import Browser, Locator, Page, expect

from client.chat import ChatClient
from client.events import Message
from local.model import REGION
from local.stack import LocalStack
from local.testing import StackThread

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "TIMEOUT",
    "TIMEOUT_MS",
    "ChatPage",
    "LibraryUser",
    "RunningStack",
    "chat_pages",
    "quiet_moto_requests",
    "unique",
]

T = TypeVar("T")

# Every wait scales from this one constant (slow machines: raise TEST_TIMEOUT_SCALE).
TIMEOUT = 10.0 * float(os.environ.get("TEST_TIMEOUT_SCALE", "1"))
TIMEOUT_MS = TIMEOUT * 1000
expect.set_options(timeout=TIMEOUT_MS)

# Debian's Chromium: Playwright cannot download its own browsers on these machines.
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def unique(prefix: str) -> str:
    """A name no other test uses (rooms and users outlive a test on a module-wide stack)."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


class LibraryUser:
    """A user of the Python client library (``client.chat.ChatClient``), driven from sync code."""

    def __init__(self, running: StackThread, url: str, token: str) -> None:
        self._running = running
        self.client = ChatClient(url, token)
        self.messages: list[Message] = []
        self._changed: asyncio.Condition | None = None
        self._reader: asyncio.Task[None] | None = None
        self._call(self._start())

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._running.call(coro, timeout=TIMEOUT)

    async def _start(self) -> None:
        self._changed = asyncio.Condition()
        await self.client.connect()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._changed is not None
        async for event in self.client.events():
            if isinstance(event, Message):
                async with self._changed:
                    self.messages.append(event)
                    self._changed.notify_all()

    def join(self, room: str) -> None:
        self._call(self.client.join(room))

    def send(self, room: str, text: str) -> None:
        """Send and wait for the ack: the message is stored when this returns."""
        self._call(self.client.send(room, text))

    def dm(self, to: str, text: str) -> None:
        self._call(self.client.dm(to, text))

    def wait_for_message(self, text: str) -> Message:
        async def wait() -> Message:
            assert self._changed is not None
            async with self._changed:
                await self._changed.wait_for(lambda: any(m.text == text for m in self.messages))
            return next(m for m in self.messages if m.text == text)

        return self._call(wait())

    def close(self) -> None:
        async def stop() -> None:
            await self.client.close()
            if self._reader is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await self._reader

        self._call(stop())


class ChatPage:
    """The chat page as a user sees it, through the ``data-testid`` attributes it carries."""

    def __init__(self, page: Page, url: str) -> None:
        self.page = page
        self.url = url
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._on_dialog)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def by(self, testid: str) -> Locator:
        return self.page.get_by_test_id(testid)

    @property
    def state(self) -> Locator:
        return self.by("connection-state")

    def expect_state(self, state: str, *, timeout: float = TIMEOUT_MS) -> None:
        expect(self.state).to_have_attribute("data-state", state, timeout=timeout)

    def record_states(self) -> None:
        """Keep every connection state the page shows from now on (some last only a moment)."""
        self.page.evaluate(
            """() => {
                const el = document.querySelector('[data-testid="connection-state"]');
                window.__states = [el.dataset.state];
                new MutationObserver(() => {
                    if (window.__states.at(-1) !== el.dataset.state) {
                        window.__states.push(el.dataset.state);
                    }
                }).observe(el, { attributes: true, attributeFilter: ["data-state"] });
            }"""
        )

    def wait_for_states(self, *states: str, timeout: float = TIMEOUT_MS * 2) -> list[str]:
        """Wait until the recorded states end with ``states`` in this order; return them all."""
        self.page.wait_for_function(
            """(wanted) => {
                const seen = window.__states;
                let at = 0;
                for (const state of seen) if (state === wanted[at]) at += 1;
                return at === wanted.length && seen.at(-1) === wanted.at(-1);
            }""",
            arg=list(states),
            timeout=timeout,
        )
        seen: list[str] = self.page.evaluate("window.__states")
        return seen

    def sign_in(self, name: str) -> None:
        """Sign in with a name: the page fetches a dev token from the local stack."""
        self.page.goto(self.url)
        self.by("signin-name").fill(name)
        self.by("signin-submit").click()
        self.expect_state("online")

    def join(self, room: str) -> None:
        self.by("room-input").fill(room)
        self.by("room-input").press("Enter")
        expect(self.by("current-room")).to_have_attribute("data-room", room)
        expect(self.room_item(room)).to_have_attribute("data-joined", "true")

    def room_item(self, room: str) -> Locator:
        return self.by("room-list").locator(f'[data-room="{room}"]')

    def send(self, text: str) -> None:
        """Type and press Enter, as a user would."""
        self.by("message-input").fill(text)
        self.by("message-input").press("Enter")

    def messages(self) -> Locator:
        return self.by("messages").get_by_test_id("message")

    def message(self, text: str) -> Locator:
        """The delivered message whose text is exactly ``text``."""
        return self.messages().filter(
            has=self.page.get_by_test_id("message-text").get_by_text(text, exact=True)
        )

    def texts(self) -> list[str]:
        return self.messages().get_by_test_id("message-text").all_inner_texts()

    def person(self, user_id: str) -> Locator:
        return self.by("presence-list").locator(f'[data-user="{user_id}"]')

    def toast(self, kind: str) -> Locator:
        return self.by("toasts").locator(f'[data-kind="{kind}"]')


def chat_page_factory(
    browser: Browser, url: str
) -> tuple[Callable[[], ChatPage], Callable[[], None]]:
    """A maker of pages, each in its own browser context (own storage), and a closer for all."""
    contexts: list[Any] = []

    def make() -> ChatPage:
        context = browser.new_context(viewport={"width": 1200, "height": 760})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return ChatPage(context.new_page(), url)

    def close() -> None:
        for context in contexts:
            with contextlib.suppress(Exception):
                context.close()

    return make, close


@contextlib.contextmanager
def chat_pages(browser: Browser, url: str) -> Iterator[Callable[[], ChatPage]]:
    make, close = chat_page_factory(browser, url)
    try:
        yield make
    finally:
        close()


class RunningStack:
    """The local stack as the browser tests use it: URLs, dev tokens, and two levers."""

    def __init__(self, running: StackThread) -> None:
        self.running = running
        self.stack: LocalStack = running.stack
        self.page_url = self.stack.page_url
        self.ws_url = self.stack.ws_url

    def dev_token(self, user: str, name: str | None = None) -> str:
        return self.stack.dev_token(user, name)

    def connection_ids(self, user: str) -> list[str]:
        gateway = self.stack.gateway
        assert gateway is not None
        return [
            connection_id
            for connection_id, live in list(gateway.connections.items())
            if (live.peer.authorizer or {}).get("principalId") == user and live.lifecycle.is_open
        ]

    def drop_user(self, user: str) -> int:
        """Close every connection of ``user`` the way a backend does: DELETE @connections/{id}."""
        management = boto3.session.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name=REGION
        ).client("apigatewaymanagementapi", endpoint_url=self.stack.management_url)
        ids = self.connection_ids(user)
        for connection_id in ids:
            management.delete_connection(ConnectionId=connection_id)
        return len(ids)

    def notify(self, *, users: list[str], payload: Any) -> None:
        """Publish to the NotificationsTopic, as a backend service would."""
        assert self.stack.stack is not None and self.stack.aws is not None
        topic_arn = self.stack.stack.resources["NotificationsTopic"].physical_id
        message = {"targets": {"users": users, "rooms": [], "all": False}, "payload": payload}
        self.stack.aws.client("sns").publish(TopicArn=topic_arn, Message=json.dumps(message))


@contextlib.contextmanager
def quiet_moto_requests() -> Iterator[None]:
    """The embedded moto server logs every request; a failing test's report needs none of it."""
    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.WARNING)
    try:
        yield
    finally:
        werkzeug.setLevel(level)
