"""Event shapes the local event sources build from what boto3 reads off moto."""

from __future__ import annotations

import datetime as dt

from local.sources.records import (
    batch_failures,
    dynamodb_record,
    on_failure_record,
    sns_event,
    sns_message_attributes,
    sqs_record,
)

STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/T/stream/2026-01-01T00:00:00.000"


def moto_record(name: str = "INSERT") -> dict:
    return {
        "eventID": "e1",
        "eventName": name,
        "eventVersion": "1.0",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": dt.datetime(2026, 1, 1, 0, 0, 5, 300000, dt.UTC),
            "Keys": {"pk": {"S": "a"}},
            "SequenceNumber": "100",
            "SizeBytes": 10,
            "StreamViewType": "NEW_IMAGE",
        },
    }


def test_dynamodb_record_is_what_lambda_delivers() -> None:
    record = dynamodb_record(moto_record(), stream_arn=STREAM, region="us-east-1")

    assert record["eventVersion"] == "1.1"
    assert record["eventSourceARN"] == STREAM
    assert record["dynamodb"]["ApproximateCreationDateTime"] == 1767225605
    assert "userIdentity" not in record


def test_ttl_removes_carry_the_service_identity() -> None:
    record = dynamodb_record(
        moto_record("REMOVE"), stream_arn=STREAM, region="us-east-1", ttl_delete=True
    )
    assert record["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def test_batch_failures_follow_lambdas_rules() -> None:
    ids = ["1", "2", "3"]
    assert batch_failures(None, ids).ok
    assert batch_failures({"batchItemFailures": []}, ids).ok
    assert batch_failures({"batchItemFailures": None}, ids).ok
    assert batch_failures("not a dict", ids).ok
    partial = batch_failures({"batchItemFailures": [{"itemIdentifier": "2"}]}, ids)
    assert not partial.ok and not partial.whole and partial.failed == {"2"}
    # An identifier that is missing, empty or unknown fails the whole batch.
    for bad in ({}, {"itemIdentifier": ""}, {"itemIdentifier": "9"}, {"itemIdentifier": None}):
        assert batch_failures({"batchItemFailures": [bad]}, ids).whole


def test_sqs_record_shape() -> None:
    raw = {
        "MessageId": "m1",
        "ReceiptHandle": "rh",
        "MD5OfBody": "md5",
        "Body": "hello",
        "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1"},
        "MessageAttributes": {
            "s": {"DataType": "String", "StringValue": "v"},
            "b": {"DataType": "Binary", "BinaryValue": b"\x01\x02"},
        },
    }
    record = sqs_record(raw, queue_arn="arn:aws:sqs:us-east-1:1:q", region="us-east-1")

    assert record["messageId"] == "m1" and record["receiptHandle"] == "rh"
    assert record["body"] == "hello" and record["md5OfBody"] == "md5"
    assert record["eventSource"] == "aws:sqs" and record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["s"] == {
        "stringValue": "v",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert record["messageAttributes"]["b"]["binaryValue"] == "AQI="


def test_sns_event_uses_lambdas_spelling() -> None:
    envelope = {
        "Type": "Notification",
        "MessageId": "id",
        "TopicArn": "arn:aws:sns:us-east-1:1:t",
        "Message": "m",
        "Timestamp": "2026-01-01T00:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "sig",
        "SigningCertURL": "https://cert",
        "UnsubscribeURL": "https://unsub",
        "MessageAttributes": {
            "n": {"Type": "Number", "Value": "5"},
            "a": {"Type": "String.Array", "Value": '["x", "y"]'},
        },
    }
    event = sns_event(envelope, subscription_arn="arn:aws:sns:us-east-1:1:t:sub")
    sns = event["Records"][0]["Sns"]

    assert event["Records"][0]["EventSubscriptionArn"] == "arn:aws:sns:us-east-1:1:t:sub"
    assert sns["SigningCertUrl"] == "https://cert" and sns["UnsubscribeUrl"] == "https://unsub"
    assert sns["Subject"] is None
    assert sns["MessageAttributes"]["n"] == {"Type": "Number", "Value": "5"}
    assert sns_message_attributes(envelope) == {"n": 5.0, "a": ["x", "y"]}


def test_on_failure_record_describes_the_batch() -> None:
    records = [
        dynamodb_record(moto_record(), stream_arn=STREAM, region="us-east-1") for _ in range(2)
    ]
    records[1]["dynamodb"]["SequenceNumber"] = "200"
    body = on_failure_record(
        records=records,
        shard_id="shard-1",
        stream_arn=STREAM,
        function_arn="arn:aws:lambda:us-east-1:1:function:f",
        request_id="rid",
        condition="RetryAttemptsExhausted",
        invoke_count=3,
        function_error="Unhandled",
        now=1767225600.0,
    )

    assert body["requestContext"] == {
        "requestId": "rid",
        "functionArn": "arn:aws:lambda:us-east-1:1:function:f",
        "condition": "RetryAttemptsExhausted",
        "approximateInvokeCount": 3,
    }
    assert body["responseContext"]["functionError"] == "Unhandled"
    info = body["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"]) == ("100", "200")
    assert info["batchSize"] == 2 and info["shardId"] == "shard-1"
    assert info["approximateArrivalOfFirstRecord"] == "2026-01-01T00:00:05.000Z"
    assert body["timestamp"] == "2026-01-01T00:00:00.000Z"
