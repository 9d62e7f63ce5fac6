"""The floor: a bare ``websockets`` server that broadcasts one payload to everyone connected.

No authorizer, no Lambda, no database, no ``@connections`` hop: one process, one event loop,
``websockets.broadcast`` over the open connections. Driven over a pipe by the benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import os
import time
from multiprocessing.connection import Connection
from typing import Any

from websockets.asyncio.server import ServerConnection, broadcast, serve

from bench.common import raise_fd_limit, rss_bytes


async def _serve(pipe: Connection) -> None:
    clients: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        clients.add(ws)
        try:
            await ws.wait_closed()
        finally:
            clients.discard(ws)

    loop = asyncio.get_running_loop()
    async with serve(
        handler,
        "127.0.0.1",
        0,
        compression=None,
        ping_interval=None,
        max_size=(131072, 32768),
        backlog=4096,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        pipe.send(("ok", port))
        while True:
            request = await loop.run_in_executor(None, pipe.recv)
            op = request[0]
            if op == "quit":
                pipe.send(("ok", None))
                return
            if op == "broadcast":
                payload: str = request[1]
                begun = time.monotonic_ns()
                broadcast(clients, payload)
                returned = time.monotonic_ns()
                result: Any = {"sent_ns": begun, "returned_ns": returned, "clients": len(clients)}
            elif op == "count":
                result = len(clients)
            elif op == "rss":
                result = rss_bytes(os.getpid())
            else:
                pipe.send(("error", f"unknown operation {op}"))
                continue
            pipe.send(("ok", result))


def _main(pipe: Connection) -> None:
    raise_fd_limit()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(pipe))


class FloorServer:
    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self.pipe, theirs = ctx.Pipe()
        self.proc = ctx.Process(target=_main, args=(theirs,), daemon=True)
        self.proc.start()
        self.port = int(self._answer(60))
        self.url = f"ws://127.0.0.1:{self.port}/"

    def _answer(self, timeout: float) -> Any:
        if not self.pipe.poll(timeout):
            raise TimeoutError("the floor server did not answer")
        status, value = self.pipe.recv()
        if status != "ok":
            raise RuntimeError(value)
        return value

    def call(self, *request: Any, timeout: float = 60) -> Any:
        self.pipe.send(request)
        return self._answer(timeout)

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call("quit", timeout=10)
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)

    def __enter__(self) -> FloorServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
