"""The live view's counters (``local.stats``): pure, on a clock the test moves."""

from __future__ import annotations

import asyncio
import json

import pytest

from local.logs import LogRecord
from local.stats import Series, Stats, percentile


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def emf(**metrics: list[float]) -> LogRecord:
    blob = {
        "_aws": {
            "Timestamp": 0,
            "CloudWatchMetrics": [
                {
                    "Namespace": "ServerlessChat",
                    "Dimensions": [["service"]],
                    "Metrics": [{"Name": n, "Unit": "Count"} for n in metrics],
                }
            ],
        },
        "service": "chat",
        **metrics,
    }
    return LogRecord(0.0, "BroadcastFunction", json.dumps(blob), structured=blob)


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 99) == 5.0
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0


def test_series_sums_per_second_and_forgets_what_left_the_window() -> None:
    series = Series(window=5)
    series.add(1, 10.2)
    series.add(2, 10.9)
    series.add(4, 12.0)
    assert series.values(12.5) == [0, 0, 3, 0, 4]
    assert series.rate(13.0, seconds=3) == pytest.approx((3 + 0 + 4) / 3)
    # Five seconds later second 10's bucket is reused for second 15.
    series.add(1, 15.0)
    assert series.values(15.0) == [0, 4, 0, 0, 1]


def test_a_gauge_keeps_its_last_value_between_samples() -> None:
    series = Series(window=4)
    series.set(3, 10.0)
    series.set(5, 11.0)
    assert series.values(13.0, carry=True) == [3, 5, 5, 5]
    assert series.values(13.0) == [3, 5, 0, 0]


def test_invocations_errors_throttles_cold_starts_and_durations_per_function() -> None:
    clock = Clock()
    stats = Stats(clock=clock)
    stats.invocation("ChatFunction", duration_ms=10, cold_start=True)
    for ms in (20, 30, 40):
        stats.invocation("ChatFunction", duration_ms=ms)
    stats.invocation("ChatFunction", duration_ms=500, ok=False)
    stats.invocation("ChatFunction", throttled=True)
    clock.now += 1
    chat = stats.snapshot()["functions"]["ChatFunction"]
    assert (chat["invocations"], chat["errors"], chat["throttles"], chat["coldStarts"]) == (
        5,
        1,
        1,
        1,
    )
    assert (chat["p50Ms"], chat["p99Ms"]) == (30.0, 500.0)
    assert chat["perSecond"][-2:] == [5, 0] and chat["errorsPerSecond"][-2:] == [1, 0]


def test_the_apps_emf_metrics_and_the_gateways_frames_are_read_from_the_log() -> None:
    clock = Clock()
    stats = Stats(clock=clock)
    stats.observe(emf(MessagesStored=[1.0]))
    stats.observe(emf(Deliveries=[2.0, 3.0], DeliveryLatency=[12.0, 30.0]))
    stats.observe(LogRecord(0.0, "gateway", "message send 200", fields={"access": "message"}))
    stats.observe(LogRecord(0.0, "gateway", "connect", fields={"access": "connect"}))
    stats.observe(LogRecord(0.0, "ChatFunction", "not json", structured=None))
    snap = stats.snapshot()
    assert snap["rates"]["MessagesStored"]["total"] == 1
    assert snap["rates"]["Deliveries"]["total"] == 5
    assert snap["rates"]["Frames"]["total"] == 1
    assert snap["deliveryLatencyMs"] == {"p50": 12.0, "p99": 30.0, "count": 2}
    json.dumps(snap)  # what /_local/stats answers must be plain JSON


async def test_gauges_are_sampled_only_while_someone_watches() -> None:
    clock = Clock()
    stats = Stats(clock=clock)
    reads: list[str] = []

    def depth() -> float:
        reads.append("queue")
        return 7

    def broken() -> float:
        raise RuntimeError("queue deleted")

    stats.add_gauge("connections", lambda: 3)
    stats.add_gauge("queue:FanoutQueue", depth, blocking=True)
    stats.add_gauge("queue:Gone", broken, blocking=True)
    assert await stats.tick() is False and reads == []  # nobody has asked for a snapshot
    stats.snapshot()
    assert await stats.tick() is True and reads == ["queue"]
    gauges = stats.snapshot()["gauges"]
    assert gauges["connections"]["value"] == 3
    assert gauges["queue:FanoutQueue"]["value"] == 7
    assert gauges["queue:FanoutQueue"]["series"][-1] == 7
    assert gauges["queue:Gone"]["value"] is None  # a failing read is skipped, not raised
    clock.now += 11  # the page stopped polling
    assert await stats.tick() is False and reads == ["queue"]


async def test_the_sampler_runs_until_cancelled() -> None:
    stats = Stats()
    sampled = asyncio.Event()
    stats.add_gauge("connections", lambda: sampled.set() or 1)
    stats.snapshot()
    runner = asyncio.create_task(stats.run(interval=0.01))
    await asyncio.wait_for(sampled.wait(), timeout=5)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    assert runner.cancelled()
