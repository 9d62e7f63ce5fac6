"""Several messages of a room in one stream batch: one ``messages`` frame per member.

The broadcaster runs on moto with the in-memory ``@connections`` fake, fed the MessagesTable
stream the way Lambda would (``ChatHarness.pump`` hands every new record over in one batch).
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chatcore.frames import FRAME_UNIT_BYTES
from tests.functional.test_metrics import emf_blobs, total
from tests.support.chat import ChatHarness, User
from tests.support.events import sqs_event, stream_event

ALICE = User("alice", "Alice")
BOB = User("bob", "Bob")
CAROL = User("carol", "Carol")


def joined(chat: ChatHarness, room: str, *pairs: tuple[str, User]) -> None:
    for cid, user in pairs:
        if cid not in chat.users:
            chat.connect(cid, user)
        assert chat.reply(cid, {"action": "join", "room": room})["type"] == "joined"


def send(chat: ChatHarness, cid: str, room: str, text: str) -> dict[str, Any]:
    ack = chat.reply(cid, {"action": "send", "room": room, "text": text})
    assert ack["type"] == "ack", ack
    return ack


def frames(chat: ChatHarness, cid: str, *types: str) -> list[dict[str, Any]]:
    return [e for e in chat.api.events(cid) if e["type"] in types]


def test_several_messages_of_a_room_reach_each_member_as_one_frame_in_seq_order(
    chat: ChatHarness,
) -> None:
    joined(chat, "lobby", ("c-alice", ALICE), ("c-bob", BOB))
    acks = [send(chat, "c-alice", "lobby", f"m{n}") for n in range(3)]
    chat.api.clear()
    assert chat.pump() == {"batchItemFailures": []}
    for cid in ("c-alice", "c-bob"):
        assert len(chat.api.posted[cid]) == 1  # one POST for three messages
        [frame] = chat.api.events(cid)
        assert frame["type"] == "messages" and frame["room"] == "lobby"
        assert [m["type"] for m in frame["messages"]] == ["message"] * 3
        assert [(m["id"], m["seq"]) for m in frame["messages"]] == [
            (a["id"], a["seq"]) for a in acks
        ]
        assert [m["text"] for m in frame["messages"]] == ["m0", "m1", "m2"]
        assert {m["from"] for m in frame["messages"]} == {"alice"}


def test_one_message_per_room_is_still_a_plain_message_event(chat: ChatHarness) -> None:
    joined(chat, "lobby", ("c-alice", ALICE), ("c-bob", BOB))
    joined(chat, "ops", ("c-bob", BOB))
    send(chat, "c-alice", "lobby", "only one here")
    send(chat, "c-bob", "ops", "and one there")
    chat.api.clear()
    assert chat.pump() == {"batchItemFailures": []}
    assert chat.types("c-bob") == ["message", "message"]
    assert sorted(e["text"] for e in chat.api.events("c-bob")) == ["and one there", "only one here"]


def test_a_busy_room_is_cut_into_frames_within_32_kb_and_a_gone_member_is_tried_once(
    chat: ChatHarness,
) -> None:
    joined(chat, "lobby", ("c-alice", ALICE), ("c-bob", BOB), ("c-stale", CAROL))
    texts = [f"{n:02d}" + "x" * 3998 for n in range(10)]  # ~4 KB each: 40 KB in all
    for text in texts:
        send(chat, "c-alice", "lobby", text)
    chat.api.gone.add("c-stale")
    chat.api.clear()
    assert chat.pump() == {"batchItemFailures": []}
    posted = chat.api.posted["c-bob"]
    assert len(posted) == 2
    assert all(len(data) <= FRAME_UNIT_BYTES for data in posted)
    assert [m["text"] for m in chat.api.messages("c-bob")] == texts
    assert [m["seq"] for m in chat.api.messages("c-alice")] == list(range(1, 11))
    # The stale connection answered 410 to the first frame; the second no longer tried it.
    assert chat.api.attempts["c-stale"] == 1
    items = boto3.client("dynamodb").scan(TableName=chat.resources["ConnectionsTable"])["Items"]
    assert ("CONN#c-stale", "META") not in {(i["pk"]["S"], i["sk"]["S"]) for i in items}


def test_a_frame_that_cannot_be_delivered_reports_every_record_it_carried(
    chat: ChatHarness,
) -> None:
    joined(chat, "lobby", ("c-alice", ALICE), ("c-bob", BOB))
    joined(chat, "ops", ("c-carol", CAROL))
    for n in range(3):
        send(chat, "c-alice", "lobby", f"lobby {n}")
    send(chat, "c-carol", "ops", "ops 0")
    records = chat.stream_records()
    lobby = [r["dynamodb"]["SequenceNumber"] for r in records if "lobby" in json.dumps(r)]
    assert len(lobby) == 3
    # Rooms over one member go to a FanoutQueue that does not exist: the lobby's frame fails.
    answer = chat.invoke(
        "broadcast",
        stream_event(records),
        FANOUT_CHUNK_SIZE="1",
        FANOUT_QUEUE_URL=chat.resources["FanoutQueue"] + "-missing",
    )
    assert answer == {"batchItemFailures": [{"itemIdentifier": seq} for seq in lobby]}
    assert [m["text"] for m in chat.api.messages("c-carol")] == ["ops 0"]
    assert chat.api.messages("c-bob") == []

    # Lambda retries the reported records; this time they go out, still as one frame.
    retried = [r for r in records if r["dynamodb"]["SequenceNumber"] in lobby]
    assert chat.invoke("broadcast", stream_event(retried)) == {"batchItemFailures": []}
    assert [e["type"] for e in frames(chat, "c-bob", "message", "messages")] == ["messages"]
    assert [m["text"] for m in chat.api.messages("c-bob")] == [f"lobby {n}" for n in range(3)]


def test_a_big_room_gets_the_batched_frame_through_fanout_queue(
    chat: ChatHarness, capsys: pytest.CaptureFixture[str]
) -> None:
    members = [(f"c-{i}", User(f"user{i}", f"User {i}")) for i in range(5)]
    joined(chat, "lobby", *members)
    for n in range(3):
        send(chat, "c-0", "lobby", f"to all {n}")
    records = chat.stream_records()
    chat.api.clear()
    answer = chat.invoke("broadcast", stream_event(records), FANOUT_CHUNK_SIZE="2")
    assert answer == {"batchItemFailures": []}
    sqs = boto3.client("sqs")
    bodies: list[str] = []
    for _ in range(10):
        got = sqs.receive_message(
            QueueUrl=chat.resources["FanoutQueue"], MaxNumberOfMessages=10
        ).get("Messages", [])
        if not got:
            break
        bodies.extend(m["Body"] for m in got)
    assert len(bodies) == 3  # chunks of 2, 2 and 1 members, each with the one frame
    assert {json.loads(json.loads(b)["payload"])["type"] for b in bodies} == {"messages"}
    capsys.readouterr()
    assert chat.invoke("fanout", sqs_event(bodies)) == {"batchItemFailures": []}
    for cid, _ in members:
        assert chat.types(cid) == ["messages"]
        assert [m["text"] for m in chat.api.messages(cid)] == [f"to all {n}" for n in range(3)]
    blobs = emf_blobs(capsys.readouterr().out)
    assert total(blobs, "Deliveries") == 5
    assert total(blobs, "EventsDelivered") == 15


def test_the_saving_is_counted_in_the_metrics(
    chat: ChatHarness, capsys: pytest.CaptureFixture[str]
) -> None:
    joined(chat, "lobby", ("c-alice", ALICE), ("c-bob", BOB))
    joined(chat, "ops", ("c-bob", BOB))
    for n in range(4):
        send(chat, "c-alice", "lobby", f"m{n}")
    send(chat, "c-bob", "ops", "alone")
    capsys.readouterr()
    chat.pump()
    blobs = emf_blobs(capsys.readouterr().out)
    assert total(blobs, "Deliveries") == 3  # one frame to each lobby member, one message in ops
    assert total(blobs, "EventsDelivered") == 9  # 4 messages x 2 members + 1
    assert total(blobs, "BatchedFrames") == 1
    assert total(blobs, "MessagesBatched") == 4
