"""send / dm / history, the stream to broadcast, big rooms through FanoutQueue, 410 clean-up."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import boto3
import pytest

from tests.support.chat import ChatHarness, User
from tests.support.events import load_event, sqs_event, stream_event

ALICE = User("alice", "Alice")
BOB = User("bob", "Bob")
CAROL = User("carol", "Carol")


def stored_messages(chat: ChatHarness, room: str) -> list[dict[str, Any]]:
    items = boto3.client("dynamodb").query(
        TableName=chat.resources["MessagesTable"],
        KeyConditionExpression="pk = :p AND seq > :zero",
        ExpressionAttributeValues={":p": {"S": f"ROOM#{room}"}, ":zero": {"N": "0"}},
    )["Items"]
    return items


def all_message_items(chat: ChatHarness) -> list[dict[str, Any]]:
    items = boto3.client("dynamodb").scan(TableName=chat.resources["MessagesTable"])["Items"]
    return [i for i in items if i.get("kind", {}).get("S") == "message"]


def in_lobby(chat: ChatHarness, *pairs: tuple[str, User]) -> None:
    for cid, user in pairs:
        chat.connect(cid, user)
        assert chat.reply(cid, {"action": "join", "room": "lobby"})["type"] == "joined"


def messages_to(chat: ChatHarness, cid: str) -> list[dict[str, Any]]:
    return chat.api.messages(cid)


def test_send_acks_then_every_member_gets_the_message_from_the_stream(chat: ChatHarness) -> None:
    in_lobby(chat, ("c-alice", ALICE), ("c-bob", BOB))
    ack = chat.reply("c-alice", {"action": "send", "room": "lobby", "text": "hello", "ref": "r1"})
    assert ack == {"type": "ack", "ref": "r1", "id": ack["id"], "room": "lobby", "seq": 1}
    # chat only acks: the message is delivered once stored, by the broadcaster.
    assert messages_to(chat, "c-bob") == []
    assert chat.pump() == {"batchItemFailures": []}
    for cid in ("c-alice", "c-bob"):
        [message] = messages_to(chat, cid)
        assert message == {
            "type": "message",
            "id": ack["id"],
            "room": "lobby",
            "seq": 1,
            "from": "alice",
            "name": "Alice",
            "text": "hello",
            "ts": message["ts"],
        }
        assert abs(message["ts"] - time.time() * 1000) < 60_000


def test_from_is_the_authenticated_user_never_the_body(chat: ChatHarness) -> None:
    in_lobby(chat, ("c-alice", ALICE), ("c-bob", BOB))
    chat.reply("c-alice", {"action": "send", "room": "lobby", "text": "hi", "from": "bob"})
    chat.pump()
    assert messages_to(chat, "c-bob")[0]["from"] == "alice"


def test_a_retried_send_with_the_same_ref_gets_the_same_ack_and_stores_nothing(
    chat: ChatHarness,
) -> None:
    in_lobby(chat, ("c-alice", ALICE), ("c-bob", BOB))
    first = chat.reply("c-alice", {"action": "send", "room": "lobby", "text": "once", "ref": "r"})
    again = chat.reply("c-alice", {"action": "send", "room": "lobby", "text": "once", "ref": "r"})
    assert again == first
    assert len(stored_messages(chat, "lobby")) == 1
    chat.pump()
    assert len(messages_to(chat, "c-bob")) == 1
    # Another user may use the same ref: refs are per user.
    other = chat.reply("c-bob", {"action": "send", "room": "lobby", "text": "b", "ref": "r"})
    assert other["seq"] == 2 and other["id"] != first["id"]


def test_seq_is_gapless_and_increasing_per_room(chat: ChatHarness) -> None:
    in_lobby(chat, ("c-alice", ALICE))
    chat.reply("c-alice", {"action": "join", "room": "other"})
    seqs = [
        chat.reply("c-alice", {"action": "send", "room": "lobby", "text": str(i)})["seq"]
        for i in range(5)
    ]
    assert seqs == [1, 2, 3, 4, 5]
    assert chat.reply("c-alice", {"action": "send", "room": "other", "text": "x"})["seq"] == 1
    chat.pump()
    assert [m["seq"] for m in messages_to(chat, "c-alice") if m["room"] == "lobby"] == seqs


def test_send_to_a_room_not_joined_is_refused_and_stores_nothing(chat: ChatHarness) -> None:
    chat.connect("c-alice", ALICE)
    reply = chat.reply("c-alice", {"action": "send", "room": "lobby", "text": "hi", "ref": "n"})
    assert (reply["code"], reply["ref"]) == ("not_member", "n")
    assert all_message_items(chat) == []
    assert chat.stream_records() == []


def test_send_to_a_private_or_dm_room_without_rights_is_forbidden(chat: ChatHarness) -> None:
    chat.connect("c-alice", ALICE)
    for room in ("private:ops", "dm:alice:bob"):
        reply = chat.reply("c-alice", {"action": "send", "room": room, "text": "hi"})
        assert reply["code"] == "forbidden", room
    assert all_message_items(chat) == []


def test_text_over_the_limit_is_too_large_and_stores_nothing(chat: ChatHarness) -> None:
    in_lobby(chat, ("c-alice", ALICE))
    reply = chat.reply("c-alice", {"action": "send", "room": "lobby", "text": "x" * 4001})
    assert reply["code"] == "too_large"
    assert chat.reply("c-alice", {"action": "dm", "to": "bob", "text": "x" * 4001})["code"] == (
        "too_large"
    )
    assert all_message_items(chat) == []
    ack = chat.reply("c-alice", {"action": "send", "room": "lobby", "text": "x" * 4000})
    assert ack["type"] == "ack"


def test_sending_faster_than_the_budget_is_rate_limited(chat: ChatHarness) -> None:
    in_lobby(chat, ("c-alice", ALICE))
    replies: list[dict[str, Any]] = []
    # One send per second allowed: of sends made back to back, two soon share a second.
    for i in range(20):
        body = {"action": "send", "room": "lobby", "text": str(i), "ref": f"r{i}"}
        replies.append(chat.say("c-alice", body, SEND_RATE_PER_SECOND="1")[0])
        if replies[-1]["type"] == "error":
            break
    refused = replies[-1]
    assert (refused["code"], refused["ref"]) == ("rate_limited", f"r{len(replies) - 1}")
    acked = [r for r in replies if r["type"] == "ack"]
    assert len(stored_messages(chat, "lobby")) == len(acked) >= 1
    # A retry of an acknowledged send is answered even while over budget.
    retry = chat.say(
        "c-alice",
        {"action": "send", "room": "lobby", "text": "x", "ref": acked[0]["ref"]},
        SEND_RATE_PER_SECOND="1",
    )[0]
    assert retry == acked[0]


def test_history_pages_by_after_before_and_limit_in_seq_order(chat: ChatHarness) -> None:
    in_lobby(chat, ("c-alice", ALICE))
    for i in range(1, 8):
        chat.reply("c-alice", {"action": "send", "room": "lobby", "text": f"m{i}"})

    def seqs(**query: int) -> list[int]:
        reply = chat.reply("c-alice", {"action": "history", "room": "lobby", "ref": "h", **query})
        assert (reply["type"], reply["room"], reply["ref"]) == ("history", "lobby", "h")
        return [m["seq"] for m in reply["messages"]]

    assert seqs() == [1, 2, 3, 4, 5, 6, 7]
    assert seqs(limit=3) == [5, 6, 7]
    assert seqs(after=2, limit=3) == [3, 4, 5]
    assert seqs(before=4) == [1, 2, 3]
    assert seqs(before=6, limit=2) == [4, 5]
    assert seqs(after=2, before=6) == [3, 4, 5]
    assert seqs(after=7) == []
    message = chat.reply("c-alice", {"action": "history", "room": "lobby", "limit": 1})
    assert message["messages"][0]["text"] == "m7"
    assert message["messages"][0]["from"] == "alice"


def test_history_errors(chat: ChatHarness) -> None:
    in_lobby(chat, ("c-alice", ALICE))
    nothing = chat.reply("c-alice", {"action": "history", "room": "quiet", "ref": "q"})
    assert (nothing["code"], nothing["ref"]) == ("not_found", "q")
    assert (
        chat.reply("c-alice", {"action": "history", "room": "private:ops"})["code"] == "forbidden"
    )
    assert (
        chat.reply("c-alice", {"action": "history", "room": "lobby", "limit": 101})["code"]
        == "bad_request"
    )


def test_dm_reaches_every_connection_of_both_users_only(chat: ChatHarness) -> None:
    for cid, user in (
        ("c-alice-1", ALICE),
        ("c-alice-2", ALICE),
        ("c-bob-1", BOB),
        ("c-bob-2", BOB),
        ("c-carol", CAROL),
    ):
        chat.connect(cid, user)
    ack = chat.reply("c-alice-1", {"action": "dm", "to": "bob", "text": "psst", "ref": "d"})
    assert (ack["room"], ack["seq"], ack["ref"]) == ("dm:alice:bob", 1, "d")
    assert chat.pump() == {"batchItemFailures": []}
    for cid in ("c-alice-1", "c-alice-2", "c-bob-1", "c-bob-2"):
        [message] = messages_to(chat, cid)
        assert (message["room"], message["text"], message["from"]) == (
            "dm:alice:bob",
            "psst",
            "alice",
        )
    assert chat.api.events("c-carol") == []
    # Either user's reply lands in the same room, and only they can read it.
    back = chat.reply("c-bob-2", {"action": "dm", "to": "alice", "text": "hi"})
    assert (back["room"], back["seq"]) == ("dm:alice:bob", 2)
    history = chat.reply("c-bob-1", {"action": "history", "room": "dm:alice:bob"})
    assert [m["text"] for m in history["messages"]] == ["psst", "hi"]
    refused = chat.reply("c-carol", {"action": "history", "room": "dm:alice:bob"})
    assert refused["code"] == "forbidden"


def test_dm_to_yourself_is_bad_request(chat: ChatHarness) -> None:
    chat.connect("c-alice", ALICE)
    assert chat.reply("c-alice", {"action": "dm", "to": "alice", "text": "me"})["code"] == (
        "bad_request"
    )
    assert all_message_items(chat) == []


def test_broadcast_reports_only_the_failed_record(chat: ChatHarness) -> None:
    in_lobby(chat, ("c-alice", ALICE), ("c-bob", BOB))
    chat.reply("c-alice", {"action": "send", "room": "lobby", "text": "good"})
    [good] = chat.stream_records()
    broken = json.loads(json.dumps(load_event("stream")["Records"][0]))
    del broken["dynamodb"]["NewImage"]["text"]
    broken["dynamodb"]["SequenceNumber"] = "999"
    answer = chat.invoke("broadcast", stream_event([broken, good]))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "999"}]}
    assert [m["text"] for m in messages_to(chat, "c-bob")] == ["good"]


def test_a_gone_member_is_deleted_and_nobody_else(chat: ChatHarness) -> None:
    in_lobby(chat, ("c-alice", ALICE), ("c-bob", BOB), ("c-stale", CAROL))
    chat.api.gone.add("c-stale")
    chat.reply("c-alice", {"action": "send", "room": "lobby", "text": "hi"})
    assert chat.pump() == {"batchItemFailures": []}
    table = chat.resources["ConnectionsTable"]
    items = boto3.client("dynamodb").scan(TableName=table)["Items"]
    keys = {(i["pk"]["S"], i["sk"]["S"]) for i in items}
    assert ("CONN#c-stale", "META") not in keys
    assert ("ROOM#lobby", "CONN#c-stale") not in keys
    # The sender and the other member are untouched, and got the message.
    assert {("CONN#c-alice", "META"), ("CONN#c-bob", "META")} <= keys
    assert {("ROOM#lobby", "CONN#c-alice"), ("ROOM#lobby", "CONN#c-bob")} <= keys
    assert len(messages_to(chat, "c-alice")) == len(messages_to(chat, "c-bob")) == 1
    # A later message no longer tries the stale connection.
    attempts = chat.api.attempts["c-stale"]
    chat.reply("c-alice", {"action": "send", "room": "lobby", "text": "again"})
    chat.pump()
    assert chat.api.attempts["c-stale"] == attempts


def test_a_throttled_member_is_retried_then_delivered(chat: ChatHarness) -> None:
    in_lobby(chat, ("c-alice", ALICE), ("c-bob", BOB))
    chat.api.throttle["c-bob"] = 1
    chat.reply("c-alice", {"action": "send", "room": "lobby", "text": "hi"})
    assert chat.pump() == {"batchItemFailures": []}
    assert [m["text"] for m in messages_to(chat, "c-bob")] == ["hi"]


def test_a_big_room_goes_through_fanout_queue_in_chunks(chat: ChatHarness) -> None:
    members = [(f"c-{i}", User(f"user{i}", f"User {i}")) for i in range(5)]
    in_lobby(chat, *members)
    chat.reply("c-0", {"action": "send", "room": "lobby", "text": "to all"})
    records = chat.stream_records()
    answer = chat.invoke("broadcast", stream_event(records), FANOUT_CHUNK_SIZE="2")
    assert answer == {"batchItemFailures": []}
    assert all(messages_to(chat, cid) == [] for cid, _ in members)
    sqs = boto3.client("sqs")
    queue = chat.resources["FanoutQueue"]
    bodies: list[str] = []
    for _ in range(10):
        received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not received:
            break
        bodies.extend(m["Body"] for m in received)
    chunks = [json.loads(b)["connectionIds"] for b in bodies]
    assert sorted(len(c) for c in chunks) == [1, 2, 2]
    assert sorted(cid for c in chunks for cid in c) == sorted(cid for cid, _ in members)
    assert chat.invoke("fanout", sqs_event(bodies)) == {"batchItemFailures": []}
    for cid, _ in members:
        assert [m["text"] for m in messages_to(chat, cid)] == ["to all"]


def test_message_text_never_reaches_the_logs(
    chat: ChatHarness, caplog: pytest.LogCaptureFixture
) -> None:
    # INFO, the functions' level: botocore's DEBUG wire dumps are not the functions' logs.
    caplog.set_level(logging.INFO)
    secret = "the-text-nobody-may-log"
    in_lobby(chat, ("c-alice", ALICE), ("c-bob", BOB))
    chat.reply("c-alice", {"action": "send", "room": "lobby", "text": secret})
    chat.reply("c-alice", {"action": "dm", "to": "bob", "text": secret})
    chat.reply("c-alice", {"action": "send", "room": "nope", "text": secret})
    chat.pump()
    assert [m["text"] for m in messages_to(chat, "c-bob")] == [secret, secret]
    logged = "\n".join(repr(vars(record)) for record in caplog.records)
    assert "frame rejected" in logged and "broadcast" in logged
    assert secret not in logged


def test_one_batch_of_several_rooms_keeps_each_rooms_order_and_skips_the_gone(
    chat: ChatHarness,
) -> None:
    in_lobby(chat, ("c-alice", ALICE), ("c-bob", BOB), ("c-stale", CAROL))
    dave = User("dave", "Dave")
    chat.connect("c-dave", dave)
    chat.reply("c-dave", {"action": "join", "room": "ops"})
    chat.api.gone.add("c-stale")
    for i in range(4):
        chat.reply("c-alice", {"action": "send", "room": "lobby", "text": f"lobby {i}"})
        chat.reply("c-dave", {"action": "send", "room": "ops", "text": f"ops {i}"})

    # All eight records arrive in one batch.
    tried_before = chat.api.attempts["c-stale"]
    assert chat.pump() == {"batchItemFailures": []}
    assert [m["text"] for m in messages_to(chat, "c-bob")] == [f"lobby {i}" for i in range(4)]
    assert [m["seq"] for m in messages_to(chat, "c-bob")] == [1, 2, 3, 4]
    assert [m["text"] for m in messages_to(chat, "c-dave")] == [f"ops {i}" for i in range(4)]
    # The stale connection answered 410 once; the room's later messages no longer try it.
    assert chat.api.attempts["c-stale"] - tried_before == 1
