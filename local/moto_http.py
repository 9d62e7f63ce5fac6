"""HTTP for the embedded moto server: kept-alive connections and a count of requests.

werkzeug's development server, which moto's server uses, answers every request with
``Connection: close``: each boto3 call from a handler paid a new TCP connection, a new server
thread and werkzeug's 10 ms drain of the socket afterwards. :class:`KeepAliveHandler` keeps the
connection open for the next request when that is safe (the request said how long its body was),
so each of a worker's pooled boto3 connections keeps one server thread, as a real HTTP/1.1
endpoint does. Anything else (a chunked upload, a request without a length) goes through
werkzeug's own path and closes as before.

:class:`RequestCounter` counts the requests the server answered, by DynamoDB operation, and
serves the counts at ``GET /_local/requests`` (no AWS service answers there: bucket names cannot
start with ``_``). Benchmarks read it to count the DynamoDB requests a ``send`` costs on the wire.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import traceback
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.exceptions import InternalServerError

__all__ = ["KeepAliveHandler", "RequestCounter", "close_connections", "COUNTS_PATH", "WRITES_PATH"]

COUNTS_PATH = "/_local/requests"
WRITES_PATH = "/_local/writes"

# DynamoDB operations that can add stream records.
_WRITES = frozenset(
    f"DynamoDB_20120810.{op}"
    for op in (
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "ExecuteStatement",
        "BatchExecuteStatement",
        "ExecuteTransaction",
    )
)
_ANY_TABLE = "*"
_MAX_WAIT = 30.0

_NO_BODY = (204, 304)


class KeepAliveHandler(MotoRequestHandler):
    """werkzeug's request handler, answering over one connection until the client closes it."""

    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conns = _connections(self.server)
        with conns[0]:
            conns[1].add(self.connection)

    def finish(self) -> None:
        conns = _connections(self.server)
        with conns[0]:
            conns[1].discard(self.connection)
        super().finish()

    def run_wsgi(self) -> None:
        length = self.headers.get("Content-Length")
        if (
            self.headers.get("Transfer-Encoding")
            or (length is None and self.command not in ("GET", "HEAD", "DELETE", "OPTIONS"))
            or self.headers.get("Connection", "").lower() == "close"
        ):
            # werkzeug's path: it reads what it can and closes the connection.
            self.close_connection = True
            super().run_wsgi()
            return
        try:
            size = int(length or 0)
        except ValueError:
            self.close_connection = True
            super().run_wsgi()
            return
        body = self.rfile.read(size) if size else b""
        environ = self.make_environ()
        # The whole body is read, so the next request on this connection starts cleanly
        # whatever the application reads of this one.
        environ["wsgi.input"] = io.BytesIO(body)
        environ["local.body"] = body
        status: list[str] = []
        headers: list[tuple[str, str]] = []

        def start_response(s: str, h: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[:] = [s]
            headers[:] = list(h)
            return lambda data: chunks.append(data)

        chunks: list[bytes] = []
        try:
            result = self.server.app(environ, start_response)
            try:
                chunks.extend(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        except (ConnectionError, TimeoutError) as exc:
            self.connection_dropped(exc, environ)
            self.close_connection = True
            return
        except Exception:
            # As werkzeug does: log it and answer 500, then close.
            self.close_connection = True
            self.server.log("error", f"Error on request:\n{traceback.format_exc()}")
            # The same page werkzeug's own path answers (an unknown DynamoDB operation, say).
            error = InternalServerError()
            self._send(
                500,
                "INTERNAL SERVER ERROR",
                error.get_headers(environ),
                error.get_body(environ).encode(),
            )
            return
        code_text, _, reason = status[0].partition(" ") if status else ("500", "", "")
        self._send(int(code_text), reason, headers, b"".join(chunks))

    def _send(
        self, code: int, reason: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> None:
        self.send_response(code, reason)
        declared = None
        for key, value in headers:
            lower = key.lower()
            if lower == "content-length":
                declared = value
                continue
            if lower in ("connection", "transfer-encoding"):
                continue
            self.send_header(key, value)
        if self.command == "HEAD" and declared is not None:
            # A HEAD answer has no body but tells the length of the GET's (S3 HeadObject).
            self.send_header("Content-Length", declared)
        elif code not in _NO_BODY and not 100 <= code < 200:
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        # Headers and body in one write: two small writes meet Nagle and the client's delayed
        # ACK, 40 ms per response on a kept-alive connection.
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD" and code not in _NO_BODY:
            self._headers_buffer.append(body)
        self.flush_headers()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # werkzeug logs each request at info; the stack keeps its logger at warning anyway.
        return


def _connections(server: Any) -> tuple[threading.Lock, set[socket.socket]]:
    conns = getattr(server, "_local_connections", None)
    if conns is None:
        conns = (threading.Lock(), set())
        server._local_connections = conns
    return conns


def close_connections(server: Any) -> None:
    """End every kept-alive connection of a stopped server (their threads then finish)."""
    lock, conns = _connections(server)
    with lock:
        open_now = list(conns)
    for conn in open_now:
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class RequestCounter:
    """Requests answered, by ``X-Amz-Target`` (DynamoDB, Streams, SQS JSON) or ``other``.

    It also numbers the DynamoDB writes per table: ``GET /_local/writes?table=T&after=N&wait=S``
    answers ``{"generation": G}`` as soon as table ``T`` has taken a write past generation ``N``
    (or after ``S`` seconds). The stack's stream pollers wait on it instead of sleeping, so a
    record is read as soon as it exists (local/sources/wakeup.py).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._written = threading.Condition()
        self._generations: Counter[str] = Counter()

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def generation(self, table: str) -> int:
        # Writes whose tables are not known (a body we could not read) count for every table.
        return self._generations[table] + self._generations[_ANY_TABLE]

    def wait_for_write(self, table: str, after: int, wait: float) -> int:
        with self._written:
            self._written.wait_for(lambda: self.generation(table) > after, timeout=wait)
            return self.generation(table)

    def wrap(self, app: Callable[..., Any]) -> Callable[..., Any]:
        def counted(environ: dict[str, Any], start_response: Any) -> Any:
            path = environ.get("PATH_INFO")
            if path in (COUNTS_PATH, WRITES_PATH) and environ.get("REQUEST_METHOD") == "GET":
                return self._answer(path, environ, start_response)
            target = environ.get("HTTP_X_AMZ_TARGET") or "other"
            with self._lock:
                self._counts[target] += 1
            result = app(environ, start_response)
            if target in _WRITES:
                tables = _tables_of(environ.get("local.body"))
                with self._written:
                    for table in tables or (_ANY_TABLE,):
                        self._generations[table] += 1
                    self._written.notify_all()
            return result

        return counted

    def _answer(self, path: str, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if path == COUNTS_PATH:
            answer: dict[str, Any] = {"requests": self.snapshot()}
        else:
            query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
            table = query.get("table", [_ANY_TABLE])[0]
            try:
                after = int(query.get("after", ["-1"])[0])
                wait = min(_MAX_WAIT, max(0.0, float(query.get("wait", ["0"])[0])))
            except ValueError:
                after, wait = -1, 0.0
            answer = {"generation": self.wait_for_write(table, after, wait)}
        body = json.dumps(answer).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]


def _tables_of(body: bytes | None) -> list[str]:
    """The tables a DynamoDB write request names (empty when its body is not at hand)."""
    if not body:
        return []
    try:
        request = json.loads(body)
    except ValueError:
        return []
    if not isinstance(request, dict):
        return []
    tables: set[str] = set()
    if isinstance(request.get("TableName"), str):
        tables.add(request["TableName"])
    for name in request.get("RequestItems") or {}:
        tables.add(str(name))
    for entry in request.get("TransactItems") or []:
        for op in entry.values() if isinstance(entry, dict) else ():
            if isinstance(op, dict) and isinstance(op.get("TableName"), str):
                tables.add(op["TableName"])
    # PartiQL statements name their table inside the text: they wake every table.
    return sorted(
        t.split(":table/", 1)[1].split("/", 1)[0] if ":table/" in t else t for t in tables
    )
