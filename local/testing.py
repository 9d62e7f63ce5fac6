"""Drive a local stack from plain synchronous code (pytest tests, scripts).

``StackThread`` runs a :class:`~local.stack.LocalStack` on its own event loop in a background
thread, like a separate server process would; ``TestSocket`` is a blocking WebSocket client in the
style of Starlette's test client, and ``StackThread.request`` a blocking HTTP client for the
stack's HTTP API::

    with StackThread(LocalStack("template.yaml", config="local.yaml")) as running:
        with running.connect(token=running.dev_token("ada")) as ws:
            ws.send_json({"action": "join", "room": "lobby"})
            assert ws.receive_json(timeout=5)["type"] == "joined"
        answer = running.request("GET", "/me", token=running.local_token("ada"))
        assert answer.status == 200, answer.json()
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from local.stack import LocalStack

__all__ = ["HttpAnswer", "StackThread", "TestSocket", "http_request"]

T = TypeVar("T")


class TestSocket:
    """A blocking WebSocket client with JSON helpers; a context manager that closes on exit."""

    __test__ = False  # not a pytest test class, whatever its name says

    def __init__(self, conn: ClientConnection, timeout: float) -> None:
        self.conn = conn
        self.timeout = timeout

    @classmethod
    def open(
        cls,
        url: str,
        *,
        token: str | None = None,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> TestSocket:
        params = dict(query or {})
        if token is not None:
            params["token"] = token
        if params:
            url = f"{url}{'&' if '?' in url else '?'}{urllib.parse.urlencode(params)}"
        opened = ws_connect(
            url,
            additional_headers=dict(headers or {}),
            open_timeout=timeout,
            max_size=None,
            compression=None,
        )
        # websockets 17 wants its sync connect() entered as a context manager; TestSocket is the
        # context manager here, and closes the connection on exit.
        conn: ClientConnection = opened.__enter__()
        return cls(conn, timeout)

    def send_text(self, text: str) -> None:
        self.conn.send(text)

    def send_bytes(self, data: bytes) -> None:
        self.conn.send(data)

    def send_json(self, value: Any) -> None:
        self.conn.send(json.dumps(value))

    def receive(self, timeout: float | None = None) -> str | bytes:
        """The next frame; ``TimeoutError`` when none comes in time."""
        return self.conn.recv(timeout=self.timeout if timeout is None else timeout)

    def receive_text(self, timeout: float | None = None) -> str:
        frame = self.receive(timeout)
        if not isinstance(frame, str):
            raise AssertionError(f"expected a text frame, got {len(frame)} bytes of binary")
        return frame

    def receive_json(self, timeout: float | None = None) -> Any:
        return json.loads(self.receive(timeout))

    def receive_until(
        self, predicate: Callable[[Any], bool], timeout: float | None = None
    ) -> tuple[Any, list[Any]]:
        """Read JSON frames until one matches; returns it and the ones skipped on the way."""
        skipped: list[Any] = []
        budget = self.timeout if timeout is None else timeout
        end = time.monotonic() + budget
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching frame within {budget}s; got {skipped!r}")
            value = self.receive_json(remaining)
            if predicate(value):
                return value, skipped
            skipped.append(value)

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.conn.close(code, reason)

    @property
    def close_code(self) -> int | None:
        return self.conn.close_code

    def __enter__(self) -> TestSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HttpAnswer:
    """One HTTP response: status, headers (repeats kept, names lowercase), body."""

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        values = self.header_list(name)
        return values[0] if values else None

    def header_list(self, name: str) -> list[str]:
        wanted = name.lower()
        return [v for k, v in self.headers if k == wanted]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<HttpAnswer {self.status} {self.body[:200]!r}>"


def http_request(
    url: str,
    method: str = "GET",
    *,
    headers: Mapping[str, str] | list[tuple[str, str]] | None = None,
    body: bytes | str | None = None,
    json_body: Any = None,
    token: str | None = None,
    timeout: float = 10.0,
) -> HttpAnswer:
    """A blocking request with ``http.client`` (any method, repeated headers, raw paths)."""
    parts = urllib.parse.urlsplit(url)
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers or [])
    if token is not None:
        pairs.append(("Authorization", f"Bearer {token}"))
    if json_body is not None:
        body = json.dumps(json_body)
        pairs.append(("Content-Type", "application/json"))
    data = body.encode() if isinstance(body, str) else body
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        conn.putrequest(method, target, skip_accept_encoding=True)
        for name, value in pairs:
            conn.putheader(name, value)
        if data is not None:
            conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        response = conn.getresponse()
        raw = response.read()
        answer_headers = [(k.lower(), v) for k, v in response.getheaders()]
        return HttpAnswer(response.status, answer_headers, raw)
    finally:
        conn.close()


class StackThread:
    """A LocalStack running on its own loop in a background thread."""

    def __init__(self, stack: LocalStack, *, start_timeout: float = 120.0) -> None:
        self.stack = stack
        self.start_timeout = start_timeout
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="local-stack", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run a coroutine on the stack's loop and wait for its result."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout if timeout is not None else self.start_timeout)

    def start(self) -> StackThread:
        self._thread.start()
        try:
            self.call(self.stack.start())
        except BaseException:
            self._shutdown_loop()
            raise
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            self.call(self.stack.stop())
        finally:
            self._shutdown_loop()

    def _shutdown_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(self.start_timeout)
        if not self.loop.is_running():
            self.loop.close()

    def __enter__(self) -> StackThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # The stack's own read-only surface, for convenience: URLs, dev tokens, connect().
    def connect(self, token: str | None = None, **kwargs: Any) -> TestSocket:
        return TestSocket.open(self.stack.ws_url, token=token, **kwargs)

    def dev_token(self, user: str, name: str | None = None, rooms: tuple[str, ...] = ()) -> str:
        return self.stack.dev_token(user, name, rooms)

    @property
    def http_url(self) -> str:
        """The first HTTP API's URL (``http://127.0.0.1:{port}``, ``/{stage}`` for a named one)."""
        return self.stack.http_url

    def local_token(
        self,
        user: str,
        name: str | None = None,
        rooms: tuple[str, ...] = (),
        *,
        scopes: tuple[str, ...] = (),
        client_id: str | None = None,
    ) -> str:
        return self.stack.local_token(user, name, rooms, scopes=scopes, client_id=client_id)

    def request(self, method: str, path: str, **kwargs: Any) -> HttpAnswer:
        """A blocking request to the first HTTP API: ``path`` is under :attr:`http_url`."""
        return http_request(self.http_url + path, method, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stack, name)
