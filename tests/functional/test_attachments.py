"""Attachments on moto: declare (pre-signed POST), the ObjectCreated check, send/dm, download.

The bytes go to moto's S3 with ``put_object`` here, standing in for the browser's POST: moto does
not check POST policies (the local stack's S3 front does; see tests/e2e/test_attachments_s3.py).
"""

from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any

import boto3
import pytest

from tests.support.attachment_events import download_event, s3_created_event
from tests.support.attachments import declare, upload
from tests.support.chat import ChatHarness, User
from tests.support.images import image_bytes

ALICE = User("alice", "Alice")
BOB = User("bob", "Bob")
MALLORY = User("mallory", "Mallory")
PNG = image_bytes("image/png", 64, 32)


@pytest.fixture
def bucket(chat: ChatHarness) -> str:
    return chat.envs["AttachmentsFunction"]["ATTACHMENTS_BUCKET"]


def item(chat: ChatHarness, attachment_id: str) -> dict[str, Any]:
    answer = boto3.client("dynamodb").get_item(
        TableName=chat.resources["MessagesTable"],
        Key={"pk": {"S": f"ATT#{attachment_id}"}, "seq": {"N": "0"}},
    )
    return answer.get("Item", {})


def keys_in(bucket: str) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=bucket)
    return [o["Key"] for o in listed.get("Contents", [])]


def in_lobby(chat: ChatHarness, *pairs: tuple[str, User]) -> None:
    for cid, user in pairs:
        chat.connect(cid, user)
        assert chat.reply(cid, {"action": "join", "room": "lobby"})["type"] == "joined"


def messages_to(chat: ChatHarness, cid: str) -> list[dict[str, Any]]:
    return [e for e in chat.api.events(cid) if e["type"] == "message"]


# ---- declaring ---------------------------------------------------------------------------------


def test_declaring_gives_a_presigned_post_pinned_to_key_type_and_exact_size(
    chat: ChatHarness, bucket: str
) -> None:
    status, answer = declare(
        chat, "lobby", {"name": "cat photo.png", "type": "image/png", "size": 1234}
    )
    assert status == 201
    assert set(answer) == {"id", "upload", "expires"}
    fields = answer["upload"]["fields"]
    assert fields["key"] == f"rooms/lobby/{answer['id']}/cat_photo.png"
    assert fields["Content-Type"] == "image/png"
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    assert answer["upload"]["url"].rstrip("/").endswith(bucket)
    policy = json.loads(base64.b64decode(fields["policy"]))
    conditions = policy["conditions"]
    assert {"key": fields["key"]} in conditions
    assert {"Content-Type": "image/png"} in conditions
    assert ["content-length-range", 1234, 1234] in conditions
    assert policy["expiration"].startswith(answer["expires"][:13])
    stored = item(chat, answer["id"])
    assert stored["status"] == {"S": "pending"} and stored["ownerId"] == {"S": "alice"}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (
            {"name": "big.zip", "type": "application/zip", "size": 25 * 1024 * 1024 + 1},
            413,
            "too_large",
        ),
        ({"name": "x.exe", "type": "application/x-msdownload", "size": 10}, 400, "bad_request"),
        ({"name": "x.png", "type": "image/png"}, 400, "bad_request"),
        ("not json", 400, "bad_request"),
    ],
)
def test_a_bad_declaration_is_refused_with_its_code_and_stores_nothing(
    chat: ChatHarness, body: Any, status: int, code: str
) -> None:
    got_status, answer = declare(chat, "lobby", body)
    assert (got_status, answer["code"]) == (status, code)
    assert answer["message"]
    scan = boto3.client("dynamodb").scan(TableName=chat.resources["MessagesTable"])
    assert scan["Items"] == []


def test_rooms_the_user_may_not_use_are_forbidden(chat: ChatHarness) -> None:
    body = {"name": "a.txt", "type": "text/plain", "size": 3}
    assert declare(chat, "private:ops", body)[0] == 403
    assert declare(chat, "private:ops", body, rooms=("private:ops",))[0] == 201
    assert declare(chat, "dm:bob:carol", body)[0] == 403
    assert declare(chat, "dm:alice:bob", body)[0] == 201


def test_no_authorizer_identity_is_refused_as_on_the_other_routes(chat: ChatHarness) -> None:
    status, answer = declare(
        chat, "lobby", {"name": "a", "type": "text/plain", "size": 1}, user=None
    )
    assert status == 403 and answer["code"] == "forbidden"


