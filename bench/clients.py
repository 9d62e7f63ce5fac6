"""WebSocket client processes: each holds a share of the connections and timestamps receipts.

A :class:`ClientPool` starts P processes (each with its own open-files budget and event loop) and
drives them over pipes. A connection records, for every frame that carries a benchmark marker
(``bm:<key>;``), when it first arrived (``time.monotonic_ns``: one clock for every process on
the machine) and how often it arrived again (duplicates). Nothing here keeps frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench.common import raise_fd_limit, rss_bytes

MARK = "bm:"


class _Conn:
    __slots__ = ("ws", "received", "dups", "joined", "closed", "task")

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.received: dict[str, int] = {}
        self.dups = 0
        self.joined: asyncio.Future[None] | None = None
        self.closed = False
        self.task: asyncio.Task[None] | None = None


async def _reader(conn: _Conn) -> None:
    try:
        async for frame in conn.ws:
            if not isinstance(frame, str):
                continue
            at = frame.find(MARK)
            if at >= 0:
                end = frame.find(";", at)
                key = frame[at + 3 : end]
                if key in conn.received:
                    conn.dups += 1
                else:
                    conn.received[key] = time.monotonic_ns()
            elif conn.joined is not None and '"joined"' in frame:
                if not conn.joined.done():
                    conn.joined.set_result(None)
    except ConnectionClosed:
        pass
    finally:
        conn.closed = True


class _Worker:
    def __init__(self) -> None:
        self.groups: dict[str, list[_Conn]] = {}

    async def connect(
        self, tag: str, url: str, tokens: Sequence[str | None], concurrency: int, timeout: float
    ) -> dict[str, Any]:
        group = self.groups.setdefault(tag, [])
        gate = asyncio.Semaphore(concurrency)
        latencies: list[float] = []
        errors: dict[str, int] = {}
        finished: list[int] = []

        async def one(token: str | None) -> None:
            target = url if token is None else f"{url}?token={token}"
            async with gate:
                begun = time.monotonic_ns()
                try:
                    ws = await connect(
                        target,
                        compression=None,
                        open_timeout=timeout,
                        close_timeout=2,
                        max_size=None,
                        ping_interval=None,
                    )
                except InvalidStatus as exc:
                    key = f"http_{exc.response.status_code}"
                    errors[key] = errors.get(key, 0) + 1
                    return
                except Exception as exc:  # noqa: BLE001 (refused, reset, timed out: count it)
                    key = type(exc).__name__
                    errors[key] = errors.get(key, 0) + 1
                    return
                done = time.monotonic_ns()
            latencies.append((done - begun) / 1e6)
            finished.append(done)
            conn = _Conn(ws)
            conn.task = asyncio.create_task(_reader(conn))
            group.append(conn)

        started = time.monotonic_ns()
        await asyncio.gather(*(one(t) for t in tokens))
        return {
            "latency_ms": latencies,
            "errors": errors,
            "started_ns": started,
            "finished_ns": finished,
            "open": sum(1 for c in group if not c.closed),
        }

    async def send(self, tag: str, index: int, text: str) -> tuple[int, float]:
        """Send one frame; its monotonic time (ns) and wall-clock time (s, for the stack log)."""
        conn = self.groups[tag][index]
        sent = time.monotonic_ns()
        wall = time.time()
        await conn.ws.send(text)
        return sent, wall

    async def join(
        self, tag: str, room: str, concurrency: int, timeout: float, deadline: float
    ) -> dict[str, Any]:
        """Each connection sends ``join`` and waits for ``joined``, ``concurrency`` at a time."""
        group = self.groups[tag]
        gate = asyncio.Semaphore(concurrency)
        latencies: list[float] = []
        errors = 0
        loop = asyncio.get_running_loop()
        end = time.monotonic() + deadline

        async def one(conn: _Conn) -> None:
            nonlocal errors
            async with gate:
                if time.monotonic() > end:
                    errors += 1
                    return
                conn.joined = loop.create_future()
                begun = time.monotonic_ns()
                try:
                    await conn.ws.send(f'{{"action":"join","room":"{room}","ref":"j"}}')
                    await asyncio.wait_for(conn.joined, timeout)
                except (ConnectionClosed, TimeoutError):
                    errors += 1
                    return
                latencies.append((time.monotonic_ns() - begun) / 1e6)

        await asyncio.gather(*(one(c) for c in group))
        return {"latency_ms": latencies, "errors": errors}

    async def wait(self, tag: str, key: str, timeout: float) -> dict[str, Any]:
        """Wait until every open connection of the group has ``key`` (or the timeout)."""
        group = self.groups.get(tag, [])
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if all(key in c.received for c in group if not c.closed):
                break
            await asyncio.sleep(0.005)
        times = [c.received[key] for c in group if key in c.received]
        return {
            "times_ns": times,
            "missing": sum(1 for c in group if key not in c.received),
            "closed": sum(1 for c in group if c.closed),
        }

    def dups(self, tag: str) -> int:
        return sum(c.dups for c in self.groups.get(tag, []))

    async def close(self, tag: str) -> int:
        group = self.groups.pop(tag, [])
        await asyncio.gather(*(c.ws.close() for c in group), return_exceptions=True)
        for c in group:
            if c.task is not None:
                c.task.cancel()
        return len(group)

    def abort(self, tag: str) -> int:
        """Drop the sockets without a closing handshake (quick teardown of thousands)."""
        group = self.groups.pop(tag, [])
        for c in group:
            transport = c.ws.transport
            if transport is not None:
                transport.abort()
            if c.task is not None:
                c.task.cancel()
        return len(group)


async def _serve(pipe: Connection) -> None:
    worker = _Worker()
    loop = asyncio.get_running_loop()
    while True:
        request = await loop.run_in_executor(None, pipe.recv)
        op, args = request[0], request[1:]
        try:
            if op == "quit":
                for tag in list(worker.groups):
                    worker.abort(tag)
                pipe.send(("ok", None))
                return
            if op == "connect":
                result: Any = await worker.connect(*args)
            elif op == "send":
                result = await worker.send(*args)
            elif op == "join":
                result = await worker.join(*args)
            elif op == "wait":
                result = await worker.wait(*args)
            elif op == "dups":
                result = worker.dups(*args)
            elif op == "close":
                result = await worker.close(*args)
            elif op == "abort":
                result = worker.abort(*args)
            elif op == "rss":
                import os

                result = rss_bytes(os.getpid())
            else:
                raise ValueError(f"unknown operation {op}")
        except Exception as exc:  # report, keep serving
            pipe.send(("error", f"{type(exc).__name__}: {exc}"))
            continue
        pipe.send(("ok", result))


def _main(pipe: Connection) -> None:
    raise_fd_limit()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(pipe))


class ClientPool:
    """P client processes; calls fan out to all of them (or one) and wait for their answers."""

    def __init__(self, processes: int) -> None:
        ctx = mp.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs: list[Any] = []
        for _ in range(processes):
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=_main, args=(theirs,), daemon=True)
            proc.start()
            self.pipes.append(ours)
            self.procs.append(proc)

    def __len__(self) -> int:
        return len(self.pipes)

    def _ask(self, index: int, *request: Any) -> None:
        self.pipes[index].send(request)

    def _answer(self, index: int, timeout: float) -> Any:
        pipe = self.pipes[index]
        if not pipe.poll(timeout):
            raise TimeoutError(f"client process {index} did not answer in {timeout:.0f}s")
        status, value = pipe.recv()
        if status != "ok":
            raise RuntimeError(f"client process {index}: {value}")
        return value

    def each(self, requests: Sequence[tuple[Any, ...]], timeout: float) -> list[Any]:
        """Send request i to process i (all at once), then collect every answer."""
        for i, request in enumerate(requests):
            self._ask(i, *request)
        end = time.monotonic() + timeout
        return [self._answer(i, max(0.1, end - time.monotonic())) for i in range(len(requests))]

    def all(self, *request: Any, timeout: float) -> list[Any]:
        return self.each([request] * len(self.pipes), timeout)

    def one(self, index: int, *request: Any, timeout: float) -> Any:
        self._ask(index, *request)
        return self._answer(index, timeout)

    def close(self) -> None:
        for i in range(len(self.pipes)):
            with contextlib.suppress(Exception):
                self._ask(i, "quit")
        for i, proc in enumerate(self.procs):
            with contextlib.suppress(Exception):
                self._answer(i, 10)
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join(5)

    def __enter__(self) -> ClientPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def split(items: Sequence[Any], parts: int) -> list[list[Any]]:
    """Round-robin ``items`` into ``parts`` lists."""
    return [list(items[i::parts]) for i in range(parts)]
