"""Helpers for driving the gateway on real sockets with in-process handlers.

``InProcessRuntime`` stands in for the Lambda runtime where the test is about the gateway alone:
handlers are plain Python callables run in a thread, and every event they got is recorded, so a
test can say "the authorizer was never invoked" or wait for the one ``$disconnect``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from local.gateway import Gateway, GatewayOptions
from local.logs import Log
from local.model import AuthorizerSpec, RouteSpec, WebSocketApiSpec

__all__ = [
    "TIMEOUT",
    "FakeResult",
    "InProcessRuntime",
    "make_api",
    "running_gateway",
]

# Every wait in the e2e tests scales from this one constant (slow machines: raise the scale).
TIMEOUT = 10.0 * float(os.environ.get("TEST_TIMEOUT_SCALE", "1"))

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class FakeResult:
    ok: bool
    payload: Any
    error: dict[str, Any] | None
    request_id: str
    duration_ms: float


class InProcessRuntime:
    """Runs handlers in threads and keeps every event each function received."""

    def __init__(self, handlers: dict[str, Handler], *, timeout: float = TIMEOUT) -> None:
        self.handlers = handlers
        self.timeout = timeout
        self.events: dict[str, list[dict[str, Any]]] = {name: [] for name in handlers}
        self._changed = asyncio.Condition()

    async def invoke(self, logical_id: str, event: dict[str, Any]) -> FakeResult:
        rid = str(uuid.uuid4())
        started = time.perf_counter()
        fn = self.handlers[logical_id]
        try:
            payload = await asyncio.wait_for(asyncio.to_thread(fn, event, None), self.timeout)
            result = FakeResult(True, payload, None, rid, 0.0)
        except TimeoutError:
            error = {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out"}
            result = FakeResult(False, None, error, rid, 0.0)
        except Exception as exc:
            error = {
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_exception(exc),
            }
            result = FakeResult(False, None, error, rid, 0.0)
        result.duration_ms = (time.perf_counter() - started) * 1000
        async with self._changed:
            self.events.setdefault(logical_id, []).append(event)
            self._changed.notify_all()
        return result

    async def wait_for(
        self, logical_id: str, count: int = 1, *, timeout: float = TIMEOUT
    ) -> list[dict[str, Any]]:
        """The events ``logical_id`` got, once it has had at least ``count`` of them."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.events.get(logical_id, [])) >= count)
        return self.events[logical_id]


def make_api(
    routes: dict[str, str | None],
    *,
    authorizer: str | None = None,
    identity_sources: tuple[str, ...] = ("route.request.querystring.token",),
    two_way: tuple[str, ...] = (),
    expression: str = "$request.body.action",
    burst: int | None = None,
    rate: float | None = None,
    stage: str = "dev",
) -> WebSocketApiSpec:
    """A WebSocket API spec as the template loader would produce it."""
    auth = (
        AuthorizerSpec("Auth", "auth", authorizer, list(identity_sources)) if authorizer else None
    )
    specs = {
        key: RouteSpec(key, fn, auth if key == "$connect" else None, key in two_way)
        for key, fn in routes.items()
    }
    return WebSocketApiSpec(
        logical_id="Api",
        api_id="abcde12345",
        name="test",
        route_selection_expression=expression,
        routes=specs,
        stage=stage,
        throttling_burst=burst,
        throttling_rate=rate,
    )


@contextlib.asynccontextmanager
async def running_gateway(
    api: WebSocketApiSpec, runtime: InProcessRuntime, **options: Any
) -> AsyncIterator[Gateway]:
    log = Log(open(os.devnull, "w"))  # closed below
    gateway = Gateway(api, runtime, log, GatewayOptions(**options))
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop()
        log.stream.close()


@contextlib.asynccontextmanager
async def running_management(gateway: Gateway, tls_dir: Any) -> AsyncIterator[Any]:
    """The @connections API for ``gateway`` on HTTP and HTTPS (a fresh local CA in ``tls_dir``)."""
    from local.management import ManagementApi
    from local.tls import ensure_certificates

    files = ensure_certificates(tls_dir)
    api = ManagementApi(gateway, gateway.log, ssl_context=files.server_context())
    await api.start()
    api.tls = files  # type: ignore[attr-defined]
    try:
        yield api
    finally:
        await api.stop()


def management_client(endpoint_url: str, *, verify: Any = None) -> Any:
    """boto3's own apigatewaymanagementapi client, unchanged, on a local endpoint."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    return session.client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint_url,
        verify=verify,
        config=Config(retries={"max_attempts": 1}),
    )
