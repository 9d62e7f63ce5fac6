"""Lambda emulation: each function in its own pool of worker processes.

``await runtime.invoke(logical_id, event)`` is a synchronous (RequestResponse) invocation;
``await runtime.invoke_async(logical_id, event)`` is an asynchronous (Event) one, with Lambda's
two retries on error. See ``docs/architecture.md`` for the contract the gateway and the event
sources rely on, and ``pool.py`` / ``worker.py`` for how a worker runs a handler.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from local.aws import lambda_env
from local.logs import Log
from local.model import Stack
from local.runtime.pool import FunctionPool, worker_env
from local.stats import Stats

__all__ = ["AsyncInvocation", "InvokeResult", "Runtime", "UnknownFunction"]

# Lambda's limit on a synchronous request and response payload.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
# Lambda retries a failed asynchronous invocation twice: about one and two minutes later.
LAMBDA_ASYNC_RETRY_DELAYS = (60.0, 120.0)
# Throttled asynchronous invocations are retried by Lambda for hours; locally, with backoff.
_THROTTLE_BACKOFF = (0.05, 2.0)

# Defaults under the template's own variables: there is no X-Ray daemon on this machine.
_QUIET_DEFAULTS = {"POWERTOOLS_TRACE_DISABLED": "true", "AWS_XRAY_SDK_ENABLED": "false"}


class UnknownFunction(KeyError):
    """No function with that logical id in the stack."""


@dataclass
class InvokeResult:
    """What a synchronous invocation returned, as the caller (gateway, poller) sees it."""

    ok: bool  # False when the handler raised, timed out, the worker died, or it was throttled
    payload: Any  # the handler's return value, JSON round-tripped (None on error)
    error: dict[str, Any] | None  # {"errorType", "errorMessage", "stackTrace"} like Lambda
    request_id: str
    duration_ms: float
    cold_start: bool = False
    throttled: bool = False  # refused past ReservedConcurrentExecutions (Lambda's 429)


@dataclass
class AsyncInvocation:
    """An accepted asynchronous invocation: its request id and the eventual final result."""

    request_id: str
    result: asyncio.Task[InvokeResult]


class Runtime:
    """The stack's functions, each in its own pool of worker processes."""

    def __init__(
        self,
        stack: Stack,
        *,
        base_env: dict[str, str],
        log: Log,
        max_workers: int = 4,
        python: str = sys.executable,
        async_retry_delays: Sequence[float] = LAMBDA_ASYNC_RETRY_DELAYS,
        init_timeout: float = 30.0,
        prewarm: bool = False,
        stats: Stats | None = None,
    ) -> None:
        self.stack = stack
        self.stats = stats  # the live view's counters (local.stats), fed as invocations end
        self.log = log
        self.async_retry_delays = tuple(async_retry_delays)
        self.prewarm = prewarm
        self._pools: dict[str, FunctionPool] = {}
        self._async: set[asyncio.Task[InvokeResult]] = set()
        self._stopping = False
        # An authorizer's `Unauthorized` error is a refusal (401), not a failure, in the log.
        self._authorizers = {
            route.authorizer.function
            for api in stack.websocket_apis
            for route in api.routes.values()
            if route.authorizer is not None
        }
        for lid, fn in stack.functions.items():
            env = worker_env(
                _QUIET_DEFAULTS, base_env, fn.environment, lambda_env(fn, region=stack.region)
            )
            self._pools[lid] = FunctionPool(
                fn, env, log, max_workers=max_workers, python=python, init_timeout=init_timeout
            )

    def pool(self, logical_id: str) -> FunctionPool:
        try:
            return self._pools[logical_id]
        except KeyError:
            raise UnknownFunction(logical_id) from None

    async def start(self) -> None:
        """Start (optionally warm one worker per function, failing loudly on import errors)."""
        self._stopping = False
        if self.prewarm:
            await asyncio.gather(*(p.prewarm() for p in self._pools.values()))

    async def stop(self) -> None:
        self._stopping = True
        for task in list(self._async):
            task.cancel()
        await asyncio.gather(*self._async, return_exceptions=True)
        await asyncio.gather(*(p.close() for p in self._pools.values()))

    async def invoke(
        self, logical_id: str, event: Any, *, request_id: str | None = None
    ) -> InvokeResult:
        """Invoke synchronously, like ``InvocationType=RequestResponse``."""
        pool = self.pool(logical_id)
        rid = request_id or str(uuid.uuid4())
        started = time.perf_counter()
        if self._stopping:
            return self._refused(rid, "Runtime.Stopping", "The local stack is stopping")
        if pool.throttled():
            self.log.warning(logical_id, "throttled: reserved concurrency reached", request_id=rid)
            result = self._refused(rid, "TooManyRequestsException", "Rate Exceeded.")
            result.throttled = True
            if self.stats is not None:
                self.stats.invocation(logical_id, throttled=True)
            return result
        event_json = json.dumps(event, default=str).encode()
        if len(event_json) > MAX_PAYLOAD_BYTES:
            return self._refused(
                rid,
                "RequestEntityTooLargeException",
                f"Request must be smaller than {MAX_PAYLOAD_BYTES} bytes for the Invoke operation",
            )
        outcome = await pool.invoke(rid, event_json)
        duration = (time.perf_counter() - started) * 1000
        if self.stats is not None:
            self.stats.invocation(
                logical_id, duration_ms=duration, ok=outcome.ok, cold_start=outcome.cold_start
            )
        if outcome.ok:
            self.log.debug(logical_id, f"REPORT duration {duration:.1f} ms", request_id=rid)
        else:
            self.log.function_error(
                logical_id,
                outcome.error or {},
                request_id=rid,
                refusal=logical_id in self._authorizers,
                duration_ms=round(duration, 1),
            )
        return InvokeResult(
            ok=outcome.ok,
            payload=outcome.payload if outcome.ok else None,
            error=None if outcome.ok else outcome.error,
            request_id=rid,
            duration_ms=duration,
            cold_start=outcome.cold_start,
        )

    async def invoke_async(self, logical_id: str, event: Any) -> AsyncInvocation:
        """Invoke like ``InvocationType=Event``: accepted at once, retried twice on error."""
        self.pool(logical_id)  # unknown ids fail here, like Lambda's 404, not in the background
        rid = str(uuid.uuid4())
        task = asyncio.create_task(self._run_async(logical_id, event, rid))
        self._async.add(task)
        task.add_done_callback(self._async.discard)
        return AsyncInvocation(rid, task)

    async def _run_async(self, logical_id: str, event: Any, rid: str) -> InvokeResult:
        attempt = 0
        throttles = 0
        while True:
            result = await self.invoke(logical_id, event, request_id=rid)
            if result.ok:
                return result
            if result.throttled:
                # Throttles do not use up the retry budget, as on Lambda.
                low, high = _THROTTLE_BACKOFF
                throttles += 1
                await asyncio.sleep(min(high, low * 2**throttles))
                continue
            if attempt >= len(self.async_retry_delays):
                self.log.error(
                    logical_id,
                    f"asynchronous invocation failed after {attempt + 1} attempts; event dropped",
                    request_id=rid,
                )
                return result
            delay = self.async_retry_delays[attempt]
            attempt += 1
            self.log.warning(
                logical_id, f"asynchronous retry {attempt} in {delay:g} s", request_id=rid
            )
            await asyncio.sleep(delay)

    def _refused(self, rid: str, error_type: str, message: str) -> InvokeResult:
        return InvokeResult(
            ok=False,
            payload=None,
            error={"errorType": error_type, "errorMessage": message, "stackTrace": []},
            request_id=rid,
            duration_ms=0.0,
        )
