"""The DynamoDB adapters against moto: concurrency and clean-up that handlers rely on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3

from chatcore.auth import Identity
from chatcore.store import ConnectionStore, MessageLog

ALICE = Identity(user_id="alice", name="Alice")


class RacingClient:
    """The real moto client, except that a competing write lands just before our first
    TransactWriteItems: a deterministic lost race (moto does not serialise concurrent
    transactions, so racing threads would test moto rather than the log)."""

    def __init__(self, client: Any, competitor: Callable[[], object]) -> None:
        self._client = client
        self._competitor: Callable[[], object] | None = competitor
        self.transactions = 0

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.transactions += 1
        if self._competitor is not None:
            competitor, self._competitor = self._competitor, None
            competitor()
        return self._client.transact_write_items(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_lost_race_on_the_counter_takes_the_next_seq(stack_resources: dict[str, str]) -> None:
    table = stack_resources["MessagesTable"]
    other = MessageLog(client=boto3.client("dynamodb"), table=table)
    other.append(room="busy", user_id="bob", name="Bob", text="first")
    client = RacingClient(
        boto3.client("dynamodb"),
        lambda: other.append(room="busy", user_id="bob", name="Bob", text="racer"),
    )
    log = MessageLog(client=client, table=table, sleep=lambda _: None)
    stored = log.append(room="busy", user_id="alice", name="Alice", text="mine", ref="a1")
    assert (stored.created, stored.ack["seq"]) == (True, 3)
    assert client.transactions == 2
    history = log.history("busy", limit=10)
    assert [(m["seq"], m["text"]) for m in history] == [(1, "first"), (2, "racer"), (3, "mine")]


def test_a_lost_race_on_the_ref_returns_the_first_ack(stack_resources: dict[str, str]) -> None:
    table = stack_resources["MessagesTable"]
    other = MessageLog(client=boto3.client("dynamodb"), table=table)
    first: dict[str, Any] = {}
    client = RacingClient(
        boto3.client("dynamodb"),
        lambda: first.update(
            other.append(room="r", user_id="alice", name="Alice", text="t", ref="same").ack
        ),
    )
    log = MessageLog(client=client, table=table, sleep=lambda _: None)
    stored = log.append(room="r", user_id="alice", name="Alice", text="t", ref="same")
    assert stored.created is False
    assert stored.ack == first
    assert log.latest_seq("r") == 1
    assert len(log.history("r", limit=10)) == 1


def test_delete_connection_removes_all_its_memberships(stack_resources: dict[str, str]) -> None:
    store = ConnectionStore(
        client=boto3.client("dynamodb"), table=stack_resources["ConnectionsTable"]
    )
    store.put_connection("c1", ALICE)
    store.put_connection("c2", ALICE)
    rooms = [f"room{i}" for i in range(30)]  # more than one BatchWriteItem
    for room in rooms:
        store.add_membership("c1", room, ALICE)
    store.add_membership("c2", "room0", ALICE)
    assert store.delete_connection("c1") == 31
    assert store.get_connection("c1") is None
    assert all(store.members(room) == [] for room in rooms[1:])
    assert [m.connection_id for m in store.members("room0")] == ["c2"]
    assert store.connections_of("alice") == ["c2"]
    assert store.delete_connection("c1") == 0


def test_join_and_leave_write_the_membership_and_the_room_list_together(
    stack_resources: dict[str, str],
) -> None:
    table = stack_resources["ConnectionsTable"]
    store = ConnectionStore(client=boto3.client("dynamodb"), table=table)
    store.put_connection("c1", ALICE)
    assert store.add_membership("c1", "lobby", ALICE) is True
    assert store.add_membership("c1", "lobby", ALICE) is False
    item = store.get_connection("c1")
    assert item is not None and item["rooms"] == {"lobby"}
    assert store.remove_membership("c1", "lobby") is True
    assert store.remove_membership("c1", "lobby") is False
    item = store.get_connection("c1")
    assert item is not None and "rooms" not in item
    assert store.members("lobby") == []


def test_a_membership_whose_connection_item_has_gone_can_still_be_left(
    stack_resources: dict[str, str],
) -> None:
    client = boto3.client("dynamodb")
    store = ConnectionStore(client=client, table=stack_resources["ConnectionsTable"])
    store.put_connection("c1", ALICE)
    store.add_membership("c1", "lobby", ALICE)
    client.delete_item(
        TableName=stack_resources["ConnectionsTable"],
        Key={"pk": {"S": "CONN#c1"}, "sk": {"S": "META"}},
    )
    assert store.remove_membership("c1", "lobby") is True
    assert store.members("lobby") == []
    # The leave did not bring the connection item back as a bare item without a TTL.
    assert store.get_connection("c1") is None
    # A join after a sweep brings the connection item back whole, with its TTL.
    assert store.add_membership("c1", "den", ALICE) is True
    item = store.get_connection("c1")
    assert item is not None
    assert (item["ownerId"], item["rooms"]) == ("alice", {"den"})
    assert "expiresAt" in item
