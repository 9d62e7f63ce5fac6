"""The asyncio adapter: a ``websockets`` server that feeds the pure core and writes what it says.

One :class:`Gateway` serves one WebSocket API stage. The upgrade request is held in
``process_request`` while the authorizer and the ``$connect`` integration run, so a refusal is a
plain HTTP status and nothing is kept. Each accepted connection gets one reader loop that also
enforces the idle timeout and the maximum duration; each message is handled in its own task, as
API Gateway invokes integrations concurrently. Every ending goes through :meth:`Gateway._end`,
which the lifecycle table lets through once, so ``$disconnect`` runs exactly once per connection.
"""

from __future__ import annotations

import asyncio
import dataclasses
import http
import json
import logging
import socket
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State as WsState

from local.gateway import events
from local.gateway.events import Api, Peer, new_id, now_ms
from local.gateway.integration import (
    InvokeResultLike,
    authorizer_verdict,
    connect_verdict,
    missing_identity,
    route_reply,
)
from local.gateway.lifecycle import Ending, Lifecycle, Signal, State
from local.gateway.pages import StatsSource, TokenMinter, answer_get
from local.gateway.routing import parse_expression, select_route
from local.gateway.throttle import TokenBucket
from local.logs import Log
from local.model import WebSocketApiSpec

__all__ = [
    "MAX_FRAME_BYTES",
    "MAX_MESSAGE_BYTES",
    "Gateway",
    "GatewayOptions",
    "Invoker",
    "LiveConnection",
]

# API Gateway's quotas: 128 KB per message, 32 KB per frame; bigger closes with 1009.
MAX_MESSAGE_BYTES = 128 * 1024
MAX_FRAME_BYTES = 32 * 1024
WRITE_BUFFER_BYTES = 4 * 1024 * 1024

SOURCE = "gateway"


class Invoker(Protocol):
    """What the gateway needs from the Lambda runtime."""

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Awaitable[InvokeResultLike]: ...


@dataclass
class GatewayOptions:
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port
    domain_name: str = "127.0.0.1"  # requestContext.domainName: where @connections answers (TLS)
    region: str = "us-east-1"
    account_id: str = "123456789012"
    idle_timeout: float = 600.0  # API Gateway: 10 minutes without a client message
    max_duration: float = 7200.0  # API Gateway: 2 hours per connection
    # $connect waits for the authorizer and the integration (API Gateway's own limit is 29 s).
    open_timeout: float = 35.0
    close_timeout: float = 2.0
    static_dir: Path | None = None
    mint_token: TokenMinter | None = None
    page_config: dict[str, Any] = field(default_factory=dict)
    stats: StatsSource | None = None  # what /_local/stats answers (local.stats.Stats.snapshot)


@dataclass
class LiveConnection:
    """The adapter's view of one connection: the pure lifecycle plus its socket and clocks."""

    peer: Peer
    ws: ServerConnection
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    started: float = field(default_factory=time.monotonic)
    last_active: float = field(default_factory=time.monotonic)
    last_active_at: int = 0  # epoch ms, for GET @connections
    reader_started: bool = False
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def connection_id(self) -> str:
        return self.peer.connection_id


@dataclass
class _Failed:
    ok: bool
    payload: Any
    error: dict[str, Any] | None
    request_id: str
    duration_ms: float


class _LogBridge(logging.Handler):
    """websockets' own log lines go to the stack log, one line each, never a traceback."""

    def __init__(self, log: Log) -> None:
        super().__init__(logging.WARNING)
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            message = f"{message}: {type(exc).__name__}: {exc}"
        self.log.warning(SOURCE, message)


class _Connection(ServerConnection):
    """A ``ServerConnection`` that tells the gateway when its socket is gone.

    Needed for one gap: the upgrade was accepted but the client vanished before the reader loop
    started, so nothing else would notice that this connection ended.
    """

    live: LiveConnection | None = None
    on_lost: Callable[[LiveConnection], None] | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        live = self.live
        if live is not None and self.on_lost is not None and not live.reader_started:
            self.on_lost(live)


