"""Worker processes of one function, and the pool that grows them on demand.

Each worker is a subprocess running ``worker.py`` (see there for the protocol). A subprocess
rather than ``multiprocessing``: the worker must start with the function's environment only and
its own ``sys.path``, never a copy of this process's modules and variables, and JSON lines over
pipes is the cheapest IPC that asyncio reads natively.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.logs import Log
from local.model import FunctionSpec

__all__ = ["FunctionPool", "Outcome", "Worker"]

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
# Lambda's synchronous payload limit is 6 MB; lines may be a little larger than the payload.
_LINE_LIMIT = 16 * 1024 * 1024


@dataclass
class Outcome:
    """What one invocation on one worker produced."""

    ok: bool
    payload: Any = None
    error: dict[str, Any] | None = None
    cold_start: bool = False
    init_ms: float | None = None
    timed_out: bool = False


class WorkerDied(Exception):
    """The worker process exited (during init or an invocation)."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error["errorMessage"])
        self.error = error


class Worker:
    """One execution environment: one process, one invocation at a time."""

    def __init__(self, fn: FunctionSpec, env: dict[str, str], log: Log, python: str) -> None:
        self.fn = fn
        self.log = log
        self.python = python
        self.log_stream = (
            time.strftime("%Y/%m/%d/", time.gmtime()) + f"[$LATEST]{secrets.token_hex(16)}"
        )
        self.env = {**env, "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream}
        self.proc: asyncio.subprocess.Process | None = None
        self.rid: str | None = None
        self.used = False
        self.init_ms: float | None = None
        self._waiter: asyncio.Future[dict[str, Any]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._dead = False

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def alive(self) -> bool:
        return not self._dead and self.proc is not None and self.proc.returncode is None

    async def start(self, init_timeout: float) -> None:
        cfg = {
            "handler": self.fn.handler,
            "code_dir": str(self.fn.code_dir),
            "layer_dirs": [str(d) for d in self.fn.layer_dirs],
            "function_name": self.fn.name,
            "function_version": "$LATEST",
            "function_arn": self.fn.arn,
            "memory_mb": self.fn.memory_mb,
            "log_group_name": f"/aws/lambda/{self.fn.name}",
            "log_stream_name": self.log_stream,
        }
        self.proc = await asyncio.create_subprocess_exec(
            self.python,
            "-I",
            str(WORKER_SCRIPT),
            json.dumps(cfg),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
            cwd=str(self.fn.code_dir),
            limit=_LINE_LIMIT,
            # Ctrl-C goes to the terminal's whole process group; workers must outlive it so the
            # stack can still run $disconnect for every connection while it shuts down. They
            # exit on end of input when the stack closes them, or when it dies.
            start_new_session=True,
        )
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        self._tasks = [
            asyncio.create_task(self._read_protocol()),
            asyncio.create_task(self._read_stderr()),
        ]
        try:
            async with asyncio.timeout(init_timeout):
                msg = await self._waiter
        except TimeoutError:
            await self.kill()
            raise WorkerDied(
                {
                    "errorType": "Runtime.InitTimeout",
                    "errorMessage": f"Init did not finish within {init_timeout:.0f} seconds",
                    "stackTrace": [],
                }
            ) from None
        if msg["t"] != "ready":
            await self.kill()
            raise WorkerDied(msg["error"])
        self.init_ms = float(msg["init_ms"])

    async def invoke(self, rid: str, event_json: bytes, timeout: float) -> Outcome:
        assert self.proc is not None and self.proc.stdin is not None
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        self.rid = rid
        cold = not self.used
        self.used = True
        deadline_ms = int((time.time() + timeout) * 1000)
        head = f'{{"rid": "{rid}", "deadline_ms": {deadline_ms}, "event": '.encode()
        try:
            self.proc.stdin.write(head + event_json + b"}\n")
            await self.proc.stdin.drain()
            async with asyncio.timeout(timeout):
                msg = await self._waiter
        except TimeoutError:
            await self.kill()
            return Outcome(
                ok=False,
                error={
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": (
                        f"RequestId: {rid} Error: Task timed out after {timeout:.2f} seconds"
                    ),
                    "stackTrace": [],
                },
                cold_start=cold,
                timed_out=True,
            )
        except (BrokenPipeError, ConnectionResetError):
            msg = await self._waiter
        finally:
            self.rid = None
        init_ms = self.init_ms if cold else None
        if msg["t"] == "result":
            return Outcome(ok=True, payload=msg.get("payload"), cold_start=cold, init_ms=init_ms)
        return Outcome(ok=False, error=msg["error"], cold_start=cold, init_ms=init_ms)

    async def _read_protocol(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        stdout = self.proc.stdout
        source = self.fn.logical_id
        while True:
            raw = await stdout.readline()
            if not raw:
                break
            msg = json.loads(raw)
            if msg["t"] == "log":
                self.log.handler_output(source, msg["line"], request_id=msg["rid"])
            elif self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(msg)
        code = await self.proc.wait()
        self._dead = True
        if self._waiter is not None and not self._waiter.done():
            rid = self.rid
            prefix = f"RequestId: {rid} " if rid else ""
            self._waiter.set_result(
                {
                    "t": "error",
                    "error": {
                        "errorType": "Runtime.ExitError",
                        "errorMessage": (
                            f"{prefix}Error: Runtime exited with error: exit status {code}"
                        ),
                        "stackTrace": [],
                    },
                }
            )

    async def _read_stderr(self) -> None:
        # Only output that bypassed sys.stdout/sys.stderr lands here (C extensions, child
        # processes, a crash before the bootstrap took over); tag it with the current request.
        assert self.proc is not None and self.proc.stderr is not None
        while True:
            raw = await self.proc.stderr.readline()
            if not raw:
                break
            self.log.handler_output(
                self.fn.logical_id, raw.decode("utf-8", "replace"), request_id=self.rid
            )

    async def kill(self) -> None:
        self._dead = True
        if self.proc is not None and self.proc.returncode is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
            await self.proc.wait()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self, grace: float) -> None:
        """Let the worker exit on end of input; kill it if it does not within ``grace``."""
        self._dead = True
        if self.proc is not None and self.proc.returncode is None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            try:
                async with asyncio.timeout(grace):
                    await self.proc.wait()
            except TimeoutError:
                pass
        await self.kill()


class FunctionPool:
    """The execution environments of one function: reused warm, grown on demand up to a cap."""

    def __init__(
        self,
        fn: FunctionSpec,
        env: dict[str, str],
        log: Log,
        *,
        max_workers: int,
        python: str = sys.executable,
        init_timeout: float = 30.0,
    ) -> None:
        self.fn = fn
        self.env = env
        self.log = log
        self.python = python
        self.init_timeout = init_timeout
        cap = max_workers
        if fn.reserved_concurrency is not None:
            cap = min(cap, fn.reserved_concurrency)
        self.cap = max(cap, 1)
        self._slots = asyncio.Semaphore(self.cap)
        self._idle: list[Worker] = []
        self._all: set[Worker] = set()
        self.in_flight = 0

    @property
    def workers(self) -> int:
        return len(self._all)

    def throttled(self) -> bool:
        """Lambda refuses (429) what goes past the function's reserved concurrency."""
        limit = self.fn.reserved_concurrency
        return limit is not None and self.in_flight >= limit

    async def invoke(self, rid: str, event_json: bytes) -> Outcome:
        self.in_flight += 1
        try:
            async with self._slots:
                worker = self._take_idle()
                if worker is None:
                    worker = Worker(self.fn, self.env, self.log, self.python)
                    self._all.add(worker)
                    try:
                        await worker.start(self.init_timeout)
                    except WorkerDied as exc:
                        self._all.discard(worker)
                        return Outcome(ok=False, error=exc.error, cold_start=True)
                    self._log_cold_start(worker, rid)
                try:
                    outcome = await worker.invoke(rid, event_json, self.fn.timeout)
                except BaseException:
                    # Cancelled mid-invocation: the worker's state is unknown, so drop it.
                    self._all.discard(worker)
                    await asyncio.shield(worker.kill())
                    raise
                if worker.alive:
                    self._idle.append(worker)
                else:
                    self._all.discard(worker)
                    if not outcome.timed_out:
                        await worker.kill()
                return outcome
        finally:
            self.in_flight -= 1

    def _log_cold_start(self, worker: Worker, rid: str | None) -> None:
        init_ms = worker.init_ms or 0.0
        self.log.info(
            self.fn.logical_id,
            f"cold start: init {init_ms:.1f} ms (worker pid {worker.pid})",
            request_id=rid,
            init_ms=round(init_ms, 1),
        )

    async def prewarm(self) -> None:
        """Start one worker now, so import errors show at start-up rather than at first use."""
        async with self._slots:
            worker = Worker(self.fn, self.env, self.log, self.python)
            try:
                await worker.start(self.init_timeout)
            except WorkerDied as exc:
                # Name the function: at start-up the message is all the user sees.
                error = {**exc.error, "errorMessage": f"{self.fn.logical_id}: {exc}"}
                raise WorkerDied(error) from None
            self._log_cold_start(worker, None)
            self._all.add(worker)
            self._idle.append(worker)

    def _take_idle(self) -> Worker | None:
        # Most recently used first: its caches are warm, and the others may idle.
        while self._idle:
            worker = self._idle.pop()
            if worker.alive:
                return worker
            self._all.discard(worker)
        return None

    async def close(self, grace: float = 1.0) -> None:
        workers = list(self._all)
        self._all.clear()
        self._idle.clear()
        await asyncio.gather(*(w.close(grace) for w in workers), return_exceptions=True)


def worker_env(*layers: dict[str, str]) -> dict[str, str]:
    """Merge environment layers, later ones winning; ``PATH`` comes from this process."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for layer in layers:
        env.update(layer)
    return env
