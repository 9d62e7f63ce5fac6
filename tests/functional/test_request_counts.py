"""What a send, a join and a leave cost in DynamoDB, counted on the wire by the handlers' client.

Every request the chat and broadcast handlers make goes through ``chatcore.clients.dynamodb()``;
botocore's ``before-send`` event sees each HTTP request (retries included), so the counts below are
requests a DynamoDB bill would show. Write units are computed from the transaction itself with
DynamoDB's rules (2 per started KB of each written item in a transaction, 2 read units per
started 4 KB of a ConditionCheck), because moto reports no capacity for TransactWriteItems;
read units of the BatchGetItem are the ones moto reports.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from chatcore import clients
from tests.support.attachments import upload
from tests.support.chat import ChatHarness, User

ALICE = User("alice", "Alice")
BOB = User("bob", "Bob")
CAROL = User("carol", "Carol")


def _size(value: dict[str, Any]) -> int:
    """An attribute value's size as DynamoDB bills it (close enough for small items)."""
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return 1 + math.ceil(len(inner.lstrip("-").replace(".", "")) / 2)
    if kind == "M":
        return 3 + sum(len(k.encode()) + _size(v) + 1 for k, v in inner.items())
    if kind == "SS":
        return sum(len(s.encode()) for s in inner)
    return 1


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + _size(value) for name, value in item.items())


