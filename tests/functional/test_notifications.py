"""notify (SNS) and fanout (SQS) handlers on moto."""

from __future__ import annotations

import json
import logging

import boto3
import pytest

from chatcore.fanout import chunk_body
from tests.support.chat import ChatHarness, User
from tests.support.events import sns_event, sqs_event

ALICE = User("alice", "Alice")
BOB = User("bob", "Bob")
CAROL = User("carol", "Carol")


@pytest.fixture
def chat(chat: ChatHarness) -> ChatHarness:
    """The shared harness, with Alice on two connections, Bob, and Carol in ``ops``."""
    for cid, user in (("c-alice-1", ALICE), ("c-alice-2", ALICE), ("c-bob", BOB)):
        chat.connect(cid, user)
    chat.connect("c-carol", CAROL)
    chat.reply("c-carol", {"action": "join", "room": "ops"})
    chat.api.clear()
    return chat


def notifications(chat: ChatHarness, cid: str) -> list[dict[str, object]]:
    return [e for e in chat.api.events(cid) if e["type"] == "notification"]


def notify(chat: ChatHarness, *messages: object) -> object:
    bodies = [m if isinstance(m, str) else json.dumps(m) for m in messages]
    return chat.invoke("notify", sns_event(bodies, topic_arn=chat.resources["NotificationsTopic"]))


def test_user_targets_reach_every_connection_of_those_users(chat: ChatHarness) -> None:
    answer = notify(chat, {"targets": {"users": ["alice"]}, "payload": {"n": 1}, "id": "n-1"})
    assert answer == {"delivered": 2, "dropped": 0}
    for cid in ("c-alice-1", "c-alice-2"):
        [event] = notifications(chat, cid)
        assert event == {
            "type": "notification",
            "id": "n-1",
            "payload": {"n": 1},
            "ts": event["ts"],
        }
    assert notifications(chat, "c-bob") == notifications(chat, "c-carol") == []


def test_room_targets_reach_the_members(chat: ChatHarness) -> None:
    notify(chat, {"targets": {"rooms": ["ops"], "users": ["bob"]}, "payload": "deploy"})
    assert [e["payload"] for e in notifications(chat, "c-carol")] == ["deploy"]
    assert [e["payload"] for e in notifications(chat, "c-bob")] == ["deploy"]
    assert notifications(chat, "c-alice-1") == []


def test_all_reaches_everyone_once(chat: ChatHarness) -> None:
    assert notify(chat, {"targets": {"all": True}, "payload": {}}) == {"delivered": 4, "dropped": 0}
    for cid in ("c-alice-1", "c-alice-2", "c-bob", "c-carol"):
        assert len(notifications(chat, cid)) == 1


def test_malformed_message_is_logged_without_content_and_dropped(
    chat: ChatHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    secret = "confidential-payload-text"
    answer = notify(
        chat,
        f"not json {secret}",
        {"targets": {}, "payload": secret},
        {"targets": {"users": ["bob"]}, "payload": "fine"},
    )
    assert answer == {"delivered": 1, "dropped": 2}
    assert [e["payload"] for e in notifications(chat, "c-bob")] == ["fine"]
    logged = "\n".join(repr(vars(record)) for record in caplog.records)
    dropped = [r for r in caplog.records if r.getMessage() == "notification dropped"]
    assert len(dropped) == 2
    assert secret not in logged


def test_a_gone_target_is_deleted(chat: ChatHarness) -> None:
    chat.api.gone.add("c-alice-2")
    notify(chat, {"targets": {"users": ["alice"]}, "payload": 1})
    item = boto3.client("dynamodb").get_item(
        TableName=chat.resources["ConnectionsTable"],
        Key={"pk": {"S": "CONN#c-alice-2"}, "sk": {"S": "META"}},
    )
    assert "Item" not in item
    assert len(notifications(chat, "c-alice-1")) == 1


def test_fanout_reports_only_the_failed_message(chat: ChatHarness) -> None:
    payload = json.dumps({"type": "message", "text": "chunked"}).encode()
    event = sqs_event([chunk_body(payload, ["c-bob", "c-carol"]), "not a chunk"])
    answer = chat.invoke("fanout", event)
    bad_id = event["Records"][1]["messageId"]
    assert answer == {"batchItemFailures": [{"itemIdentifier": bad_id}]}
    assert (
        chat.api.events("c-bob")
        == chat.api.events("c-carol")
        == [{"type": "message", "text": "chunked"}]
    )


def test_fanout_deletes_a_gone_connection_from_its_chunk(chat: ChatHarness) -> None:
    chat.api.gone.add("c-carol")
    body = chunk_body(b'{"type":"message"}', ["c-bob", "c-carol"])
    assert chat.invoke("fanout", sqs_event([body])) == {"batchItemFailures": []}
    items = boto3.client("dynamodb").scan(TableName=chat.resources["ConnectionsTable"])["Items"]
    keys = {(i["pk"]["S"], i["sk"]["S"]) for i in items}
    assert ("CONN#c-carol", "META") not in keys and ("ROOM#ops", "CONN#c-carol") not in keys
    assert ("CONN#c-bob", "META") in keys


def test_a_notification_that_cannot_fit_one_post_is_dropped_not_retried(
    chat: ChatHarness,
) -> None:
    message = {"targets": {"all": True}, "payload": "x" * 131_000}
    assert len(json.dumps(message)) <= 128 * 1024
    assert notify(chat, message) == {"delivered": 0, "dropped": 1}
    assert all(chat.api.attempts[cid] == 0 for cid in ("c-bob", "c-carol"))
