"""The ``@connections`` management API, on HTTP and HTTPS, as boto3's client expects it.

``POST /{stage}/@connections/{id}`` sends the body to the connection (200), ``GET`` describes it
(200, ``connectedAt`` / ``identity`` / ``lastActiveAt``), ``DELETE`` closes it (204; the gateway
runs ``$disconnect``). Errors are what API Gateway answers, in the rest-json shape botocore
parses: 410 ``GoneException`` for an unknown or closed id (or one still in ``$connect``), 413
``PayloadTooLargeException`` over 128 KB, 429 ``LimitExceededException`` when the client's
buffer is full, 403 ``ForbiddenException`` for a path that is no stage of this API.

Requests are not signature-checked: there is no IAM locally.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from local.gateway import MAX_MESSAGE_BYTES, Gateway
from local.logs import Log

__all__ = ["ManagementApi", "iso_ms"]

SOURCE = "management"
# Past this much unsent data to one client, API Gateway says its buffer is full (429).
CLIENT_BUFFER_LIMIT = 1024 * 1024


def iso_ms(epoch_ms: int) -> str:
    """``2026-11-26T18:00:00.123Z``: the timestamp shape API Gateway returns."""
    dt = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def _error(status: int, error_type: str, message: str | None) -> web.Response:
    return web.json_response(
        {"message": message}, status=status, headers={"x-amzn-ErrorType": error_type}
    )


def _gone() -> web.Response:
    return _error(410, "GoneException", None)


@dataclass
class _Sites:
    http_port: int = 0
    https_port: int = 0


class ManagementApi:
    """One aiohttp application served twice: plain HTTP and HTTPS (the local CA's certificate)."""

    def __init__(
        self,
        gateway: Gateway,
        log: Log,
        *,
        host: str = "127.0.0.1",
        http_port: int = 0,
        https_port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.gateway = gateway
        self.log = log
        self.host = host
        self._wanted = _Sites(http_port, https_port)
        self.ports = _Sites()
        self.ssl_context = ssl_context
        self._runner: web.AppRunner | None = None

    @property
    def stage(self) -> str:
        return self.gateway.api.stage

    @property
    def url(self) -> str:
        return f"http://{self._url_host}:{self.ports.http_port}/{self.stage}"

    @property
    def https_url(self) -> str:
        return f"https://{self._url_host}:{self.ports.https_port}/{self.stage}"

    @property
    def _url_host(self) -> str:
        return "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host

    async def start(self) -> None:
        app = web.Application(client_max_size=4 * MAX_MESSAGE_BYTES)
        app.router.add_route("*", "/{stage}/@connections/{connection_id}", self._handle)
        app.router.add_route("*", "/{tail:.*}", self._forbidden)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        self._runner = runner
        http_site = web.TCPSite(runner, self.host, self._wanted.http_port)
        await http_site.start()
        self.ports.http_port = _bound_port(http_site)
        if self.ssl_context is not None:
            https_site = web.TCPSite(
                runner, self.host, self._wanted.https_port, ssl_context=self.ssl_context
            )
            await https_site.start()
            self.ports.https_port = _bound_port(https_site)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _forbidden(self, request: web.Request) -> web.Response:
        return _error(403, "ForbiddenException", "Forbidden")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        connection_id = request.match_info["connection_id"]
        response = await self._dispatch(request, connection_id)
        latency = (time.perf_counter() - started) * 1000
        if request.method == "POST" and response.status == 200:
            # A broadcast is one POST per member: successful ones only at debug level.
            self.log.debug(SOURCE, f"POST 200 {latency:.1f}ms {connection_id}")
        else:
            self.log.access(
                "management",
                request.method,
                response.status,
                latency,
                connection_id,
                source=SOURCE,
            )
        return response

    async def _dispatch(self, request: web.Request, connection_id: str) -> web.StreamResponse:
        if request.match_info["stage"] != self.stage:
            return _error(403, "ForbiddenException", "Forbidden")
        if request.method == "POST":
            return await self._post(request, connection_id)
        if request.method == "GET":
            return self._get(connection_id)
        if request.method == "DELETE":
            if not self.gateway.delete(connection_id):
                return _gone()
            return web.Response(status=204)
        return _error(403, "ForbiddenException", "Forbidden")

    async def _post(self, request: web.Request, connection_id: str) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > MAX_MESSAGE_BYTES:
            return _error(413, "PayloadTooLargeException", "Request entity too large")
        data = await request.read()
        if len(data) > MAX_MESSAGE_BYTES:
            return _error(413, "PayloadTooLargeException", "Request entity too large")
        if not data:
            return _error(400, "BadRequestException", "Data must not be empty")
        live = self.gateway.describe(connection_id)
        if live is None:
            return _gone()
        transport = live.ws.transport
        if transport is not None and transport.get_write_buffer_size() > CLIENT_BUFFER_LIMIT:
            return _error(429, "LimitExceededException", "Client buffer is full")
        if not await self.gateway.post(connection_id, data):
            return _gone()
        return web.Response(status=200)

    def _get(self, connection_id: str) -> web.StreamResponse:
        live = self.gateway.describe(connection_id)
        if live is None:
            return _gone()
        body: dict[str, Any] = {
            "connectedAt": iso_ms(live.peer.connected_at),
            "identity": {"sourceIp": live.peer.source_ip, "userAgent": live.peer.user_agent},
            "lastActiveAt": iso_ms(live.last_active_at),
        }
        return web.json_response(body)


def _bound_port(site: web.TCPSite) -> int:
    server = site._server  # aiohttp keeps the asyncio server here; the port is only known after
    sockets = getattr(server, "sockets", None) or []
    for sock in sockets:
        return int(sock.getsockname()[1])
    raise RuntimeError("management API did not bind a socket")