# ---- the ObjectCreated check -------------------------------------------------------------------


def test_a_matching_image_becomes_ready_with_its_size_and_is_tagged_unreferenced(
    chat: ChatHarness, bucket: str
) -> None:
    attachment_id, result = upload(chat, bucket, "lobby", PNG)
    assert result == {"ready": 1}
    stored = item(chat, attachment_id)
    assert stored["status"] == {"S": "ready"}
    assert (stored["width"], stored["height"]) == ({"N": "64"}, {"N": "32"})
    key = stored["key"]["S"]
    tags = boto3.client("s3").get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    assert tags == [{"Key": "referenced", "Value": "false"}]


@pytest.mark.parametrize(
    ("data", "declared_type", "stored_type", "declared_size"),
    [
        (b"MZ\x90\x00 not a png at all", "image/png", None, None),  # magic bytes lie
        (PNG, "image/png", "image/gif", None),  # Content-Type differs
        (PNG, "image/png", None, len(PNG) + 1),  # size differs
    ],
)
def test_an_object_that_does_not_match_its_declaration_is_deleted(
    chat: ChatHarness,
    bucket: str,
    data: bytes,
    declared_type: str,
    stored_type: str | None,
    declared_size: int | None,
) -> None:
    attachment_id, result = upload(
        chat,
        bucket,
        "lobby",
        data,
        declared_type=declared_type,
        stored_type=stored_type,
        declared_size=declared_size,
    )
    assert result == {"rejected": 1}
    assert keys_in(bucket) == []
    assert item(chat, attachment_id)["status"] == {"S": "rejected"}


def test_an_object_nobody_declared_is_deleted_and_a_repeated_event_changes_nothing(
    chat: ChatHarness, bucket: str
) -> None:
    s3 = boto3.client("s3")
    stray = "rooms/lobby/0123456789abcdef0123456789abcdef/x.png"
    s3.put_object(Bucket=bucket, Key=stray, Body=PNG, ContentType="image/png")
    assert chat.invoke("attachment_check", s3_created_event(bucket, stray, len(PNG))) == {
        "rejected": 1
    }
    assert keys_in(bucket) == []
    attachment_id, _ = upload(chat, bucket, "lobby", PNG, name="a b.png")
    key = item(chat, attachment_id)["key"]["S"]
    assert key.endswith("/a_b.png")
    again = chat.invoke("attachment_check", s3_created_event(bucket, key, len(PNG)))
    assert again == {"ignored": 1}
    assert item(chat, attachment_id)["status"] == {"S": "ready"}


# ---- send / dm ---------------------------------------------------------------------------------


def test_members_get_the_attachment_in_the_message_and_in_history(
    chat: ChatHarness, bucket: str
) -> None:
    in_lobby(chat, ("c-alice", ALICE), ("c-bob", BOB))
    attachment_id, _ = upload(chat, bucket, "lobby", PNG)
    ack = chat.reply(
        "c-alice", {"action": "send", "room": "lobby", "attachments": [attachment_id], "ref": "r1"}
    )
    assert ack["type"] == "ack" and ack["seq"] == 1
    assert chat.pump() == {"batchItemFailures": []}
    expected = [
        {
            "id": attachment_id,
            "name": "cat.png",
            "type": "image/png",
            "size": len(PNG),
            "width": 64,
            "height": 32,
        }
    ]
    [message] = messages_to(chat, "c-bob")
    assert message["attachments"] == expected and message["text"] == ""
    history = chat.reply("c-bob", {"action": "history", "room": "lobby"})
    assert history["messages"][0]["attachments"] == expected
    # Referenced now: out of the one-day expiry of unreferenced uploads, kept like messages.
    key = item(chat, attachment_id)["key"]["S"]
    tags = boto3.client("s3").get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    assert tags == [{"Key": "referenced", "Value": "true"}]
    assert item(chat, attachment_id)["referenced"] == {"BOOL": True}


def test_a_dm_carries_an_attachment_declared_for_the_pair_s_room(
    chat: ChatHarness, bucket: str
) -> None:
    chat.connect("c-alice", ALICE)
    chat.connect("c-bob", BOB)
    attachment_id, _ = upload(
        chat, bucket, "dm:alice:bob", b"hello", name="n.txt", declared_type="text/plain"
    )
    ack = chat.reply(
        "c-alice", {"action": "dm", "to": "bob", "text": "see file", "attachments": [attachment_id]}
    )
    assert ack["room"] == "dm:alice:bob"
    chat.pump()
    [message] = messages_to(chat, "c-bob")
    assert message["attachments"][0]["id"] == attachment_id