class Wire:
    """Counts DynamoDB requests by operation, and the units each transaction would consume."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        self.write_units = 0
        self.check_read_units = 0
        self.read_units = 0.0
        self._client = client

    def before_send(self, event_name: str, **_: Any) -> None:
        # Once per HTTP request sent, retries included: what reaches DynamoDB.
        self.calls[event_name.rsplit(".", 1)[-1]] += 1

    def before_build(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in {"BatchGetItem", "Query", "GetItem"}:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
        if model.name == "TransactWriteItems":
            for entry in params["TransactItems"]:
                ((op, body),) = entry.items()
                if op == "Put":
                    self.write_units += 2 * math.ceil(item_size(body["Item"]) / 1024)
                elif op == "Update":
                    # The item after the update: its key and the values set (for the counter:
                    # last, window, senders).
                    values = body.get("ExpressionAttributeValues", {})
                    after = {**body["Key"], **{k.lstrip(":"): v for k, v in values.items()}}
                    self.write_units += 2 * math.ceil(item_size(after) / 1024)
                elif op == "Delete":
                    self.write_units += 2
                elif op == "ConditionCheck":
                    self.check_read_units += 2

    def after_call(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        consumed = parsed.get("ConsumedCapacity") or []
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            self.read_units += float(entry.get("CapacityUnits", 0))

    def take(self) -> tuple[dict[str, int], int, int, float]:
        taken = (dict(self.calls), self.write_units, self.check_read_units, self.read_units)
        self.calls.clear()
        self.write_units = self.check_read_units = 0
        self.read_units = 0.0
        return taken


@pytest.fixture
def wire(chat: ChatHarness) -> Iterator[Wire]:
    client = clients.dynamodb()
    recorder = Wire(client)
    events = client.meta.events
    events.register("before-send.dynamodb", recorder.before_send)
    events.register("before-parameter-build.dynamodb", recorder.before_build)
    events.register("after-call.dynamodb", recorder.after_call)
    yield recorder
    events.unregister("before-send.dynamodb", recorder.before_send)
    events.unregister("before-parameter-build.dynamodb", recorder.before_build)
    events.unregister("after-call.dynamodb", recorder.after_call)


@pytest.fixture
def lobby(chat: ChatHarness, wire: Wire) -> ChatHarness:
    for cid, user in (("c-alice", ALICE), ("c-bob", BOB)):
        chat.connect(cid, user)
        assert chat.reply(cid, {"action": "join", "room": "lobby"})["type"] == "joined"
    chat.connect("c-carol", CAROL)
    wire.take()
    return chat


def test_a_send_is_two_requests_and_its_broadcast_one_query(lobby: ChatHarness, wire: Wire) -> None:
    ack = lobby.reply("c-alice", {"action": "send", "room": "lobby", "text": "hello"})
    assert ack["type"] == "ack"
    calls, wcu, check_rcu, rcu = wire.take()
    assert calls == {"BatchGetItem": 1, "TransactWriteItems": 1}
    # Counter + message, each under 1 KB: 2 write units each in a transaction.
    assert (wcu, check_rcu) == (4, 2)
    # Counter, the sender's (absent) ban and membership, read consistently (moto's figure):
    # the ban costs a read unit, not a request.
    assert rcu == 3.0
    assert lobby.pump() == {"batchItemFailures": []}
    calls, _, _, rcu = wire.take()
    assert (calls, rcu) == ({"Query": 1}, 1.0)
    assert [e["type"] for e in lobby.api.events("c-bob")].count("message") == 1


def test_a_send_with_a_ref_adds_the_ref_item_and_no_request(lobby: ChatHarness, wire: Wire) -> None:
    lobby.reply("c-alice", {"action": "send", "room": "lobby", "text": "hello", "ref": "r1"})
    calls, wcu, check_rcu, rcu = wire.take()
    assert calls == {"BatchGetItem": 1, "TransactWriteItems": 1}
    assert (wcu, check_rcu, rcu) == (6, 2, 4.0)
    lobby.pump()
    assert wire.take()[0] == {"Query": 1}


def test_a_send_with_attachments_reads_them_in_the_same_batch_and_keeps_them_in_the_same_write(
    lobby: ChatHarness, wire: Wire
) -> None:
    bucket = lobby.envs["ChatFunction"]["ATTACHMENTS_BUCKET"]
    files = [
        upload(lobby, bucket, "lobby", b"one", name="a.txt", declared_type="text/plain")[0],
        upload(lobby, bucket, "lobby", b"two", name="b.txt", declared_type="text/plain")[0],
    ]
    wire.take()
    body = {"action": "send", "room": "lobby", "text": "x", "ref": "r1", "attachments": files}
    assert lobby.reply("c-alice", body)["type"] == "ack"
    calls, wcu, check_rcu, rcu = wire.take()
    assert calls == {"BatchGetItem": 1, "TransactWriteItems": 1}
    # counter, message, ref (6) + one Update per attachment (2 each); the reads: counter, ban,
    # ref, membership and the two attachment items.
    assert (wcu, check_rcu, rcu) == (10, 2, 6.0)


def test_a_send_naming_someone_else_s_file_is_one_read(lobby: ChatHarness, wire: Wire) -> None:
    bucket = lobby.envs["ChatFunction"]["ATTACHMENTS_BUCKET"]
    theirs, _ = upload(
        lobby, bucket, "lobby", b"x", name="a.txt", declared_type="text/plain", user="carol"
    )
    wire.take()
    body = {"action": "send", "room": "lobby", "text": "x", "ref": "r1", "attachments": [theirs]}
    assert lobby.reply("c-alice", body)["code"] == "forbidden"
    assert wire.take()[0] == {"BatchGetItem": 1}


def test_a_retried_ref_is_one_read(lobby: ChatHarness, wire: Wire) -> None:
    body = {"action": "send", "room": "lobby", "text": "hello", "ref": "r1"}
    first = lobby.reply("c-alice", body)
    lobby.pump()
    wire.take()
    assert lobby.reply("c-alice", body) == first
    assert wire.take()[0] == {"BatchGetItem": 1}
    lobby.pump()  # nothing new was stored, so nothing is broadcast
    assert wire.take()[0] == {}


def test_not_member_is_one_read(lobby: ChatHarness, wire: Wire) -> None:
    reply = lobby.reply("c-carol", {"action": "send", "room": "lobby", "text": "hi", "ref": "x"})
    assert reply["code"] == "not_member"
    assert wire.take()[0] == {"BatchGetItem": 1}


def test_rate_limited_is_one_read(lobby: ChatHarness, wire: Wire) -> None:
    # One send per second allowed: of sends made back to back, two soon share a second.
    for i in range(20):
        wire.take()
        body = {"action": "send", "room": "lobby", "text": str(i), "ref": f"r{i}"}
        reply = lobby.say("c-alice", body, SEND_RATE_PER_SECOND="1")[0]
        if reply["type"] == "error":
            break
    assert reply["code"] == "rate_limited"
    assert wire.take()[0] == {"BatchGetItem": 1}


def test_a_dm_is_two_requests_and_its_broadcast_one_query_per_user(
    lobby: ChatHarness, wire: Wire
) -> None:
    ack = lobby.reply("c-alice", {"action": "dm", "to": "bob", "text": "psst", "ref": "d1"})
    assert ack["room"] == "dm:alice:bob"
    calls, wcu, check_rcu, _ = wire.take()
    assert calls == {"BatchGetItem": 1, "TransactWriteItems": 1}
    # No membership to check in a DM room: counter, message, ref.
    assert (wcu, check_rcu) == (6, 0)
    lobby.pump()
    # Every connection of both users: the ByUser index, one Query per user.
    calls, _, _, rcu = wire.take()
    # moto bills each index Query 1 unit; DynamoDB bills 0.5 (index reads are eventual).
    assert (calls, rcu) == ({"Query": 2}, 2.0)


def test_join_is_one_transaction_a_presence_query_and_the_seq(
    lobby: ChatHarness, wire: Wire
) -> None:
    assert lobby.reply("c-carol", {"action": "join", "room": "lobby"})["seq"] == 0
    calls, wcu, _, _ = wire.take()
    # The seq, the user's ban and read marker are one BatchGetItem; a user's first join of a
    # room starts the read marker (UpdateItem).
    assert calls == {"TransactWriteItems": 1, "Query": 1, "BatchGetItem": 1, "UpdateItem": 1}
    assert wcu == 4  # membership Put + the connection item's room list, in one transaction
    assert "presence" in lobby.types("c-alice")
    # Joined again: the transaction is cancelled, nothing is announced.
    assert lobby.reply("c-carol", {"action": "join", "room": "lobby"})["type"] == "joined"
    assert wire.take()[0] == {"TransactWriteItems": 1, "BatchGetItem": 1}


def test_leave_is_one_transaction_and_a_presence_query(lobby: ChatHarness, wire: Wire) -> None:
    assert lobby.reply("c-bob", {"action": "leave", "room": "lobby"})["type"] == "left"
    assert wire.take()[0] == {"TransactWriteItems": 1, "Query": 1}
    assert lobby.reply("c-bob", {"action": "leave", "room": "lobby"})["code"] == "not_member"
    assert wire.take()[0] == {"TransactWriteItems": 1}


def test_disconnect_reads_the_connection_once(lobby: ChatHarness, wire: Wire) -> None:
    lobby.disconnect("c-alice")
    # The connection item (its rooms), one batch of deletes, the presence Query of its room.
    assert wire.take()[0] == {"GetItem": 1, "BatchWriteItem": 1, "Query": 1}
    assert lobby.api.last("c-bob")["event"] == "leave"
