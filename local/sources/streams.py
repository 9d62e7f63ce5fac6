"""DynamoDB Streams -> Lambda, with the event source mapping's semantics.

One task per shard keeps records in order. Records are filtered on arrival (filtered-out records
never count toward a batch, as on Lambda), gathered up to ``BatchSize`` or until
``MaximumBatchingWindowInSeconds`` passes, and delivered synchronously. A failed batch is
retried with backoff from the first failed record (``ReportBatchItemFailures``), split in two on
a function error (``BisectBatchOnFunctionError``, which does not use up retries), and given up
after ``MaximumRetryAttempts`` or ``MaximumRecordAgeInSeconds``: its description then goes to
``DestinationConfig.OnFailure`` (SQS queue or SNS topic) and the shard moves on.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from local.logs import Log
from local.model import EventSourceSpec, FunctionSpec
from local.runtime import InvokeResult, Runtime
from local.sources.common import (
    Blocking,
    SourceOptions,
    arn_name,
    as_bool,
    as_int,
    table_from_stream_arn,
)
from local.sources.filters import matches_any, parse_filter_criteria
from local.sources.records import batch_failures, dynamodb_record, on_failure_record
from local.sources.ttl import TtlDeletions
from local.sources.wakeup import WriteWatch

__all__ = ["StreamPoller"]

# DynamoDB Streams keeps records 24 hours: the age limit when the template sets none.
_RETENTION_SECONDS = 24 * 3600


class StreamPoller:
    """Feeds one function from one DynamoDB stream."""

    def __init__(
        self,
        fn: FunctionSpec,
        spec: EventSourceSpec,
        *,
        runtime: Runtime,
        clients: dict[str, Any],
        blocking: Blocking,
        log: Log,
        options: SourceOptions,
        region: str,
        ttl_deletions: TtlDeletions | None = None,
        watch: WriteWatch | None = None,
    ) -> None:
        props = spec.properties
        # Wakes the shard tasks when the table takes a write (None: sleep between reads).
        self.watch = watch
        self.fn = fn
        self.spec = spec
        self.runtime = runtime
        self.ddb = clients["dynamodb"]
        self.streams = clients["dynamodbstreams"]
        self.sqs = clients["sqs"]
        self.sns = clients["sns"]
        self.blocking = blocking
        self.log = log
        self.options = options
        self.region = region
        self.ttl_deletions = ttl_deletions
        self.source = f"stream:{fn.logical_id}"
        self.table = table_from_stream_arn(str(props["Stream"]))
        self.starting_position = str(
            options.starting_position or props.get("StartingPosition") or "LATEST"
        )
        self.batch_size = as_int(props.get("BatchSize"), 100)
        self.window = float(props.get("MaximumBatchingWindowInSeconds") or 0)
        self.patterns = parse_filter_criteria(props.get("FilterCriteria"))
        self.report_failures = "ReportBatchItemFailures" in (
            props.get("FunctionResponseTypes") or []
        )
        self.bisect = as_bool(props.get("BisectBatchOnFunctionError", False))
        self.max_retries = as_int(props.get("MaximumRetryAttempts"), -1)
        max_age = as_int(props.get("MaximumRecordAgeInSeconds"), -1)
        self.max_age = _RETENTION_SECONDS if max_age < 0 else max_age
        on_failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
            "Destination"
        )
        self.on_failure: str | None = str(on_failure) if on_failure else None
        self.enabled = as_bool(props.get("Enabled", True))
        self.stream_arn = ""
        self._positions: dict[str, str | None] = {}  # shard id -> last sequence number read
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Resolve the stream and take shard iterators now, so LATEST means 'from start-up'."""
        if not self.enabled:
            return
        try:
            table = await self.blocking(self.ddb.describe_table, TableName=self.table)
        except Exception as exc:
            raise RuntimeError(
                f"{self.fn.logical_id}.Events.{self.spec.name}.Stream: "
                f"table {self.table} cannot be read: {exc}"
            ) from exc
        arn = table["Table"].get("LatestStreamArn")
        if not arn:
            raise RuntimeError(
                f"{self.fn.logical_id}.Events.{self.spec.name}: table {self.table} has no stream"
            )
        self.stream_arn = arn
        desc = await self.blocking(self.streams.describe_stream, StreamArn=arn)
        for shard in desc["StreamDescription"]["Shards"]:
            if shard.get("SequenceNumberRange", {}).get("EndingSequenceNumber"):
                continue  # closed shard
            shard_id = shard["ShardId"]
            # LATEST means "after whatever the shard holds now": remember that position as a
            # sequence number (None: the shard is empty, read it from the start).
            last = None
            if self.starting_position == "LATEST":
                last = await self._last_sequence_number(shard_id)
            self._positions[shard_id] = last
        for shard_id, last in self._positions.items():
            self._tasks.append(asyncio.create_task(self._run_shard(shard_id, last)))

    async def _iterator_after(self, shard_id: str, last: str | None) -> str:
        """A fresh iterator just after ``last`` (or at the start of the shard).

        Taken anew for every read rather than following ``NextShardIterator``: moto answers a
        cancelled TransactWriteItems by putting back a copy of the table, stream shard included,
        and iterators into the old shard would never see another record.
        """
        position: dict[str, str] = {"ShardIteratorType": "TRIM_HORIZON"}
        if last is not None:
            position = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": last}
        it = await self.blocking(
            self.streams.get_shard_iterator, StreamArn=self.stream_arn, ShardId=shard_id, **position
        )
        return str(it["ShardIterator"])

    async def _last_sequence_number(self, shard_id: str) -> str | None:
        last: str | None = None
        while True:
            resp = await self.blocking(
                self.streams.get_records,
                ShardIterator=await self._iterator_after(shard_id, last),
                Limit=1000,
            )
            records = resp.get("Records", [])
            if not records:
                return last
            last = str(records[-1]["dynamodb"]["SequenceNumber"])

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _run_shard(self, shard_id: str, last: str | None) -> None:
        buffer: list[dict[str, Any]] = []
        first_at = 0.0
        open_shard = True
        while open_shard or buffer:
            got = 0
            # Taken before the read: a write landing after it wakes the wait below at once.
            seen = self.watch.generation if self.watch is not None else 0
            if open_shard and len(buffer) < self.batch_size:
                try:
                    resp = await self.blocking(
                        self.streams.get_records,
                        ShardIterator=await self._iterator_after(shard_id, last),
                        Limit=min(1000, self.batch_size - len(buffer)),
                    )
                except Exception as exc:  # a restarting endpoint must not kill the poller
                    self.log.warning(self.source, f"get_records failed: {exc}")
                    await asyncio.sleep(self.options.retry_base_delay)
                    continue
                # No next iterator: the shard was closed (split); what it held has been read.
                open_shard = resp.get("NextShardIterator") is not None
                for raw in resp.get("Records", []):
                    got += 1
                    last = str(raw["dynamodb"]["SequenceNumber"])
                    record = self._build(raw)
                    if matches_any(self.patterns, record):
                        if not buffer:
                            first_at = time.monotonic()
                        buffer.append(record)
            full = len(buffer) >= self.batch_size
            waited = time.monotonic() - first_at
            if buffer and (full or waited >= self.window or not open_shard):
                batch, buffer = buffer[: self.batch_size], buffer[self.batch_size :]
                await self._deliver(shard_id, batch, retries=0)
                if buffer:
                    first_at = time.monotonic()
                continue
            if got == 0 or (buffer and not full):
                pause = self.options.poll_interval
                watching = self.watch is not None and self.watch.active
                if watching and not buffer:
                    # Writes wake this task; the idle read is only a safety net.
                    pause = max(pause, self.options.idle_poll_interval)
                if buffer:
                    pause = min(pause, max(0.0, self.window - waited))
                if watching and self.watch is not None:
                    await self.watch.wait(seen, pause)
                else:
                    await asyncio.sleep(pause)

    def _build(self, raw: dict[str, Any]) -> dict[str, Any]:
        ttl = False
        if raw.get("eventName") == "REMOVE" and self.ttl_deletions is not None:
            keys = (raw.get("dynamodb") or {}).get("Keys") or {}
            ttl = self.ttl_deletions.seen(self.table, keys)
        return dynamodb_record(raw, stream_arn=self.stream_arn, region=self.region, ttl_delete=ttl)

    async def _deliver(self, shard_id: str, records: list[dict[str, Any]], retries: int) -> None:
        pending = records
        throttles = 0
        while pending:
            pending = await self._drop_expired(shard_id, pending)
            if not pending:
                return
            result = await self.runtime.invoke(self.fn.logical_id, {"Records": pending})
            if result.throttled:
                throttles += 1
                await asyncio.sleep(self._backoff(throttles))
                continue
            failed_from = self._failed_from(result, pending)
            if failed_from is None:
                return
            function_error = not result.ok
            if function_error and self.bisect and len(pending) > 1:
                mid = len(pending) // 2
                self.log.warning(
                    self.source,
                    f"batch of {len(pending)} failed; bisecting",
                    request_id=result.request_id,
                )
                await self._deliver(shard_id, pending[:mid], retries)
                await self._deliver(shard_id, pending[mid:], retries)
                return
            failed = pending[failed_from:]
            if 0 <= self.max_retries <= retries:
                await self._give_up(shard_id, failed, "RetryAttemptsExhausted", result, retries + 1)
                return
            retries += 1
            self.log.warning(
                self.source,
                f"retry {retries} of {len(failed)} record(s) from "
                f"{failed[0]['dynamodb'].get('SequenceNumber')}",
                request_id=result.request_id,
            )
            pending = failed
            await asyncio.sleep(self._backoff(retries))

    def _failed_from(self, result: InvokeResult, pending: list[dict[str, Any]]) -> int | None:
        """Index of the first record to retry, or None when the batch succeeded."""
        if not result.ok:
            return 0
        if not self.report_failures:
            return None
        seqs = [r["dynamodb"].get("SequenceNumber") for r in pending]
        verdict = batch_failures(result.payload, seqs)
        if verdict.whole:
            return 0
        if verdict.ok:
            return None
        # Lambda resumes from the lowest failed sequence number; later records come again.
        return min(seqs.index(s) for s in verdict.failed)

    async def _drop_expired(
        self, shard_id: str, pending: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        now = time.time()
        expired = 0
        for record in pending:
            created = record["dynamodb"].get("ApproximateCreationDateTime")
            if created is None or now - float(created) <= self.max_age:
                break
            expired += 1
        if expired:
            await self._give_up(shard_id, pending[:expired], "MaximumRecordAgeExceeded", None, 0)
        return pending[expired:]

    async def _give_up(
        self,
        shard_id: str,
        records: list[dict[str, Any]],
        condition: str,
        result: InvokeResult | None,
        invoke_count: int,
    ) -> None:
        rid = result.request_id if result else ""
        self.log.error(
            self.source,
            f"{condition}: skipping {len(records)} record(s)"
            + (f"; sent to {arn_name(self.on_failure)}" if self.on_failure else ""),
            request_id=rid or None,
        )
        if not self.on_failure:
            return
        body = on_failure_record(
            records=records,
            shard_id=shard_id,
            stream_arn=self.stream_arn,
            function_arn=self.fn.arn,
            request_id=rid,
            condition=condition,
            invoke_count=invoke_count,
            function_error="Unhandled" if result is not None and not result.ok else None,
            now=time.time(),
        )
        try:
            await self._send(self.on_failure, json.dumps(body))
        except Exception as exc:
            self.log.error(self.source, f"on-failure destination unreachable: {exc}")

    async def _send(self, destination: str, body: str) -> None:
        if destination.startswith("arn:aws:sns:"):
            await self.blocking(self.sns.publish, TopicArn=destination, Message=body)
            return
        if destination.startswith("http"):
            url = destination
        else:
            url = (await self.blocking(self.sqs.get_queue_url, QueueName=arn_name(destination)))[
                "QueueUrl"
            ]
        await self.blocking(self.sqs.send_message, QueueUrl=url, MessageBody=body)

    def _backoff(self, attempt: int) -> float:
        base = self.options.retry_base_delay
        return float(min(self.options.retry_max_delay, base * 2 ** (attempt - 1)))
