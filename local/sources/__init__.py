"""Event sources with Lambda's semantics: DynamoDB Streams, SNS, SQS, and the TTL sweeper.

``EventSources(stack, runtime, aws, log)`` reads each function's ``Events`` and runs one poller
per event (an asyncio task or a few), all reading the embedded AWS through real boto3 clients.
``await sources.start()`` resolves every stream, queue and topic first, so a template naming one
that does not exist fails at start-up, and a LATEST stream position means "from start-up".
"""

from __future__ import annotations

from typing import Any, Protocol

from local.logs import Log
from local.model import Stack
from local.runtime import Runtime
from local.sources.common import Blocking, SourceOptions
from local.sources.queues import SnsPoller, SqsPoller
from local.sources.streams import StreamPoller
from local.sources.ttl import TtlDeletions, TtlSweeper
from local.sources.wakeup import WriteWatch

__all__ = [
    "EventSources",
    "SnsPoller",
    "SourceOptions",
    "SqsPoller",
    "StreamPoller",
    "TtlDeletions",
    "TtlSweeper",
]


class _Aws(Protocol):
    region: str

    def client(self, service: str) -> Any: ...


class _Poller(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class EventSources:
    """Every event source of a stack, plus the TTL sweeper."""

    def __init__(
        self,
        stack: Stack,
        runtime: Runtime,
        aws: _Aws,
        log: Log,
        *,
        options: SourceOptions | None = None,
    ) -> None:
        self.stack = stack
        self.runtime = runtime
        self.log = log
        self.options = options or SourceOptions()
        self.blocking = Blocking(self.options.executor_threads)
        self.clients = {s: aws.client(s) for s in ("dynamodb", "dynamodbstreams", "sqs", "sns")}
        self.ttl_deletions = TtlDeletions()
        self.sweeper = TtlSweeper(
            self.clients["dynamodb"],
            blocking=self.blocking,
            log=log,
            interval=self.options.ttl_interval,
            deletions=self.ttl_deletions,
        )
        self.pollers: list[_Poller] = []
        # One write watch per table with a stream mapping, on the embedded AWS only.
        self.watches: dict[str, WriteWatch] = {}
        endpoint = None if getattr(aws, "real", False) else getattr(aws, "endpoint_url", None)
        region = aws.region
        for fn in stack.functions.values():
            for spec in fn.events:
                common: dict[str, Any] = {
                    "runtime": runtime,
                    "blocking": self.blocking,
                    "log": log,
                    "options": self.options,
                }
                poller: _Poller
                if spec.type == "DynamoDB":
                    poller = StreamPoller(
                        fn,
                        spec,
                        clients=self.clients,
                        region=region,
                        ttl_deletions=self.ttl_deletions,
                        **common,
                    )
                    if self.options.wake_on_write and endpoint:
                        poller.watch = self.watches.setdefault(
                            poller.table, WriteWatch(endpoint, poller.table)
                        )
                elif spec.type == "SQS":
                    poller = SqsPoller(fn, spec, sqs=self.clients["sqs"], region=region, **common)
                elif spec.type == "SNS":
                    poller = SnsPoller(
                        fn, spec, sqs=self.clients["sqs"], sns=self.clients["sns"], **common
                    )
                elif spec.type in ("S3", "HttpApi"):
                    continue  # not polled: the local S3 and the HTTP API invoke these
                else:
                    raise ValueError(
                        f"{fn.logical_id}.Events.{spec.name}.Type: {spec.type} is not emulated"
                    )
                self.pollers.append(poller)

    async def start(self) -> None:
        for watch in self.watches.values():
            await watch.start()
        started: list[_Poller] = []
        try:
            for poller in self.pollers:
                await poller.start()
                started.append(poller)
        except BaseException:
            for poller in started:
                await poller.stop()
            for watch in self.watches.values():
                await watch.stop()
            raise
        self.sweeper.start()
        self.log.debug("sources", f"{len(self.pollers)} event source(s) polling")

    async def stop(self) -> None:
        await self.sweeper.stop()
        for poller in self.pollers:
            await poller.stop()
        for watch in self.watches.values():
            await watch.stop()
        self.blocking.close()
