"""Wake the stream pollers when the embedded AWS has taken a write, instead of sleeping.

Lambda reads each shard about four times a second; the local stack used to read every 100 ms,
which cost two requests per shard ten times a second when idle and still added 50 ms on average
to every delivery. The embedded moto numbers the writes it takes per table
(``GET /_local/writes``, local/moto_http.py); :class:`WriteWatch` keeps one long poll open per
watched table and wakes the shard tasks of that table when a write lands. A shard then reads as
soon as its record can exist, and an idle shard reads only every ``idle_interval`` seconds (a
safety net: records are never missed, only read later, if a wake-up is lost).

Against real AWS or an endpoint without ``/_local/writes`` (a plain moto server), the watch is
off and the pollers sleep ``poll_interval`` as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import aiohttp

__all__ = ["WriteWatch"]

_LONG_POLL = 20.0


class WriteWatch:
    """Write generations of one table of the embedded AWS, followed by a long poll."""

    def __init__(self, endpoint_url: str | None, table: str) -> None:
        self.endpoint_url = endpoint_url
        self.table = table
        self.generation = -1
        self.active = False
        self.waiting = 0  # shard tasks waiting for a write now
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if not self.endpoint_url:
            return
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=_LONG_POLL + 10))
        first = await self._fetch(-1, 0.0)
        if first is None:
            await self._session.close()
            self._session = None
            return
        self.generation = first
        self.active = True
        self._task = asyncio.create_task(self._follow())

    async def stop(self) -> None:
        self.active = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._changed.set()

    async def wait(self, seen: int, timeout: float) -> None:
        """Return once a write past generation ``seen`` has landed, or after ``timeout``."""
        if self.generation > seen:
            return
        self.waiting += 1
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)
        finally:
            self.waiting -= 1

    async def _follow(self) -> None:
        failures = 0
        while True:
            got = await self._fetch(self.generation, _LONG_POLL)
            if got is None:
                # The endpoint went away (stopping, restarting): the pollers' own interval
                # still reads every shard; try again a little later.
                failures += 1
                await asyncio.sleep(min(5.0, 0.1 * failures))
                continue
            failures = 0
            if got > self.generation:
                self.generation = got
                changed, self._changed = self._changed, asyncio.Event()
                changed.set()

    async def _fetch(self, after: int, wait: float) -> int | None:
        assert self._session is not None
        url = f"{self.endpoint_url}/_local/writes"
        params: dict[str, Any] = {"table": self.table, "after": str(after), "wait": str(wait)}
        try:
            async with self._session.get(url, params=params) as answer:
                if answer.status != 200:
                    return None
                body = json.loads(await answer.read())
                return int(body["generation"])
        except (TimeoutError, aiohttp.ClientError, ValueError, KeyError, TypeError):
            return None
