"""The embedded moto server: DynamoDB requests one at a time, transactions all-or-nothing."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chatcore.store import MessageLog
from local.aws import EmbeddedAws


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws() as embedded:
        yield embedded


@pytest.fixture
def table(aws: EmbeddedAws) -> Iterator[str]:
    ddb = aws.client("dynamodb")
    ddb.create_table(
        TableName="log",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "seq", "AttributeType": "N"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "seq", "KeyType": "RANGE"},
        ],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )
    yield "log"
    ddb.delete_table(TableName="log")


def key(pk: str, seq: int) -> dict[str, Any]:
    return {"pk": {"S": pk}, "seq": {"N": str(seq)}}


def put(table: str, pk: str, seq: int, **extra: Any) -> dict[str, Any]:
    return {
        "Put": {
            "TableName": table,
            "Item": {**key(pk, seq), **extra},
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def test_a_failed_condition_cancels_the_whole_transaction(aws: EmbeddedAws, table: str) -> None:
    ddb = aws.client("dynamodb")
    ddb.put_item(TableName=table, Item={**key("a", 1), "v": {"S": "old"}})
    with pytest.raises(ddb.exceptions.TransactionCanceledException) as caught:
        ddb.transact_write_items(
            TransactItems=[
                put(table, "b", 1),
                {**put(table, "a", 1)},
            ]
        )
    reasons = caught.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None", "ConditionalCheckFailed"]
    # Nothing of it was written.
    assert "Item" not in ddb.get_item(TableName=table, Key=key("b", 1))


def test_all_old_comes_back_with_the_failed_condition(aws: EmbeddedAws, table: str) -> None:
    ddb = aws.client("dynamodb")
    ddb.put_item(TableName=table, Item={**key("a", 1), "v": {"S": "old"}})
    op = put(table, "a", 1)
    op["Put"]["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    with pytest.raises(ddb.exceptions.TransactionCanceledException) as caught:
        ddb.transact_write_items(TransactItems=[op])
    assert caught.value.response["CancellationReasons"][0]["Item"]["v"] == {"S": "old"}


def test_a_transaction_writes_every_part_and_streams_it(aws: EmbeddedAws, table: str) -> None:
    ddb = aws.client("dynamodb")
    ddb.put_item(TableName=table, Item={**key("room", 0), "last": {"N": "0"}})
    ddb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": table,
                    "Key": key("room", 0),
                    "UpdateExpression": "SET #l = :next",
                    "ConditionExpression": "#l = :expected",
                    "ExpressionAttributeNames": {"#l": "last"},
                    "ExpressionAttributeValues": {":next": {"N": "1"}, ":expected": {"N": "0"}},
                }
            },
            put(table, "room", 1, text={"S": "hello"}),
            {
                "ConditionCheck": {
                    "TableName": table,
                    "Key": key("absent", 0),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
    )
    counter = ddb.get_item(TableName=table, Key=key("room", 0))["Item"]
    assert counter["last"] == {"N": "1"}
    assert ddb.get_item(TableName=table, Key=key("room", 1))["Item"]["text"] == {"S": "hello"}

    streams = aws.client("dynamodbstreams")
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    events = [r["eventName"] for r in streams.get_records(ShardIterator=iterator)["Records"]]
    assert events == ["INSERT", "MODIFY", "INSERT"]


def test_a_write_that_fails_half_way_is_undone(aws: EmbeddedAws, table: str) -> None:
    ddb = aws.client("dynamodb")
    ddb.put_item(TableName=table, Item={**key("n", 0), "count": {"S": "not a number"}})
    with pytest.raises(ddb.exceptions.ClientError):
        ddb.transact_write_items(
            TransactItems=[
                put(table, "first", 1),
                {
                    "Update": {
                        "TableName": table,
                        "Key": key("n", 0),
                        "UpdateExpression": "SET #c = #c + :one",
                        "ExpressionAttributeNames": {"#c": "count"},
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
            ]
        )
    assert "Item" not in ddb.get_item(TableName=table, Key=key("first", 1))
    assert ddb.get_item(TableName=table, Key=key("n", 0))["Item"]["count"] == {"S": "not a number"}


def test_concurrent_sends_to_one_room_get_gapless_unique_seqs(aws: EmbeddedAws, table: str) -> None:
    # Without one-at-a-time requests, moto's transactions race: errors inside moto, and a
    # cancelled transaction puts back a stale copy of the table (duplicate seqs).
    log = MessageLog(client=aws.client("dynamodb"), table=table)

    def send(n: int) -> int:
        stored = log.append(room="busy", user_id=f"u{n % 4}", name="U", text=f"m{n}", ref=None)
        return int(stored.ack["seq"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        seqs = sorted(pool.map(send, range(40)))
    assert seqs == list(range(1, 41))
    history = log.history("busy", after=0, before=None, limit=100)
    assert sorted(int(m["seq"]) for m in history) == list(range(1, 41))


def test_the_embedded_aws_can_run_in_its_own_process() -> None:
    import os

    with EmbeddedAws(own_process=True) as child:
        server = child._server
        pid = server._proc.pid
        assert os.getpid() != pid
        ddb = child.client("dynamodb")
        ddb.create_table(
            TableName="elsewhere",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        assert ddb.list_tables()["TableNames"] == ["elsewhere"]
    # Stopping the stack's AWS stops the process.
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_the_aws_process_never_outlives_a_stack_that_dies(tmp_path: Any) -> None:
    import os
    import subprocess
    import sys
    import time

    # A stack process that starts its AWS in a child, then dies without cleaning up.
    script = (
        "import os, sys\n"
        "from local.aws import EmbeddedAws\n"
        "aws = EmbeddedAws(own_process=True).start()\n"
        "print(aws._server._proc.pid, flush=True)\n"
        "os._exit(1)\n"
    )
    parent = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    pid = int(parent.stdout.split()[0])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        # Poll: the process is not our child, so there is nothing to wait() on.
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        pytest.fail("the embedded AWS process outlived its stack")