def _split_target(target: str) -> tuple[str, list[tuple[str, str]]]:
    parts = urllib.parse.urlsplit(target)
    path = urllib.parse.unquote(parts.path) or "/"
    return path, urllib.parse.parse_qsl(parts.query, keep_blank_values=True)


def _json_response(status: int, value: Any) -> Response:
    body = json.dumps(value).encode()
    headers = Headers(
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ]
    )
    return Response(status, http.HTTPStatus(status).phrase, headers, body)


def _refusal(status: int) -> Response:
    # API Gateway's bodies for refused upgrades, e.g. {"message":"Forbidden"}.
    messages = {
        401: "Unauthorized",
        403: "Forbidden",
        429: "Too Many Requests",
        500: "Internal server error",
        502: "Internal server error",
    }
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    body = json.dumps({"message": messages.get(status, phrase)}).encode()
    headers = Headers(
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
            ("x-amzn-ErrorType", messages.get(status, phrase).replace(" ", "")),
        ]
    )
    return Response(status, phrase, headers, body)


class Gateway:
    """API Gateway's WebSocket side for one API and stage."""

    def __init__(
        self,
        api: WebSocketApiSpec,
        invoker: Invoker,
        log: Log,
        options: GatewayOptions | None = None,
    ) -> None:
        self.spec = api
        self.invoker = invoker
        self.log = log
        self.options = options or GatewayOptions()
        self.api = Api(
            api_id=api.api_id,
            stage=api.stage,
            domain_name=self.options.domain_name,
            region=self.options.region,
            account_id=self.options.account_id,
        )
        self.path = parse_expression(api.route_selection_expression)
        self.bucket = TokenBucket(burst=api.throttling_burst, rate=api.throttling_rate)
        self.connections: dict[str, LiveConnection] = {}
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.port = 0
        self._stopping = False
        self._sock: socket.socket | None = None
        # Test hook: called with each $disconnect event after it ran.
        self.disconnect_listeners: list[Callable[[dict[str, Any]], None]] = []

    # ------------------------------------------------------------------ start / stop

    @property
    def ws_url(self) -> str:
        return f"ws://{self._url_host}:{self.port}/{self.api.stage}"

    @property
    def page_url(self) -> str:
        return f"http://{self._url_host}:{self.port}/"

    @property
    def _url_host(self) -> str:
        host = self.options.host
        return "127.0.0.1" if host in ("", "0.0.0.0") else host

    def bind(self) -> int:
        """Reserve the listening socket now (the port goes into function environments before
        the gateway serves); :meth:`start` serves on it."""
        if self._sock is None:
            self._sock = socket.create_server((self.options.host, self.options.port))
            self._sock.setblocking(False)
            self.port = self._sock.getsockname()[1]
        return self.port

    def _ws_logger(self) -> logging.Logger:
        logger = logging.getLogger(f"local.gateway.{id(self)}")
        logger.propagate = False
        logger.setLevel(logging.WARNING)
        if not logger.handlers:
            logger.addHandler(_LogBridge(self.log))
        return logger

    def set_domain_name(self, domain_name: str) -> None:
        """Where ``https://{domainName}/{stage}`` leads: the @connections HTTPS server."""
        self.options.domain_name = domain_name
        self.api = dataclasses.replace(self.api, domain_name=domain_name)

    async def start(self) -> None:
        self.bind()

        def create(*args: Any, **kwargs: Any) -> ServerConnection:
            conn = _Connection(*args, **kwargs)
            conn.on_lost = self._lost_before_reader
            return conn

        self._server = await serve(
            self._reader,
            sock=self._sock,
            process_request=self._process_request,
            compression=None,  # ~4x less memory per connection, as PITFALLS notes
            max_size=(MAX_MESSAGE_BYTES, MAX_FRAME_BYTES),
            open_timeout=self.options.open_timeout,
            close_timeout=self.options.close_timeout,
            # API Gateway does not ping clients; idle detection is ours, on client messages.
            ping_interval=None,
            # A POST to a slow reader must not wait for it: queue up to this much per client
            # (@connections answers 429 LimitExceededException past 1 MB, as a full buffer).
            write_limit=WRITE_BUFFER_BYTES,
            server_header=None,
            create_connection=create,  # type: ignore[arg-type]
            logger=self._ws_logger(),
        )

    async def stop(self) -> None:
        """Close every connection with 1001, run their ``$disconnect``, then stop listening."""
        if self._server is None:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            return
        self._stopping = True
        self._server.close(close_connections=False)
        for live in list(self.connections.values()):
            self._end(live, Ending.shutdown(), close=(1001, "Going away"))
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._server.wait_closed()
        self._server = None
        self._sock = None

    # ------------------------------------------------------------------ @connections semantics

    async def post(self, connection_id: str, data: bytes) -> bool:
        """Send ``data`` to a connection; False when it is unknown or gone (410)."""
        live = self.connections.get(connection_id)
        if live is None or not live.lifecycle.is_open:
            return False
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            message: str | bytes = data
        else:
            message = text
        try:
            await live.ws.send(message)
        except ConnectionClosed:
            return False
        return True

    def describe(self, connection_id: str) -> LiveConnection | None:
        live = self.connections.get(connection_id)
        if live is None or not live.lifecycle.is_open:
            return None
        return live

    def delete(self, connection_id: str) -> bool:
        """Close a connection as DELETE @connections does; False when unknown (410)."""
        live = self.connections.get(connection_id)
        if live is None or not live.lifecycle.is_open:
            return False
        self._end(live, Ending.deleted(), close=(1000, ""))
        return True

    # ------------------------------------------------------------------ handshake

    async def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        path, query_pairs = _split_target(request.path)
        if request.headers.get("Upgrade", "").lower() != "websocket":
            answer = answer_get(
                path,
                dict(query_pairs),
                static_dir=self.options.static_dir,
                config=self._page_config(request.headers.get("Host")),
                mint=self.options.mint_token,
                stats=self.options.stats,
            )
            headers = Headers(
                [
                    ("Content-Type", answer.content_type),
                    ("Content-Length", str(len(answer.body))),
                    ("Cache-Control", "no-store"),
                    # The gateway's port speaks HTTP only to upgrade or to answer one GET.
                    ("Connection", "close"),
                ]
            )
            return Response(
                answer.status, http.HTTPStatus(answer.status).phrase, headers, answer.body
            )
        return await self._connect(ws, request, path, query_pairs)

    def _page_config(self, host: str | None = None) -> dict[str, Any]:
        # The host the browser used reaches this gateway too (e.g. --host 0.0.0.0 from elsewhere).
        ws_url = f"ws://{host}/{self.api.stage}" if host else self.ws_url
        return {
            "wsUrl": ws_url,
            "stage": self.api.stage,
            "apiId": self.api.api_id,
            "devTokens": self.options.mint_token is not None,
            **self.options.page_config,
        }

    async def _connect(
        self,
        ws: ServerConnection,
        request: Request,
        path: str,
        query_pairs: list[tuple[str, str]],
    ) -> Response | None:
        started = time.perf_counter()
        stage = self.api.stage
        if path.rstrip("/") not in ("", f"/{stage}"):
            # API Gateway answers 403 for a stage that does not exist.
            self.log.access("connect", "$connect", 403, 0.0, None, path=path)
            return _refusal(403)
        remote = ws.remote_address
        peer = Peer(
            connection_id=new_id(),
            connected_at=now_ms(),
            source_ip=str(remote[0]) if remote else "127.0.0.1",
            user_agent=request.headers.get("User-Agent", ""),
            headers=list(request.headers.raw_items()),
            query=query_pairs,
        )
        live = LiveConnection(peer=peer, ws=ws, last_active_at=peer.connected_at)
        request_id = new_id()

        def refuse(status: int, why: str) -> Response:
            live.lifecycle.apply(Signal.REFUSED)
            latency = (time.perf_counter() - started) * 1000
            self.log.access(
                "connect", "$connect", status, latency, peer.connection_id, request_id=request_id
            )
            self.log.info(SOURCE, f"refused {peer.connection_id}: {why}", request_id=request_id)
            return _refusal(status)

        if not self.bucket.take():
            return refuse(429, "stage throttling limit reached")

        connect_route = self.spec.routes.get("$connect")
        authorizer = connect_route.authorizer if connect_route else None
        if authorizer is not None:
            headers = dict(request.headers.raw_items())
            lacking = missing_identity(authorizer.identity_sources, headers, dict(query_pairs))
            if lacking is not None:
                return refuse(401, f"identity source {lacking} is missing")
            event = events.authorizer_event(self.api, peer, request_id=request_id, at_ms=now_ms())
            auth_started = time.perf_counter()
            result = await self._invoke(authorizer.function, event)
            verdict = authorizer_verdict(result, events.method_arn(self.api))
            if not verdict.ok:
                return refuse(verdict.status, verdict.reason)
            peer.authorizer = {
                **(verdict.context or {}),
                "principalId": verdict.principal_id,
                "integrationLatency": round((time.perf_counter() - auth_started) * 1000),
            }

        if connect_route is not None and connect_route.function is not None:
            event = events.connect_event(self.api, peer, request_id=request_id, at_ms=now_ms())
            result = await self._invoke(connect_route.function, event)
            verdict = connect_verdict(result)
            if not verdict.ok:
                return refuse(verdict.status, verdict.reason)

        if self._stopping:
            return refuse(503, "the local stack is stopping")
        if ws.state is not WsState.CONNECTING:
            # The client gave up while we waited: it never connected, so no $disconnect.
            live.lifecycle.apply(Signal.ENDED)
            return _refusal(410)
        live.lifecycle.apply(Signal.ACCEPTED)
        self.connections[peer.connection_id] = live
        if isinstance(ws, _Connection):
            ws.live = live
        latency = (time.perf_counter() - started) * 1000
        self.log.access(
            "connect", "$connect", 200, latency, peer.connection_id, request_id=request_id
        )
        return None

    def _lost_before_reader(self, live: LiveConnection) -> None:
        self._end(live, Ending.dropped())

    # ------------------------------------------------------------------ messages

    async def _reader(self, ws: ServerConnection) -> None:
        live = ws.live if isinstance(ws, _Connection) else None
        if live is None:
            return
        live.reader_started = True
        opts = self.options
        while live.lifecycle.is_open:
            idle_at = live.last_active + opts.idle_timeout
            max_at = live.started + opts.max_duration
            loop_deadline = asyncio.get_running_loop().time() + (
                min(idle_at, max_at) - time.monotonic()
            )
            try:
                async with asyncio.timeout_at(loop_deadline):
                    data = await ws.recv()
            except TimeoutError:
                # Idle and maximum duration both close with 1001 "Going away", like AWS.
                ending = Ending.max_duration() if max_at <= idle_at else Ending.idle()
                self._end(live, ending, close=(1001, "Going away"))
                break
            except ConnectionClosed as exc:
                self._end(live, self._ending_of(exc))
                break
            live.last_active = time.monotonic()
            live.last_active_at = now_ms()
            self._spawn(self._on_message(live, data))
        await live.disconnected.wait()

    @staticmethod
    def _ending_of(exc: ConnectionClosed) -> Ending:
        sent, rcvd = exc.sent, exc.rcvd
        if sent is not None and sent.code == 1009 and not exc.rcvd_then_sent:
            return Ending.too_large()
        if rcvd is not None:
            return Ending.client_close(rcvd.code, rcvd.reason)
        return Ending.dropped()

    async def _on_message(self, live: LiveConnection, data: str | bytes) -> None:
        started = time.perf_counter()
        peer = live.peer
        request_id = new_id()
        if not self.bucket.take():
            await self._send(
                live, events.error_frame("Too Many Requests", peer.connection_id, request_id)
            )
            self.log.access("message", "-", 429, 0.0, peer.connection_id, request_id=request_id)
            return
        route_key = select_route(self.path, data, self.spec.routes)
        route = self.spec.routes.get(route_key) if route_key else None
        if route is None or route.function is None:
            # No route and no $default: API Gateway answers with this frame, invokes nothing.
            await self._send(live, events.error_frame("Forbidden", peer.connection_id, request_id))
            latency = (time.perf_counter() - started) * 1000
            self.log.access(
                "message", route_key or "-", 403, latency, peer.connection_id, request_id=request_id
            )
            return
        event = events.message_event(
            self.api,
            peer,
            route_key=route.route_key,
            body=data,
            request_id=request_id,
            message_id=new_id(),
            at_ms=now_ms(),
        )
        result = await self._invoke(route.function, event)
        reply = route_reply(result, two_way=route.two_way)
        status = 200
        if reply.failed:
            status = 500
            frame = events.error_frame("Internal server error", peer.connection_id, request_id)
            await self._send(live, frame)
        elif reply.frame is not None:
            await self._send(live, reply.frame)
        latency = (time.perf_counter() - started) * 1000
        self.log.access(
            "message", route.route_key, status, latency, peer.connection_id, request_id=request_id
        )

    async def _send(self, live: LiveConnection, frame: str | bytes) -> None:
        if not live.lifecycle.is_open:
            return
        try:
            await live.ws.send(frame)
        except ConnectionClosed:
            pass  # the reader loop sees the close and ends the connection

    async def _invoke(self, logical_id: str, event: dict[str, Any]) -> InvokeResultLike:
        """Invoke through the runtime; a runtime that cannot invoke at all is a failed result."""
        try:
            return await self.invoker.invoke(logical_id, event)
        except Exception as exc:  # the runtime's own trouble: the integration failed, say why
            self.log.error(SOURCE, f"could not invoke {logical_id}: {type(exc).__name__}: {exc}")
            return _Failed(
                ok=False,
                payload=None,
                error={"errorType": type(exc).__name__, "errorMessage": str(exc)},
                request_id="",
                duration_ms=0.0,
            )

    # ------------------------------------------------------------------ endings

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _end(
        self, live: LiveConnection, ending: Ending, *, close: tuple[int, str] | None = None
    ) -> None:
        """End a connection; the lifecycle lets only the first ending through to $disconnect.

        Synchronous up to the point where the connection is unknown to @connections, so a POST
        right after a DELETE already answers 410.
        """
        if not live.lifecycle.apply(Signal.ENDED, ending):
            return
        self.connections.pop(live.connection_id, None)
        self._spawn(self._finish(live, close))

    async def _finish(self, live: LiveConnection, close: tuple[int, str] | None) -> None:
        try:
            if close is not None:
                await live.ws.close(*close)
            await self._run_disconnect(live)
        finally:
            if live.lifecycle.state is State.CLOSING:
                live.lifecycle.apply(Signal.DISCONNECTED)
            live.disconnected.set()

    async def _run_disconnect(self, live: LiveConnection) -> None:
        ending = live.lifecycle.ending or Ending.dropped()
        started = time.perf_counter()
        request_id = new_id()
        event = events.disconnect_event(
            self.api,
            live.peer,
            status_code=ending.status_code,
            reason=ending.reason,
            request_id=request_id,
            at_ms=now_ms(),
        )
        route = self.spec.routes.get("$disconnect")
        status = 200
        if route is not None and route.function is not None:
            result = await self._invoke(route.function, event)
            status = 200 if result.ok else 500
        latency = (time.perf_counter() - started) * 1000
        self.log.access(
            "disconnect",
            "$disconnect",
            status,
            latency,
            live.connection_id,
            request_id=request_id,
            code=ending.status_code,
            reason=ending.reason,
        )
        for listener in list(self.disconnect_listeners):
            listener(event)
