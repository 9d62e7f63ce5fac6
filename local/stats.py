"""Live figures of the local stack for its page ``/_local/`` (served as ``/_local/stats``).

What CloudWatch would show for a deployed stack, kept in memory for the last minute: per function
invocations, errors, throttles, cold starts and p50/p99 duration (fed by the runtime as each
invocation completes); the app's own EMF metrics (messages stored, deliveries, gone connections,
``@connections`` 429s, delivery latency) and the gateway's message frames (read from the stack
log, where the handlers' structured lines and the access lines already pass); open connections
and queue depths (gauges, sampled once a second while someone is looking at the page).

The core is pure: :class:`Stats` takes a clock, and :meth:`Stats.snapshot` turns what was counted
into plain JSON. Only :meth:`Stats.run` does I/O (it samples the gauges).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from local.logs import LogRecord

__all__ = ["Gauge", "Series", "Stats", "percentile"]

WINDOW_SECONDS = 60
_DURATIONS_KEPT = 2000
# Gauges are sampled only while the page polls: nobody watching costs nothing.
_WATCH_SECONDS = 10.0
# The app's EMF counters worth a live line (names from chatcore.observability).
_APP_COUNTERS = ("MessagesStored", "Deliveries", "GoneConnections", "ThrottledPosts", "FailedPosts")


def percentile(values: Iterable[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of ``values``; None when there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return float(ordered[rank - 1])


class Series:
    """Per-second sums over the last ``window`` seconds (a ring of buckets keyed by second)."""

    def __init__(self, window: int = WINDOW_SECONDS) -> None:
        self.window = window
        self._seconds = [-1] * window
        self._values = [0.0] * window

    def add(self, value: float, now: float) -> None:
        second = int(now)
        slot = second % self.window
        if self._seconds[slot] != second:
            self._seconds[slot] = second
            self._values[slot] = 0.0
        self._values[slot] += value

    def set(self, value: float, now: float) -> None:
        second = int(now)
        slot = second % self.window
        self._seconds[slot] = second
        self._values[slot] = value

    def values(self, now: float, *, carry: bool = False) -> list[float]:
        """Oldest first, ending with the current (still filling) second.

        ``carry``: a second with nothing recorded repeats the one before (a gauge not sampled
        yet this second still has its last value); otherwise it is 0 (nothing counted).
        """
        current = int(now)
        out = []
        previous = 0.0
        for second in range(current - self.window + 1, current + 1):
            slot = second % self.window
            if self._seconds[slot] == second:
                previous = self._values[slot]
                out.append(previous)
            else:
                out.append(previous if carry else 0.0)
        return out

    def rate(self, now: float, seconds: int = 5) -> float:
        """Average per second over the last ``seconds`` complete seconds."""
        done = self.values(now)[:-1]
        recent = done[-seconds:]
        return sum(recent) / len(recent) if recent else 0.0


@dataclass
class _Function:
    invocations: int = 0
    errors: int = 0
    throttles: int = 0
    cold_starts: int = 0
    durations: deque[float] = field(default_factory=lambda: deque(maxlen=_DURATIONS_KEPT))
    per_second: Series = field(default_factory=Series)
    errors_per_second: Series = field(default_factory=Series)


@dataclass
class Gauge:
    """A value read now: cheap ones inline, ``blocking`` ones (an AWS call) in a thread."""

    read: Callable[[], float]
    blocking: bool = False
    series: Series = field(default_factory=Series)
    last: float | None = None


class Stats:
    """Counters and series of one running stack; see the module docstring."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.started = clock()
        self.functions: dict[str, _Function] = {}
        self.counters: dict[str, int] = {}
        self.series: dict[str, Series] = {}
        self.latencies: deque[float] = deque(maxlen=_DURATIONS_KEPT)
        self.gauges: dict[str, Gauge] = {}
        self._watched_until = 0.0
        # The log calls observe() from whichever thread wrote the line (moto's, the loop's).
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ feeding

    def invocation(
        self,
        function: str,
        *,
        duration_ms: float = 0.0,
        ok: bool = True,
        cold_start: bool = False,
        throttled: bool = False,
    ) -> None:
        """One invocation finished (or was refused past reserved concurrency)."""
        with self._lock:
            self._invocation(function, duration_ms, ok, cold_start, throttled)

    def _invocation(
        self, function: str, duration_ms: float, ok: bool, cold_start: bool, throttled: bool
    ) -> None:
        now = self.clock()
        fn = self.functions.setdefault(function, _Function())
        if throttled:
            fn.throttles += 1
            return
        fn.invocations += 1
        fn.per_second.add(1, now)
        fn.durations.append(duration_ms)
        if cold_start:
            fn.cold_starts += 1
        if not ok:
            fn.errors += 1
            fn.errors_per_second.add(1, now)

    def count(self, name: str, value: float = 1) -> None:
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + int(value)
            self.series.setdefault(name, Series()).add(value, self.clock())

    def observe(self, record: LogRecord) -> None:
        """Log listener: the handlers' EMF metrics and the gateway's message frames."""
        structured = record.structured
        if structured is not None and "_aws" in structured:
            self._emf(structured)
            return
        if record.fields.get("access") == "message":
            self.count("Frames")

    def _emf(self, blob: Mapping[str, Any]) -> None:
        try:
            definitions = blob["_aws"]["CloudWatchMetrics"]
            names = {m["Name"] for d in definitions for m in d["Metrics"]}
        except (KeyError, TypeError):
            return
        for name in names:
            raw = blob.get(name)
            values = raw if isinstance(raw, list) else [raw]
            numbers = [float(v) for v in values if isinstance(v, int | float)]
            if name == "DeliveryLatency":
                with self._lock:
                    self.latencies.extend(numbers)
            elif name in _APP_COUNTERS or name == "RejectedFrames":
                self.count(name, sum(numbers))

    def add_gauge(self, name: str, read: Callable[[], float], *, blocking: bool = False) -> None:
        self.gauges[name] = Gauge(read, blocking)

    # ------------------------------------------------------------------ sampling

    async def sample(self) -> None:
        """Read every gauge once (the blocking ones in a thread); a failing read is skipped."""
        now = self.clock()
        for gauge in self.gauges.values():
            try:
                value = await asyncio.to_thread(gauge.read) if gauge.blocking else gauge.read()
            except Exception:  # noqa: BLE001 (a queue gone, AWS stopping: try again next second)
                continue
            gauge.last = float(value)
            gauge.series.set(gauge.last, now)

    async def tick(self) -> bool:
        """Sample the gauges if someone asked for a snapshot in the last few seconds."""
        if self.clock() >= self._watched_until:
            return False
        await self.sample()
        return True

    async def run(self, interval: float = 1.0) -> None:
        """Tick every ``interval`` seconds, until cancelled (the stack's stop)."""
        while True:
            await self.tick()
            await asyncio.sleep(interval)

    # ------------------------------------------------------------------ reading

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return self._snapshot()

    def _snapshot(self) -> dict[str, Any]:
        now = self.clock()
        self._watched_until = now + _WATCH_SECONDS
        functions = {}
        for name, fn in sorted(self.functions.items()):
            functions[name] = {
                "invocations": fn.invocations,
                "errors": fn.errors,
                "throttles": fn.throttles,
                "coldStarts": fn.cold_starts,
                "meanMs": _round(sum(fn.durations) / len(fn.durations)) if fn.durations else None,
                "p50Ms": _round(percentile(fn.durations, 50)),
                "p99Ms": _round(percentile(fn.durations, 99)),
                "perSecond": fn.per_second.values(now),
                "errorsPerSecond": fn.errors_per_second.values(now),
            }
        rates = {}
        for name in ("Frames", "MessagesStored", "Deliveries"):
            series = self.series.get(name) or Series()
            rates[name] = {
                "total": self.counters.get(name, 0),
                "perSecondNow": round(series.rate(now), 2),
                "perSecond": series.values(now),
            }
        return {
            "at": now,
            "uptimeSeconds": round(now - self.started, 1),
            "windowSeconds": WINDOW_SECONDS,
            "functions": functions,
            "rates": rates,
            "counters": dict(sorted(self.counters.items())),
            "deliveryLatencyMs": {
                "p50": _round(percentile(self.latencies, 50)),
                "p99": _round(percentile(self.latencies, 99)),
                "count": len(self.latencies),
            },
            "gauges": {
                name: {"value": g.last, "series": g.series.values(now, carry=True)}
                for name, g in self.gauges.items()
            },
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
