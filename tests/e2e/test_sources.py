"""Event sources on a real moto server, feeding real worker processes (the recorder fixture)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from local.aws import EmbeddedAws
from local.model import EventSourceSpec, FunctionSpec
from local.provision import provision
from local.runtime import Runtime
from local.sources import EventSources, SourceOptions
from local.template import load_stack
from tests.e2e.lambda_support import APPS, TIMEOUT, LogWatch, function, stack_of, wait_for

FAST = SourceOptions(poll_interval=0.05, retry_base_delay=0.05, ttl_interval=0)


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws() as embedded:
        yield embedded


@asynccontextmanager
async def running(
    aws: EmbeddedAws, *functions: FunctionSpec, options: SourceOptions = FAST
) -> AsyncIterator[tuple[LogWatch, EventSources]]:
    watch = LogWatch()
    stack = stack_of(*functions, app="sources")
    runtime = Runtime(
        stack, base_env=aws.environment(), log=watch.log, async_retry_delays=(0.05, 0.05)
    )
    await runtime.start()
    sources = EventSources(stack, runtime, aws, watch.log, options=options)
    try:
        await sources.start()
        yield watch, sources
    finally:
        await sources.stop()
        await runtime.stop()


def recorder(logical_id: str, record_dir: Path, event: EventSourceSpec) -> FunctionSpec:
    return function(
        "sources",
        logical_id,
        "recorder",
        timeout=5,
        environment={"RECORD_DIR": str(record_dir)},
        events=[event],
    )


def invocations(record_dir: Path, logical_id: str) -> list[dict[str, Any]]:
    path = record_dir / f"local-{logical_id}-ABC123.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_table(aws: EmbeddedAws, *, ttl: bool = False) -> str:
    ddb = aws.client("dynamodb")
    name = unique("items")
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    if ttl:
        ddb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"},
        )
    return name


def make_queue(aws: EmbeddedAws, **attributes: str) -> tuple[str, str]:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName=unique("q"), Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return url, arn["QueueArn"]


def stream_event(table: str, **props: Any) -> EventSourceSpec:
    arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/label"
    return EventSourceSpec(
        "Items", "DynamoDB", {"Stream": arn, "StartingPosition": "LATEST", **props}
    )


def put(aws: EmbeddedAws, table: str, pk: str, **attrs: str) -> None:
    item = {"pk": {"S": pk}, **{k: {"S": v} for k, v in attrs.items()}}
    aws.client("dynamodb").put_item(TableName=table, Item=item)


def keys_of(invocation: dict[str, Any]) -> list[str]:
    return [r["dynamodb"]["Keys"]["pk"]["S"] for r in invocation["event"]["Records"]]


async def drain(aws: EmbeddedAws, url: str, want: int) -> list[dict[str, Any]]:
    """Read ``want`` messages from a queue (test side), waiting on SQS long-polls in a thread
    so the pollers on the event loop keep running."""
    sqs = aws.client("sqs")
    got: list[dict[str, Any]] = []
    for _ in range(int(TIMEOUT)):
        resp = await asyncio.to_thread(
            sqs.receive_message,
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
        )
        got.extend(resp.get("Messages", []))
        if len(got) >= want:
            break
    return got


# --- DynamoDB Streams -------------------------------------------------------------------


async def test_stream_records_are_shaped_as_lambda_delivers_them_and_filtered(
    aws: EmbeddedAws, tmp_path: Path
) -> None:
    table = make_table(aws)
    pattern = '{"dynamodb": {"NewImage": {"kind": {"S": ["message"]}}}}'
    fn = recorder(
        "StreamFunction",
        tmp_path,
        stream_event(table, FilterCriteria={"Filters": [{"Pattern": pattern}]}),
    )
    async with running(aws, fn):
        put(aws, table, "counter", kind="counter")
        put(aws, table, "m1", kind="message", text="hi")
        await wait_for(lambda: invocations(tmp_path, "StreamFunction"))

    calls = invocations(tmp_path, "StreamFunction")
    records = [r for call in calls for r in call["event"]["Records"]]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records] == ["m1"]  # counter filtered out
    record = records[0]
    assert record["eventName"] == "INSERT"
    assert record["eventVersion"] == "1.1"
    assert record["eventSource"] == "aws:dynamodb"
    assert record["awsRegion"] == "us-east-1"
    assert record["eventSourceARN"].startswith(
        f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/"
    )
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int)
    assert record["dynamodb"]["NewImage"]["text"] == {"S": "hi"}
    assert "userIdentity" not in record


async def test_latest_skips_what_came_before_start_and_trim_horizon_reads_it(
    aws: EmbeddedAws, tmp_path: Path
) -> None:
    table = make_table(aws)
    put(aws, table, "before")
    latest = recorder("LatestFunction", tmp_path, stream_event(table))
    oldest = recorder(
        "OldestFunction", tmp_path, stream_event(table, StartingPosition="TRIM_HORIZON")
    )
    async with running(aws, latest, oldest):
        put(aws, table, "after")

        def seen(logical_id: str) -> list[str]:
            return [k for c in invocations(tmp_path, logical_id) for k in keys_of(c)]

        await wait_for(
            lambda: "after" in seen("LatestFunction") and "after" in seen("OldestFunction")
        )

    assert [keys_of(c) for c in invocations(tmp_path, "LatestFunction")] == [["after"]]
    assert seen("OldestFunction") == ["before", "after"]


async def test_a_write_wakes_its_stream_poller_long_before_the_idle_read(
    aws: EmbeddedAws, tmp_path: Path
) -> None:
    # Idle shards are read only every 10 TIMEOUTs here: the records can only arrive within the
    # wait because the embedded AWS's write numbering wakes the poller.
    slow_idle = SourceOptions(
        poll_interval=0.05, idle_poll_interval=TIMEOUT * 10, retry_base_delay=0.05, ttl_interval=0
    )
    table = make_table(aws)
    fn = recorder("WokenFunction", tmp_path, stream_event(table))
    async with running(aws, fn, options=slow_idle) as (_, sources):
        watch = sources.watches[table]
        assert watch.active
        await wait_for(lambda: watch.waiting)
        put(aws, table, "first")
        await wait_for(lambda: invocations(tmp_path, "WokenFunction"))
        await wait_for(lambda: watch.waiting)
        put(aws, table, "second")
        await wait_for(
            lambda: (
                [k for c in invocations(tmp_path, "WokenFunction") for k in keys_of(c)]
                == ["first", "second"]
            )
        )


async def test_records_keep_flowing_after_a_cancelled_transaction(
    aws: EmbeddedAws, tmp_path: Path
) -> None:
    # Two sends racing for a room's next seq end in one cancelled TransactWriteItems; moto then
    # puts back a copy of the table (stream included). The poller must read the live copy.
    table = make_table(aws)
    fn = recorder("RaceFunction", tmp_path, stream_event(table))
    ddb = aws.client("dynamodb")
    async with running(aws, fn):
        put(aws, table, "first")
        await wait_for(lambda: invocations(tmp_path, "RaceFunction"))
        with pytest.raises(ddb.exceptions.TransactionCanceledException):
            ddb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": table,
                            "Item": {"pk": {"S": "first"}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                ]
            )
        put(aws, table, "second")

        def seen() -> list[str]:
            return [k for c in invocations(tmp_path, "RaceFunction") for k in keys_of(c)]

        await wait_for(lambda: "second" in seen())
    assert seen() == ["first", "second"]


async def test_partial_batch_failure_retries_only_from_the_failed_record(
    aws: EmbeddedAws, tmp_path: Path
) -> None:
    table = make_table(aws)
    fn = recorder(
        "StreamFunction",
        tmp_path,
        stream_event(
            table,
            BatchSize=2,
            MaximumBatchingWindowInSeconds=TIMEOUT,
            FunctionResponseTypes=["ReportBatchItemFailures"],
        ),
    )
    async with running(aws, fn):
        put(aws, table, "ok")
        put(aws, table, "flaky", mode="partial-once")
        await wait_for(lambda: len(invocations(tmp_path, "StreamFunction")) >= 2)

    calls = invocations(tmp_path, "StreamFunction")
    assert [keys_of(c) for c in calls] == [["ok", "flaky"], ["flaky"]]


async def test_bisect_isolates_the_poison_record_and_sends_it_to_on_failure(
    aws: EmbeddedAws, tmp_path: Path
) -> None:
    table = make_table(aws)
    failures_url, failures_arn = make_queue(aws)
    fn = recorder(
        "StreamFunction",
        tmp_path,
        stream_event(
            table,
            BatchSize=4,
            MaximumBatchingWindowInSeconds=TIMEOUT,
            BisectBatchOnFunctionError=True,
            MaximumRetryAttempts=0,
            DestinationConfig={"OnFailure": {"Type": "SQS", "Destination": failures_arn}},
        ),
    )
    async with running(aws, fn):
        for pk in ("a", "b"):
            put(aws, table, pk)
        put(aws, table, "poison", mode="raise")
        put(aws, table, "d")
        await wait_for(lambda: len(invocations(tmp_path, "StreamFunction")) >= 5)
        sent = await drain(aws, failures_url, 1)

    calls = [keys_of(c) for c in invocations(tmp_path, "StreamFunction")]
    assert calls == [["a", "b", "poison", "d"], ["a", "b"], ["poison", "d"], ["poison"], ["d"]]
    assert len(sent) == 1
    body = json.loads(sent[0]["Body"])
    assert body["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert body["requestContext"]["functionArn"] == fn.arn
    assert body["responseContext"]["functionError"] == "Unhandled"
    info = body["DDBStreamBatchInfo"]
    assert info["batchSize"] == 1
    poison = invocations(tmp_path, "StreamFunction")[3]["event"]["Records"][0]
    assert info["startSequenceNumber"] == poison["dynamodb"]["SequenceNumber"]
    assert info["streamArn"] == poison["eventSourceARN"]


async def test_maximum_retry_attempts_then_on_failure_and_the_shard_moves_on(
    aws: EmbeddedAws, tmp_path: Path
) -> None:
    table = make_table(aws)
    failures_url, failures_arn = make_queue(aws)
    fn = recorder(
        "StreamFunction",
        tmp_path,
        stream_event(
            table,
            BatchSize=1,
            MaximumRetryAttempts=2,
            DestinationConfig={"OnFailure": {"Destination": failures_arn}},
        ),
    )
    async with running(aws, fn) as (watch, _):
        put(aws, table, "poison", mode="raise")
        put(aws, table, "after")
        await wait_for(
            lambda: ["after"] in [keys_of(c) for c in invocations(tmp_path, "StreamFunction")]
        )
        sent = await drain(aws, failures_url, 1)

    calls = [keys_of(c) for c in invocations(tmp_path, "StreamFunction")]
    assert calls == [["poison"]] * 3 + [["after"]]  # the first try and two retries, in order
    body = json.loads(sent[0]["Body"])
    assert body["requestContext"]["approximateInvokeCount"] == 3
    assert watch.matching(lambda r: "RetryAttemptsExhausted" in r.message)


async def test_records_past_maximum_record_age_go_to_on_failure_without_retrying_forever(
    aws: EmbeddedAws, tmp_path: Path
) -> None:
    # Age 0: any record is too old by its next attempt (retries are unlimited here: -1).
    table = make_table(aws)
    failures_url, failures_arn = make_queue(aws)
    fn = recorder(
        "StreamFunction",
        tmp_path,
        stream_event(
            table,
            MaximumRecordAgeInSeconds=0,
            DestinationConfig={"OnFailure": {"Destination": failures_arn}},
        ),
    )
    async with running(aws, fn):
        put(aws, table, "poison", mode="raise")
        sent = await drain(aws, failures_url, 1)

    body = json.loads(sent[0]["Body"])
    assert body["requestContext"]["condition"] == "MaximumRecordAgeExceeded"
    assert body["DDBStreamBatchInfo"]["batchSize"] == 1


async def test_ttl_sweep_deletes_expired_items_producing_service_remove_records(
    aws: EmbeddedAws, tmp_path: Path
) -> None:
    table = make_table(aws, ttl=True)
    ddb = aws.client("dynamodb")
    fn = recorder("StreamFunction", tmp_path, stream_event(table))
    options = SourceOptions(poll_interval=0.05, retry_base_delay=0.05, ttl_interval=0.2)
    async with running(aws, fn, options=options):
        ddb.put_item(TableName=table, Item={"pk": {"S": "old"}, "expiresAt": {"N": "1000"}})
        ddb.put_item(TableName=table, Item={"pk": {"S": "fresh"}, "expiresAt": {"N": "4102444800"}})
        ddb.put_item(TableName=table, Item={"pk": {"S": "no-ttl"}})

        def removes() -> list[dict[str, Any]]:
            return [
                r
                for c in invocations(tmp_path, "StreamFunction")
                for r in c["event"]["Records"]
                if r["eventName"] == "REMOVE"
            ]

        await wait_for(removes)
        # A delete by the application is a REMOVE too, but not the TTL service's.
        ddb.delete_item(TableName=table, Key={"pk": {"S": "no-ttl"}})
        await wait_for(lambda: len(removes()) == 2)

    left = ddb.scan(TableName=table)["Items"]
    assert [i["pk"]["S"] for i in left] == ["fresh"]
    by_key = {r["dynamodb"]["Keys"]["pk"]["S"]: r for r in removes()}
    assert by_key["old"]["userIdentity"] == {
        "type": "Service",
        "principalId": "dynamodb.amazonaws.com",
    }
    assert by_key["old"]["dynamodb"]["OldImage"]["expiresAt"] == {"N": "1000"}
    assert "userIdentity" not in by_key["no-ttl"]


# --- SQS ---------------------------------------------------------------------------------


async def test_sqs_partial_failure_deletes_successes_and_redrives_failures_to_the_dlq(
    aws: EmbeddedAws, tmp_path: Path
) -> None:
    dlq_url, dlq_arn = make_queue(aws)
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})
    url, arn = make_queue(aws, VisibilityTimeout="1", RedrivePolicy=redrive)
    fn = recorder(
        "QueueFunction",
        tmp_path,
        EventSourceSpec(
            "Work",
            "SQS",
            {"Queue": arn, "BatchSize": 10, "FunctionResponseTypes": ["ReportBatchItemFailures"]},
        ),
    )
    sqs = aws.client("sqs")
    async with running(aws, fn):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=json.dumps({"mode": "ok"}),
            MessageAttributes={"origin": {"DataType": "String", "StringValue": "test"}},
        )
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"mode": "partial"}))
        dead = await drain(aws, dlq_url, 1)

    assert [json.loads(m["Body"]) for m in dead] == [{"mode": "partial"}]
    records = [r for c in invocations(tmp_path, "QueueFunction") for r in c["event"]["Records"]]
    ok = [r for r in records if json.loads(r["body"])["mode"] == "ok"]
    failing = [r for r in records if json.loads(r["body"])["mode"] == "partial"]
    assert len(ok) == 1  # deleted after its success, never seen again
    assert [r["attributes"]["ApproximateReceiveCount"] for r in failing] == ["1", "2"]
    record = ok[0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == arn
    assert record["awsRegion"] == "us-east-1"
    assert record["messageAttributes"]["origin"]["stringValue"] == "test"
    assert record["messageAttributes"]["origin"]["dataType"] == "String"
    assert record["md5OfBody"] and record["receiptHandle"] and record["messageId"]
    assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(
        record["attributes"]
    )
    assert (
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
            "Attributes"
        ]["ApproximateNumberOfMessages"]
        == "0"
    )


async def test_sqs_batching_window_gathers_one_batch(aws: EmbeddedAws, tmp_path: Path) -> None:
    url, arn = make_queue(aws)
    fn = recorder(
        "QueueFunction",
        tmp_path,
        EventSourceSpec(
            "Work",
            "SQS",
            {"Queue": arn, "BatchSize": 3, "MaximumBatchingWindowInSeconds": int(TIMEOUT)},
        ),
    )
    sqs = aws.client("sqs")
    async with running(aws, fn, options=SourceOptions(sqs_concurrency=1, ttl_interval=0)):
        for n in range(3):
            sqs.send_message(QueueUrl=url, MessageBody=f"m{n}")
        await wait_for(lambda: invocations(tmp_path, "QueueFunction"))

    calls = invocations(tmp_path, "QueueFunction")
    assert len(calls) == 1
    assert sorted(r["body"] for r in calls[0]["event"]["Records"]) == ["m0", "m1", "m2"]


# --- SNS ---------------------------------------------------------------------------------


async def test_sns_message_reaches_function_with_attributes_and_filter_policy(
    aws: EmbeddedAws, tmp_path: Path
) -> None:
    sns = aws.client("sns")
    topic = sns.create_topic(Name=unique("notes"))["TopicArn"]
    fn = recorder(
        "TopicFunction",
        tmp_path,
        EventSourceSpec("Notes", "SNS", {"Topic": topic, "FilterPolicy": {"kind": ["notify"]}}),
    )
    async with running(aws, fn):
        sns.publish(
            TopicArn=topic,
            Message="skipped",
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "other"}},
        )
        sns.publish(
            TopicArn=topic,
            Message=json.dumps({"hello": "world"}),
            Subject="greeting",
            MessageAttributes={
                "kind": {"DataType": "String", "StringValue": "notify"},
                "priority": {"DataType": "Number", "StringValue": "5"},
            },
        )
        await wait_for(lambda: invocations(tmp_path, "TopicFunction"))

    calls = invocations(tmp_path, "TopicFunction")
    assert len(calls) == 1
    record = calls[0]["event"]["Records"][0]
    assert record["EventSource"] == "aws:sns"
    assert record["EventVersion"] == "1.0"
    assert record["EventSubscriptionArn"].startswith(topic + ":")
    sns_part = record["Sns"]
    assert sns_part["Type"] == "Notification"
    assert sns_part["TopicArn"] == topic
    assert sns_part["Subject"] == "greeting"
    assert json.loads(sns_part["Message"]) == {"hello": "world"}
    assert sns_part["MessageAttributes"] == {
        "kind": {"Type": "String", "Value": "notify"},
        "priority": {"Type": "Number", "Value": "5"},
    }
    for key in (
        "MessageId",
        "Timestamp",
        "SignatureVersion",
        "Signature",
        "SigningCertUrl",
        "UnsubscribeUrl",
    ):
        assert sns_part[key], key


async def test_sns_invocation_that_fails_is_retried_twice(aws: EmbeddedAws, tmp_path: Path) -> None:
    sns = aws.client("sns")
    topic = sns.create_topic(Name=unique("notes"))["TopicArn"]
    fn = recorder("TopicFunction", tmp_path, EventSourceSpec("Notes", "SNS", {"Topic": topic}))
    async with running(aws, fn) as (watch, _):
        sns.publish(TopicArn=topic, Message=json.dumps({"mode": "raise"}))
        await watch.wait(lambda r: "event dropped" in r.message)

    calls = invocations(tmp_path, "TopicFunction")
    assert len(calls) == 3
    assert len({c["rid"] for c in calls}) == 1  # Lambda keeps the request id across retries


# --- From the template -------------------------------------------------------------------


async def test_template_event_sources_run_as_declared(aws: EmbeddedAws, tmp_path: Path) -> None:
    """The fixture template, loaded and provisioned as the local stack does it."""
    stack = load_stack(
        APPS / "sources" / "template.yaml",
        parameter_overrides={"RecordDir": str(tmp_path)},
        stack_name=unique("fixture"),
        sqs_endpoint=aws.endpoint_url,
    )
    clients = {s: aws.client(s) for s in ("dynamodb", "sns", "sqs", "ssm", "secretsmanager")}
    provisioned = await asyncio.to_thread(provision, stack, clients=clients)
    table = provisioned.physical_ids["ItemsTable"]
    failures_url = provisioned.physical_ids["StreamFailureQueue"]
    topic = provisioned.physical_ids["Topic"]
    stream_fn = stack.functions["StreamFunction"].name
    topic_fn = stack.functions["TopicFunction"].name

    def calls(name: str) -> list[dict[str, Any]]:
        path = tmp_path / f"{name}.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []

    watch = LogWatch()
    runtime = Runtime(stack, base_env=aws.environment(), log=watch.log)
    await runtime.start()
    sources = EventSources(stack, runtime, aws, watch.log, options=FAST)
    try:
        await sources.start()
        put(aws, table, "counter", kind="counter")  # dropped by the FilterCriteria
        put(aws, table, "poison", kind="message", mode="raise")  # MaximumRetryAttempts: 0
        put(aws, table, "hello", kind="message")
        aws.client("sns").publish(
            TopicArn=topic,
            Message="{}",
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "notify"}},
        )
        sent = await drain(aws, failures_url, 1)
        await wait_for(
            lambda: calls(topic_fn) and any(["hello"] == keys_of(c) for c in calls(stream_fn))
        )
    finally:
        await sources.stop()
        await runtime.stop()

    delivered = [keys_of(c) for c in calls(stream_fn)]
    # BatchSize 4 within a 1 s window: one batch, bisected around the poison record.
    assert delivered == [["poison", "hello"], ["poison"], ["hello"]]
    assert json.loads(sent[0]["Body"])["DDBStreamBatchInfo"]["batchSize"] == 1
    assert len(calls(topic_fn)) == 1