def _refused(chat: ChatHarness, frame: dict[str, Any], code: str) -> None:
    reply = chat.reply("c-alice", frame)
    assert reply["type"] == "error" and reply["code"] == code, reply
    assert reply["ref"] == frame["ref"]
    chat.pump()
    assert messages_to(chat, "c-bob") == []
    assert chat.reply("c-alice", {"action": "history", "room": "lobby"})["code"] == "not_found"


def test_someone_else_s_attachment_is_refused_and_nothing_is_stored(
    chat: ChatHarness, bucket: str
) -> None:
    in_lobby(chat, ("c-alice", ALICE), ("c-bob", BOB))
    theirs, _ = upload(chat, bucket, "lobby", PNG, user="mallory")
    frame = {"action": "send", "room": "lobby", "text": "x", "attachments": [theirs], "ref": "r"}
    _refused(chat, frame, "forbidden")


def test_an_attachment_for_another_room_is_refused(chat: ChatHarness, bucket: str) -> None:
    in_lobby(chat, ("c-alice", ALICE), ("c-bob", BOB))
    other, _ = upload(chat, bucket, "kitchen", PNG)
    frame = {"action": "send", "room": "lobby", "text": "x", "attachments": [other], "ref": "r"}
    _refused(chat, frame, "forbidden")


def test_an_attachment_not_uploaded_yet_is_not_ready(chat: ChatHarness) -> None:
    in_lobby(chat, ("c-alice", ALICE), ("c-bob", BOB))
    _, answer = declare(chat, "lobby", {"name": "a.png", "type": "image/png", "size": 10})
    frame = {
        "action": "send",
        "room": "lobby",
        "text": "x",
        "attachments": [answer["id"]],
        "ref": "r",
    }
    _refused(chat, frame, "attachment_not_ready")


def test_an_upload_window_that_closed_is_expired(chat: ChatHarness) -> None:
    in_lobby(chat, ("c-alice", ALICE), ("c-bob", BOB))
    _, answer = declare(chat, "lobby", {"name": "a.png", "type": "image/png", "size": 10})
    # The pre-signed POST's lifetime, passed: move its end into the past.
    boto3.client("dynamodb").update_item(
        TableName=chat.resources["MessagesTable"],
        Key={"pk": {"S": f"ATT#{answer['id']}"}, "seq": {"N": "0"}},
        UpdateExpression="SET uploadExpiresAt = :past",
        ExpressionAttributeValues={":past": {"N": "1"}},
    )
    frame = {
        "action": "send",
        "room": "lobby",
        "text": "x",
        "attachments": [answer["id"]],
        "ref": "r",
    }
    _refused(chat, frame, "attachment_expired")


def test_a_deleted_mismatch_and_an_unknown_id_are_not_found(chat: ChatHarness, bucket: str) -> None:
    in_lobby(chat, ("c-alice", ALICE), ("c-bob", BOB))
    rejected, _ = upload(chat, bucket, "lobby", b"not a png", declared_type="image/png")
    for attachment_id in (rejected, "f" * 32):
        frame = {
            "action": "send",
            "room": "lobby",
            "text": "x",
            "attachments": [attachment_id],
            "ref": "r",
        }
        _refused(chat, frame, "attachment_not_found")


def test_a_malformed_attachments_field_is_a_bad_request(chat: ChatHarness) -> None:
    in_lobby(chat, ("c-alice", ALICE), ("c-bob", BOB))
    _refused(
        chat,
        {"action": "send", "room": "lobby", "text": "x", "attachments": "abc", "ref": "r"},
        "bad_request",
    )


# ---- download ----------------------------------------------------------------------------------


def test_download_redirects_to_a_short_lived_url_with_the_bytes(
    chat: ChatHarness, bucket: str
) -> None:
    attachment_id, _ = upload(chat, bucket, "lobby", PNG)
    response = chat.invoke("attachments", download_event(attachment_id, user="bob"))
    assert response["statusCode"] == 302
    location = response["headers"]["location"]
    assert "X-Amz-Expires=300" in location and "X-Amz-Signature=" in location
    with urllib.request.urlopen(location, timeout=10) as got:
        assert got.read() == PNG
        assert got.headers["Content-Type"] == "image/png"
    as_json = chat.invoke(
        "attachments", download_event(attachment_id, user="bob", accept="application/json")
    )
    assert as_json["statusCode"] == 200
    assert json.loads(as_json["body"])["url"].startswith(location.split("?")[0])


