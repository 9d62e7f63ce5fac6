"""Fixtures that start the whole local stack on free ports, in a background thread.

Stacks are module-scoped: moto keeps its state in process globals and a stopping stack resets
it, so two stacks must never overlap in one process. Each stack logs to a file under pytest's
temporary directory (its path is in the failure report through ``stack_log``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from local.stack import LocalStack
from local.testing import StackThread
from tests.e2e.browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ChatPage,
    RunningStack,
    chat_pages,
    quiet_moto_requests,
)
from tests.e2e.harness import TIMEOUT

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "gateway"
ECHO_TEMPLATE = FIXTURES / "echo" / "template.yaml"
CHAT_TEMPLATE = ROOT / "template.yaml"
CHAT_CONFIG = ROOT / "local.yaml"


@contextlib.contextmanager
def running_stack(template: Path, log_path: Path, **options: Any) -> Iterator[StackThread]:
    with log_path.open("w") as log:
        stack = LocalStack(
            template,
            log_stream=log,
            state_dir=log_path.parent / "state",
            **options,
        )
        with StackThread(stack, start_timeout=12 * TIMEOUT) as running:
            yield running


@pytest.fixture(scope="module")
def echo_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackThread]:
    """The echo fixture template: its handler reaches @connections through domainName."""
    log_path = tmp_path_factory.mktemp("echo-stack") / "stack.log"
    with running_stack(ECHO_TEMPLATE, log_path) as running:
        yield running


@pytest.fixture(scope="module")
def chat_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackThread]:
    """The project's own template.yaml and local.yaml, with the bundled browser page."""
    log_path = tmp_path_factory.mktemp("chat-stack") / "stack.log"
    with running_stack(
        CHAT_TEMPLATE, log_path, config=CHAT_CONFIG, static_dir=ROOT / "client" / "web"
    ) as running:
        yield running


class DisconnectWatch:
    """Counts the ``$disconnect`` events a running stack's gateway has completed."""

    def __init__(self, running: StackThread) -> None:
        self.running = running
        self.events: list[dict[str, Any]] = []
        self._cond = threading.Condition()

    def _on_event(self, event: dict[str, Any]) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def for_connection(self, connection_id: str) -> list[dict[str, Any]]:
        with self._cond:
            return [e for e in self.events if e["requestContext"]["connectionId"] == connection_id]

    def wait(self, connection_id: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        with self._cond:
            found = self._cond.wait_for(lambda: self.for_connection(connection_id), timeout)
        if not found:
            raise TimeoutError(f"no $disconnect for {connection_id} within {timeout}s")
        return self.for_connection(connection_id)[0]


@pytest.fixture
def disconnects(
    request: pytest.FixtureRequest,
) -> Iterator[Callable[[StackThread], DisconnectWatch]]:
    attached: list[tuple[StackThread, Callable[[dict[str, Any]], None]]] = []

    def watch(running: StackThread) -> DisconnectWatch:
        watcher = DisconnectWatch(running)
        gateway = running.stack.gateway
        assert gateway is not None
        gateway.disconnect_listeners.append(watcher._on_event)
        attached.append((running, watcher._on_event))
        return watcher

    yield watch
    for running, listener in attached:
        gateway = running.stack.gateway
        if gateway is not None:
            gateway.disconnect_listeners.remove(listener)


# ---- the browser pages' fixtures: one Chromium per module, pages against the chat stack --------


@pytest.fixture(scope="module")
def stack(chat_stack: StackThread) -> Iterator[RunningStack]:
    """The chat stack as the browser tests use it (moto's request log kept quiet)."""
    with quiet_moto_requests():
        yield RunningStack(chat_stack)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser: Browser, stack: RunningStack) -> Iterator[Callable[[], ChatPage]]:
    with chat_pages(browser, stack.page_url) as make:
        yield make
