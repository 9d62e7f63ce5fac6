"""Attachments for functional tests: declare one through the attachments function and upload it
the way the pre-signed POST would (``put_object`` on moto, which checks no POST policy), then run
the ObjectCreated check."""

from __future__ import annotations

import json
from typing import Any

import boto3

from tests.support.attachment_events import declare_event, s3_created_event
from tests.support.chat import ChatHarness

__all__ = ["declare", "upload"]


def declare(
    chat: ChatHarness,
    room: str,
    body: Any,
    *,
    user: str | None = "alice",
    rooms: tuple[str, ...] = (),
) -> tuple[int, dict[str, Any]]:
    response = chat.invoke("attachments", declare_event(room, body, user=user, rooms=rooms))
    return response["statusCode"], json.loads(response["body"])


def upload(
    chat: ChatHarness,
    bucket: str,
    room: str,
    data: bytes,
    *,
    name: str = "cat.png",
    declared_type: str = "image/png",
    stored_type: str | None = None,
    declared_size: int | None = None,
    user: str = "alice",
) -> tuple[str, dict[str, Any]]:
    """Declare, store the bytes where the pre-signed POST points, run the check; (id, result)."""
    status, answer = declare(
        chat,
        room,
        {"name": name, "type": declared_type, "size": declared_size or len(data)},
        user=user,
    )
    assert status == 201, answer
    key = answer["upload"]["fields"]["key"]
    boto3.client("s3").put_object(
        Bucket=bucket, Key=key, Body=data, ContentType=stored_type or declared_type
    )
    result = chat.invoke("attachment_check", s3_created_event(bucket, key, len(data)))
    return answer["id"], result
