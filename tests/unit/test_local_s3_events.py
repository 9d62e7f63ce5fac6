"""local.s3.events: the template's S3 subscriptions, the event S3 sends Lambda, CORS answers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from local.s3.events import Subscription, cors_headers, object_created_event, subscriptions
from local.template import load_stack

ROOT = Path(__file__).resolve().parents[2]


def test_the_template_subscribes_the_check_to_object_created_under_rooms() -> None:
    stack = load_stack(ROOT / "template.yaml", check_code=False)
    bucket = stack.resources["AttachmentsBucket"].physical_id
    (subscription,) = subscriptions(stack)[bucket]
    assert subscription.function == "AttachmentCheckFunction"
    assert subscription.wants("ObjectCreated:Post", "rooms/lobby/x/a.png")
    assert subscription.wants("ObjectCreated:Put", "rooms/lobby/x/a.png")
    assert not subscription.wants("ObjectCreated:Post", "elsewhere/a.png")
    assert not subscription.wants("ObjectRemoved:Delete", "rooms/lobby/x/a.png")


def test_the_event_has_the_shape_lambda_receives_from_s3() -> None:
    subscription = Subscription("Fn", "FnUploaded", ("s3:ObjectCreated:*",), "rooms/")
    now = datetime(2026, 12, 2, 1, 2, 3, 456000, tzinfo=UTC)
    event = object_created_event(
        subscription,
        event_name="ObjectCreated:Post",
        bucket="b",
        key="rooms/lobby/x/a b+c.png",
        size=42,
        etag='"abc"',
        region="us-east-1",
        principal="AWS:testing",
        source_ip="127.0.0.1",
        owner="A123",
        now=now,
    )
    (record,) = event["Records"]
    assert {k: record[k] for k in ("eventVersion", "eventSource", "awsRegion", "eventTime")} == {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2026-12-02T01:02:03.456Z",
    }
    assert record["eventName"] == "ObjectCreated:Post"
    assert record["userIdentity"] == {"principalId": "AWS:testing"}
    assert record["requestParameters"] == {"sourceIPAddress": "127.0.0.1"}
    assert set(record["responseElements"]) == {"x-amz-request-id", "x-amz-id-2"}
    s3 = record["s3"]
    assert s3["s3SchemaVersion"] == "1.0" and s3["configurationId"] == "FnUploaded"
    assert s3["bucket"] == {
        "name": "b",
        "ownerIdentity": {"principalId": "A123"},
        "arn": "arn:aws:s3:::b",
    }
    assert s3["object"]["key"] == "rooms/lobby/x/a+b%2Bc.png"
    assert (s3["object"]["size"], s3["object"]["eTag"]) == (42, "abc")
    later = object_created_event(
        subscription,
        event_name="ObjectCreated:Post",
        bucket="b",
        key="k",
        size=1,
        etag="",
        region="us-east-1",
        principal="p",
        source_ip="i",
        owner="o",
        now=now,
    )
    assert later["Records"][0]["s3"]["object"]["sequencer"] > s3["object"]["sequencer"]


def test_cors_follows_the_rules() -> None:
    rules = [
        {
            "AllowedOrigins": ["https://chat.example.com"],
            "AllowedMethods": ["POST", "GET"],
            "AllowedHeaders": ["*"],
            "ExposedHeaders": ["ETag"],
            "MaxAge": 3000,
        }
    ]
    headers = cors_headers(
        rules, origin="https://chat.example.com", method="POST", request_headers=["content-type"]
    )
    assert headers is not None
    assert headers["Access-Control-Allow-Origin"] == "https://chat.example.com"
    assert headers["Access-Control-Expose-Headers"] == "ETag"
    assert headers["Access-Control-Max-Age"] == "3000"
    assert cors_headers(rules, origin="https://evil.example.com", method="POST") is None
    assert cors_headers(rules, origin="https://chat.example.com", method="DELETE") is None
    assert cors_headers(rules, origin=None, method="GET") is None