def test_download_needs_read_access_to_the_room_and_an_uploaded_file(
    chat: ChatHarness, bucket: str
) -> None:
    private, _ = upload(
        chat, bucket, "dm:alice:bob", b"secret", name="s.txt", declared_type="text/plain"
    )
    refused = chat.invoke("attachments", download_event(private, user="mallory"))
    assert refused["statusCode"] == 403
    assert json.loads(refused["body"])["code"] == "forbidden"
    assert chat.invoke("attachments", download_event(private, user="bob"))["statusCode"] == 302
    _, pending = declare(chat, "lobby", {"name": "a.png", "type": "image/png", "size": 10})
    not_yet = chat.invoke("attachments", download_event(pending["id"]))
    assert (not_yet["statusCode"], json.loads(not_yet["body"])["code"]) == (
        409,
        "attachment_not_ready",
    )
    unknown = chat.invoke("attachments", download_event("e" * 32))
    assert unknown["statusCode"] == 404


def test_other_bytes_under_a_checked_key_are_deleted_and_the_file_refused(
    chat: ChatHarness, bucket: str
) -> None:
    in_lobby(chat, ("c-alice", ALICE), ("c-bob", BOB))
    attachment_id, _ = upload(chat, bucket, "lobby", PNG)
    key = item(chat, attachment_id)["key"]["S"]
    # The POST policy is valid for minutes: a second upload of other bytes, same size and type.
    swapped = image_bytes("image/png", 64, 32, compress_level=0)[: len(PNG)]
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=swapped, ContentType="image/png")
    again = chat.invoke("attachment_check", s3_created_event(bucket, key, len(swapped)))
    assert again == {"rejected": 1}
    assert keys_in(bucket) == []
    frame = {
        "action": "send",
        "room": "lobby",
        "text": "x",
        "attachments": [attachment_id],
        "ref": "r",
    }
    _refused(chat, frame, "attachment_not_found")


def test_s3_test_events_and_other_buckets_are_left_alone(chat: ChatHarness, bucket: str) -> None:
    assert (
        chat.invoke(
            "attachment_check", {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": bucket}
        )
        == {}
    )
    stray = "rooms/lobby/0123456789abcdef0123456789abcdef/x.png"
    boto3.client("s3").put_object(Bucket=bucket, Key=stray, Body=b"x")
    assert chat.invoke("attachment_check", s3_created_event("other-bucket", stray, 1)) == {}
    assert keys_in(bucket) == [stray]


# ---- the HTTP publish ----------------------------------------------------------------------------

PUBLISH = "POST /rooms/{room}/messages"


def test_an_http_publish_carries_attachments_like_a_send(chat: ChatHarness, bucket: str) -> None:
    in_lobby(chat, ("c-bob", BOB))
    attachment_id, _ = upload(chat, bucket, "lobby", PNG)
    body = {"text": "over http", "attachments": [attachment_id]}
    answer = chat.http(PUBLISH, ALICE, path={"room": "lobby"}, body=body)
    assert answer.status == 201 and answer.body["seq"] == 1, answer
    chat.pump()
    [message] = messages_to(chat, "c-bob")
    assert message["text"] == "over http"
    assert message["attachments"][0]["id"] == attachment_id
    assert message["attachments"][0]["width"] == 64
    assert item(chat, attachment_id)["referenced"] == {"BOOL": True}


def test_an_http_publish_with_a_refused_attachment_stores_nothing(
    chat: ChatHarness, bucket: str
) -> None:
    in_lobby(chat, ("c-bob", BOB))
    theirs, _ = upload(chat, bucket, "lobby", PNG, user="mallory")
    status, pending = declare(chat, "lobby", {"name": "a.txt", "type": "text/plain", "size": 3})
    assert status == 201
    for ids, status, code in (
        ([theirs], 403, "forbidden"),
        ([pending["id"]], 409, "attachment_not_ready"),
        (["0" * 32], 404, "attachment_not_found"),
        ("not-a-list", 400, "bad_request"),
    ):
        body = {"text": "x", "attachments": ids}
        answer = chat.http(PUBLISH, ALICE, path={"room": "lobby"}, body=body)
        assert (answer.status, answer.body["code"]) == (status, code), answer
    chat.pump()
    assert messages_to(chat, "c-bob") == []
    assert chat.reply("c-bob", {"action": "history", "room": "lobby"})["code"] == "not_found"
