"""Events shaped the way Lambda delivers them, built from what boto3 reads off moto (pure).

moto's stream records are not Lambda events (no ``eventSourceARN``, a ``datetime`` where Lambda
puts epoch seconds, ``eventVersion`` "1.0"); SQS and SNS need their own reshaping too. Everything
here is data in, data out, so each shape is tested without a server.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

__all__ = [
    "BatchVerdict",
    "batch_failures",
    "dynamodb_record",
    "on_failure_record",
    "sns_event",
    "sns_message_attributes",
    "sqs_record",
]

# Added by DynamoDB to the REMOVE records of items its TTL process deleted.
TTL_USER_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def _epoch(value: Any) -> float:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float(value)


def dynamodb_record(
    raw: dict[str, Any], *, stream_arn: str, region: str, ttl_delete: bool = False
) -> dict[str, Any]:
    """A record from ``dynamodbstreams.get_records`` as Lambda puts it in ``Records``."""
    body = dict(raw.get("dynamodb") or {})
    if "ApproximateCreationDateTime" in body:
        body["ApproximateCreationDateTime"] = int(_epoch(body["ApproximateCreationDateTime"]))
    record: dict[str, Any] = {
        "eventID": raw.get("eventID"),
        "eventName": raw.get("eventName"),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": raw.get("awsRegion") or region,
        "dynamodb": body,
        "eventSourceARN": stream_arn,
    }
    identity = raw.get("userIdentity")
    if identity:
        record["userIdentity"] = identity
    elif ttl_delete:
        record["userIdentity"] = dict(TTL_USER_IDENTITY)
    return record


def sqs_record(raw: dict[str, Any], *, queue_arn: str, region: str) -> dict[str, Any]:
    """A message from ``sqs.receive_message`` as Lambda puts it in ``Records``."""
    attributes = {k: str(v) for k, v in (raw.get("Attributes") or {}).items()}
    message_attributes: dict[str, Any] = {}
    for name, value in (raw.get("MessageAttributes") or {}).items():
        entry: dict[str, Any] = {
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value.get("DataType"),
        }
        if "StringValue" in value:
            entry["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            binary = value["BinaryValue"]
            if isinstance(binary, str):
                binary = binary.encode()
            entry["binaryValue"] = base64.b64encode(binary).decode()
        message_attributes[name] = entry
    record: dict[str, Any] = {
        "messageId": raw["MessageId"],
        "receiptHandle": raw["ReceiptHandle"],
        "body": raw.get("Body", ""),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": raw.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if raw.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = raw["MD5OfMessageAttributes"]
    return record


def sns_event(envelope: dict[str, Any], *, subscription_arn: str) -> dict[str, Any]:
    """The event Lambda gets for one SNS message, from the JSON envelope SNS sends to SQS.

    Note Lambda's spelling: ``SigningCertUrl`` / ``UnsubscribeUrl`` where the SQS envelope has
    ``SigningCertURL`` / ``UnsubscribeURL``.
    """
    sns = {
        "Type": envelope.get("Type", "Notification"),
        "MessageId": envelope.get("MessageId"),
        "TopicArn": envelope.get("TopicArn"),
        "Subject": envelope.get("Subject"),
        "Message": envelope.get("Message"),
        "Timestamp": envelope.get("Timestamp"),
        "SignatureVersion": envelope.get("SignatureVersion", "1"),
        "Signature": envelope.get("Signature", "EXAMPLE"),
        "SigningCertUrl": envelope.get("SigningCertURL", envelope.get("SigningCertUrl")),
        "UnsubscribeUrl": envelope.get("UnsubscribeURL", envelope.get("UnsubscribeUrl")),
        "MessageAttributes": {
            name: {"Type": attr.get("Type"), "Value": attr.get("Value")}
            for name, attr in (envelope.get("MessageAttributes") or {}).items()
        },
    }
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "Sns": sns,
            }
        ]
    }


def sns_message_attributes(envelope: dict[str, Any]) -> dict[str, Any]:
    """Message attributes as SNS filter policies see them: numbers as numbers, arrays parsed."""
    out: dict[str, Any] = {}
    for name, attr in (envelope.get("MessageAttributes") or {}).items():
        kind, value = attr.get("Type"), attr.get("Value")
        if kind == "Number":
            try:
                out[name] = float(value)
            except (TypeError, ValueError):
                continue
        elif kind == "String.Array":
            try:
                out[name] = json.loads(value)
            except (TypeError, ValueError):
                out[name] = value
        elif kind == "String":
            out[name] = value
    return out


class BatchVerdict:
    """What a function's answer says about a batch: all succeeded, all failed, or some ids."""

    def __init__(self, failed: set[str] | None, whole: bool) -> None:
        self.failed = failed or set()
        self.whole = whole

    @property
    def ok(self) -> bool:
        return not self.whole and not self.failed


def batch_failures(payload: Any, ids: list[str]) -> BatchVerdict:
    """Read ``batchItemFailures`` the way Lambda does for ``ReportBatchItemFailures``.

    Absent, null or empty: the whole batch succeeded. An entry whose ``itemIdentifier`` is
    missing, empty or not in the batch makes Lambda treat the whole batch as failed.
    """
    if not isinstance(payload, dict):
        return BatchVerdict(None, whole=False)
    entries = payload.get("batchItemFailures")
    if not entries:
        return BatchVerdict(None, whole=False)
    if not isinstance(entries, list):
        return BatchVerdict(None, whole=True)
    known = set(ids)
    failed: set[str] = set()
    for entry in entries:
        ident = entry.get("itemIdentifier") if isinstance(entry, dict) else None
        if not isinstance(ident, str) or ident not in known:
            return BatchVerdict(None, whole=True)
        failed.add(ident)
    return BatchVerdict(failed, whole=False)


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def on_failure_record(
    *,
    records: list[dict[str, Any]],
    shard_id: str,
    stream_arn: str,
    function_arn: str,
    request_id: str,
    condition: str,
    invoke_count: int,
    function_error: str | None,
    now: float,
) -> dict[str, Any]:
    """The invocation record Lambda sends to a stream's ``DestinationConfig.OnFailure``."""
    first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
    response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    if function_error:
        response["functionError"] = function_error
    return {
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "responseContext": response,
        "version": "1.0",
        "timestamp": _iso(now),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": first.get("SequenceNumber"),
            "endSequenceNumber": last.get("SequenceNumber"),
            "approximateArrivalOfFirstRecord": _iso(
                float(first.get("ApproximateCreationDateTime", now))
            ),
            "approximateArrivalOfLastRecord": _iso(
                float(last.get("ApproximateCreationDateTime", now))
            ),
            "batchSize": len(records),
            "streamArn": stream_arn,
        },
    }
