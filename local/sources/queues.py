"""SQS -> Lambda (event source mapping) and SNS -> Lambda (subscription), through SQS.

SQS: batches of up to ``BatchSize`` gathered within ``MaximumBatchingWindowInSeconds``, invoked
synchronously; a success deletes the batch, a failure deletes nothing so the messages come back
after the queue's visibility timeout and, past the queue's ``maxReceiveCount``, moto's redrive
moves them to the DLQ. With ``ReportBatchItemFailures`` only the successes are deleted. Messages
that do not match ``FilterCriteria`` are deleted unseen, as Lambda does.

SNS: moto never runs a Lambda subscription, so each SNS event gets an internal SQS queue
subscribed to the topic (raw delivery off, so the SNS envelope and its ``MessageAttributes``
arrive). Each message is turned into the event Lambda gets from SNS and invoked asynchronously
(Lambda's own retries apply); the filter policy is applied here.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from local.logs import Log
from local.model import EventSourceSpec, FunctionSpec
from local.runtime import Runtime
from local.sources.common import Blocking, SourceOptions, arn_name, as_bool, as_int
from local.sources.filters import matches, matches_any, parse_filter_criteria
from local.sources.records import batch_failures, sns_event, sns_message_attributes, sqs_record

__all__ = ["SnsPoller", "SqsPoller"]

_RECEIVE_ATTRS = {
    "AttributeNames": ["All"],
    "MessageSystemAttributeNames": ["All"],
    "MessageAttributeNames": ["All"],
}


class _QueueReader:
    """Receives from one queue in ``concurrency`` loops, each handling one batch at a time."""

    source = "sqs"

    def __init__(
        self,
        *,
        sqs: Any,
        blocking: Blocking,
        log: Log,
        options: SourceOptions,
        concurrency: int,
        batch_size: int,
        window: float,
    ) -> None:
        self.sqs = sqs
        self.blocking = blocking
        self.log = log
        self.options = options
        self.concurrency = max(1, concurrency)
        self.batch_size = batch_size
        self.window = window
        self.queue_url = ""
        self._tasks: list[asyncio.Task[None]] = []

    def _spawn(self) -> None:
        self._tasks = [asyncio.create_task(self._loop()) for _ in range(self.concurrency)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _loop(self) -> None:
        while True:
            try:
                batch = await self._gather()
                if batch:
                    await self.handle(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one bad batch or a restarting endpoint must not stop us
                self.log.warning(self.source, f"{arn_name(self.queue_url)}: {exc}")
                await asyncio.sleep(self.options.retry_base_delay)

    async def _gather(self) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        deadline: float | None = None
        while len(batch) < self.batch_size:
            wait = self.options.sqs_wait_seconds
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                wait = min(wait, max(0, int(left)))
            resp = await self.blocking(
                self.sqs.receive_message,
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.batch_size - len(batch)),
                WaitTimeSeconds=wait,
                **_RECEIVE_ATTRS,
            )
            messages = resp.get("Messages", [])
            batch.extend(messages)
            if not messages and wait == 0:
                # Less than a second of window left: short polls, without spinning.
                await asyncio.sleep(self.options.poll_interval)
            if not batch:
                continue
            if self.window <= 0:
                break
            if deadline is None:
                deadline = time.monotonic() + self.window
        return batch

    async def delete(self, messages: list[dict[str, Any]]) -> None:
        for i in range(0, len(messages), 10):
            chunk = messages[i : i + 10]
            await self.blocking(
                self.sqs.delete_message_batch,
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(chunk)
                ],
            )

    async def handle(self, batch: list[dict[str, Any]]) -> None:
        raise NotImplementedError


class SqsPoller(_QueueReader):
    """Feeds one function from one SQS queue."""

    def __init__(
        self,
        fn: FunctionSpec,
        spec: EventSourceSpec,
        *,
        runtime: Runtime,
        sqs: Any,
        blocking: Blocking,
        log: Log,
        options: SourceOptions,
        region: str,
    ) -> None:
        props = spec.properties
        scaling = props.get("ScalingConfig") or {}
        concurrency = as_int(scaling.get("MaximumConcurrency"), options.sqs_concurrency)
        if fn.reserved_concurrency is not None:
            # Batches past the reserved concurrency would only be throttled and come back,
            # burning their receive count toward the DLQ: never poll more than can run.
            concurrency = min(concurrency, fn.reserved_concurrency)
        super().__init__(
            sqs=sqs,
            blocking=blocking,
            log=log,
            options=options,
            concurrency=max(1, min(concurrency, options.sqs_concurrency)),
            batch_size=as_int(props.get("BatchSize"), 10),
            window=float(props.get("MaximumBatchingWindowInSeconds") or 0),
        )
        self.fn = fn
        self.spec = spec
        self.runtime = runtime
        self.region = region
        self.source = f"sqs:{fn.logical_id}"
        self.queue = str(props["Queue"])
        self.queue_arn = self.queue
        self.patterns = parse_filter_criteria(props.get("FilterCriteria"))
        self.report_failures = "ReportBatchItemFailures" in (
            props.get("FunctionResponseTypes") or []
        )
        self.enabled = as_bool(props.get("Enabled", True))

    async def start(self) -> None:
        if not self.enabled:
            return
        if self.fn.reserved_concurrency == 0:
            self.log.warning(self.source, "ReservedConcurrentExecutions is 0: queue not polled")
            return
        if self.queue.startswith("http"):
            self.queue_url = self.queue
        else:
            try:
                resp = await self.blocking(self.sqs.get_queue_url, QueueName=arn_name(self.queue))
            except Exception as exc:
                raise RuntimeError(
                    f"{self.fn.logical_id}.Events.{self.spec.name}.Queue: "
                    f"queue {arn_name(self.queue)} cannot be read: {exc}"
                ) from exc
            self.queue_url = resp["QueueUrl"]
        attrs = await self.blocking(
            self.sqs.get_queue_attributes, QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )
        self.queue_arn = attrs["Attributes"]["QueueArn"]
        self._spawn()

    async def handle(self, batch: list[dict[str, Any]]) -> None:
        records = [sqs_record(m, queue_arn=self.queue_arn, region=self.region) for m in batch]
        keep = [(m, r) for m, r in zip(batch, records, strict=True) if self._wanted(r)]
        dropped = [m for m in batch if all(m is not k for k, _ in keep)]
        if dropped:
            await self.delete(dropped)
        if not keep:
            return
        messages = [m for m, _ in keep]
        result = await self.runtime.invoke(self.fn.logical_id, {"Records": [r for _, r in keep]})
        if not result.ok:
            # Nothing deleted: the batch comes back after the visibility timeout (or goes to
            # the DLQ once the queue's maxReceiveCount is reached).
            return
        if not self.report_failures:
            await self.delete(messages)
            return
        verdict = batch_failures(result.payload, [m["MessageId"] for m in messages])
        if verdict.whole:
            self.log.warning(
                self.source,
                "invalid batchItemFailures: whole batch failed",
                request_id=result.request_id,
            )
            return
        done = [m for m in messages if m["MessageId"] not in verdict.failed]
        if verdict.failed:
            self.log.info(
                self.source,
                f"{len(verdict.failed)} of {len(messages)} message(s) failed; kept for retry",
                request_id=result.request_id,
            )
        await self.delete(done)

    def _wanted(self, record: dict[str, Any]) -> bool:
        if not self.patterns:
            return True
        # Lambda matches "body" patterns against the parsed body when it is a JSON object.
        view = dict(record)
        try:
            body = json.loads(record["body"])
        except ValueError:
            body = None
        if isinstance(body, dict):
            view["body"] = body
        return matches_any(self.patterns, view)


class SnsPoller(_QueueReader):
    """Delivers one topic's messages to one function, asynchronously, through an inner queue."""

    def __init__(
        self,
        fn: FunctionSpec,
        spec: EventSourceSpec,
        *,
        runtime: Runtime,
        sqs: Any,
        sns: Any,
        blocking: Blocking,
        log: Log,
        options: SourceOptions,
    ) -> None:
        super().__init__(
            sqs=sqs,
            blocking=blocking,
            log=log,
            options=options,
            concurrency=1,
            batch_size=10,
            window=0,
        )
        props = spec.properties
        self.fn = fn
        self.spec = spec
        self.runtime = runtime
        self.sns = sns
        self.source = f"sns:{fn.logical_id}"
        self.topic_arn = str(props["Topic"])
        policy = props.get("FilterPolicy")
        self.filter_policy: dict[str, Any] | None = (
            json.loads(policy) if isinstance(policy, str) else policy
        )
        self.policy_scope = str(props.get("FilterPolicyScope") or "MessageAttributes")
        self.subscription_arn = ""
        self.queue_name = f"local-sns-{fn.logical_id}-{spec.name}"[:80]

    async def start(self) -> None:
        self.topic_arn = await self._topic()
        created = await self.blocking(self.sqs.create_queue, QueueName=self.queue_name)
        self.queue_url = created["QueueUrl"]
        attrs = await self.blocking(
            self.sqs.get_queue_attributes, QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )
        sub = await self.blocking(
            self.sns.subscribe,
            TopicArn=self.topic_arn,
            Protocol="sqs",
            Endpoint=attrs["Attributes"]["QueueArn"],
            Attributes={"RawMessageDelivery": "false"},
            ReturnSubscriptionArn=True,
        )
        self.subscription_arn = sub["SubscriptionArn"]
        self._spawn()

    async def stop(self) -> None:
        await super().stop()
        if self.subscription_arn:
            try:
                await self.blocking(self.sns.unsubscribe, SubscriptionArn=self.subscription_arn)
                await self.blocking(self.sqs.delete_queue, QueueUrl=self.queue_url)
            except Exception as exc:  # the endpoint may already be gone at shutdown
                self.log.debug(self.source, f"cleanup skipped: {exc}")
            self.subscription_arn = ""

    async def _topic(self) -> str:
        try:
            await self.blocking(self.sns.get_topic_attributes, TopicArn=self.topic_arn)
            return self.topic_arn
        except Exception:
            pass
        # The template's ARN may differ from the endpoint's (account, region): match by name.
        name = arn_name(self.topic_arn)
        kwargs: dict[str, Any] = {}
        while True:
            page = await self.blocking(self.sns.list_topics, **kwargs)
            for topic in page.get("Topics", []):
                if arn_name(topic["TopicArn"]) == name:
                    return str(topic["TopicArn"])
            if not page.get("NextToken"):
                raise RuntimeError(
                    f"{self.fn.logical_id}.Events.{self.spec.name}.Topic: no topic {name}"
                )
            kwargs["NextToken"] = page["NextToken"]

    async def handle(self, batch: list[dict[str, Any]]) -> None:
        for message in batch:
            try:
                envelope = json.loads(message["Body"])
            except ValueError:
                self.log.warning(self.source, "not an SNS envelope; dropped")
                continue
            if self._wanted(envelope):
                accepted = await self.runtime.invoke_async(
                    self.fn.logical_id,
                    sns_event(envelope, subscription_arn=self.subscription_arn),
                )
                self.log.debug(
                    self.source,
                    f"message {envelope.get('MessageId')} accepted",
                    request_id=accepted.request_id,
                )
        # Accepted for asynchronous invocation: SNS's part is done, retries are Lambda's.
        await self.delete(batch)

    def _wanted(self, envelope: dict[str, Any]) -> bool:
        if not self.filter_policy:
            return True
        if self.policy_scope == "MessageBody":
            try:
                body = json.loads(envelope.get("Message") or "")
            except ValueError:
                return False
            return isinstance(body, dict) and matches(self.filter_policy, body)
        return matches(self.filter_policy, sns_message_attributes(envelope))
