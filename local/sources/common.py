"""What every poller shares: a thread pool for blocking boto3 calls, ARN helpers, options."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["Blocking", "SourceOptions", "arn_name", "as_bool", "as_int", "table_from_stream_arn"]

T = TypeVar("T")


@dataclass
class SourceOptions:
    """Knobs of the local event sources. Defaults are Lambda's where Lambda has one."""

    starting_position: str | None = None  # overrides the template's (LATEST / TRIM_HORIZON)
    poll_interval: float = 0.1  # an idle shard is read this often (Lambda: 4 times a second)
    # With the embedded AWS a write wakes its stream's shards at once (sources/wakeup.py), and
    # an idle shard is read only this often.
    idle_poll_interval: float = 1.0
    wake_on_write: bool = True
    retry_base_delay: float = 0.5  # first stream retry; doubles up to retry_max_delay
    retry_max_delay: float = 30.0
    sqs_wait_seconds: int = 1  # short long-polls keep shutdown prompt
    sqs_concurrency: int = 4  # batches of one queue in flight at once (Lambda scales further)
    ttl_interval: float = 10.0  # seconds between TTL sweeps; 0 disables the sweeper
    executor_threads: int = 32


class Blocking:
    """Runs blocking boto3 calls off the event loop on a pool of our own.

    Not ``asyncio.to_thread``: the loop's default pool has ``cpu + 4`` threads, and a few SQS
    long-polls would starve everything else that uses it.
    """

    def __init__(self, threads: int) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="local-sources")

    async def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def arn_name(arn_or_url: str) -> str:
    """The resource name at the end of an SQS/SNS ARN or a queue URL."""
    return arn_or_url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]


def table_from_stream_arn(arn: str) -> str:
    """``arn:aws:dynamodb:r:a:table/<name>/stream/<label>`` -> ``<name>``."""
    marker = ":table/"
    if marker not in arn:
        raise ValueError(f"not a DynamoDB table or stream ARN: {arn}")
    return arn.split(marker, 1)[1].split("/", 1)[0]


def as_int(value: Any, default: int) -> int:
    return default if value is None or value == "" else int(value)


def as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)
