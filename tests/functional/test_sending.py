"""The send path on moto: every guarantee of ``Publisher.publish``, deterministic races included.

The guarantees and the deterministic races (a competitor that lands between our read and our
write) run twice: on the plain moto server of ``conftest`` and on the local stack's embedded AWS
in its own process (``local.aws.ChildMotoServer``, with its own TransactWriteItems), so both
answer ``BatchGetItem`` across tables, ``ConditionCheck`` and ``CancellationReasons[].Item`` the
way the send path needs. Threads racing each other run on the embedded AWS only: plain moto
answers concurrent transactions with 500s and can put back stale copies of a table, which
would test moto rather than the send path.
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig

from chatcore.auth import Identity
from chatcore.chat import ChatService
from chatcore.delivery import Delivery
from chatcore.errors import Forbidden, NotMember, RateLimited
from chatcore.gateway import Gateway
from chatcore.publisher import Publisher
from chatcore.store import ConnectionStore, MessageLog
from local.aws import ChildMotoServer
from local.model import Stack
from local.provision import provision
from tests.e2e.harness import TIMEOUT
from tests.support.handlers import FakeManagementApi

ADA = Identity(user_id="ada", name="Ada")
BOB = Identity(user_id="bob", name="Bob")
SECOND_MS = 1_800_000_000_000


def stored(client: Any, table: str, room: str) -> list[dict[str, Any]]:
    answer = client.query(
        TableName=table,
        KeyConditionExpression="pk = :p AND seq > :zero",
        ExpressionAttributeValues={":p": {"S": f"ROOM#{room}"}, ":zero": {"N": "0"}},
        ConsistentRead=True,
    )
    return [
        {"seq": int(i["seq"]["N"]), "id": i["id"]["S"], "text": i["text"]["S"]}
        for i in answer["Items"]
    ]


def counter(client: Any, table: str, room: str) -> dict[str, Any] | None:
    item = client.get_item(
        TableName=table, Key={"pk": {"S": f"ROOM#{room}"}, "seq": {"N": "0"}}, ConsistentRead=True
    ).get("Item")
    return item


class Tables:
    def __init__(self, client: Any, resources: dict[str, str]) -> None:
        self.client = client
        self.messages = resources["MessagesTable"]
        self.connections = resources["ConnectionsTable"]
        self.store = ConnectionStore(client=client, table=self.connections)

    def publisher(self, client: Any | None = None) -> Publisher:
        return Publisher(
            client=client or self.client,
            messages_table=self.messages,
            connections_table=self.connections,
            sleep=lambda _: None,
        )

    def member(self, connection_id: str, room: str, identity: Identity = ADA) -> None:
        self.store.put_connection(connection_id, identity)
        assert self.store.add_membership(connection_id, room, identity)

    def stored(self, room: str) -> list[dict[str, Any]]:
        return stored(self.client, self.messages, room)


@pytest.fixture(scope="module")
def _embedded(stack: Stack) -> Iterator[str]:
    server = ChildMotoServer()
    server.start()
    try:
        yield server.endpoint_url
    finally:
        server.stop()


def _fresh(stack: Stack, endpoint: str) -> Tables:
    """Empty the embedded AWS and provision the template's tables again."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        assert response.status == 200
    session = boto3.Session(region_name="us-east-1")
    result = provision(stack, session=session, endpoint_url=endpoint)
    client = session.client(
        "dynamodb", endpoint_url=endpoint, config=BotoConfig(max_pool_connections=32)
    )
    return Tables(client, result.physical_ids)


@pytest.fixture(params=["moto", "embedded"])
def tables(request: pytest.FixtureRequest, stack: Stack) -> Tables:
    """The same tests on plain moto and on the local stack's embedded AWS (its transactions)."""
    if request.param == "moto":
        resources: dict[str, str] = request.getfixturevalue("stack_resources")
        return Tables(boto3.client("dynamodb"), resources)
    return _fresh(stack, request.getfixturevalue("_embedded"))


def send(
    publisher: Publisher,
    room: str,
    text: str,
    *,
    ref: str | None = None,
    identity: Identity = ADA,
    connection_id: str | None = "c1",
    per_second: int | None = 20,
    now_ms: int | None = None,
) -> Any:
    return publisher.publish(
        room=room,
        user_id=identity.user_id,
        name=identity.name,
        text=text,
        ref=ref,
        connection_id=connection_id,
        per_second=per_second,
        now_ms=now_ms,
    )


# ---- the guarantees, one at a time -------------------------------------------------------


def test_sends_take_gapless_increasing_seqs_per_room(tables: Tables) -> None:
    tables.member("c1", "lobby")
    tables.member("c1", "other")
    publisher = tables.publisher()
    acks = [send(publisher, "lobby", f"m{i}", per_second=None).ack for i in range(5)]
    assert [a["seq"] for a in acks] == [1, 2, 3, 4, 5]
    assert send(publisher, "other", "x").ack["seq"] == 1
    assert [(m["seq"], m["text"]) for m in tables.stored("lobby")] == [
        (i + 1, f"m{i}") for i in range(5)
    ]
    assert [m["id"] for m in tables.stored("lobby")] == [a["id"] for a in acks]


def test_a_retried_ref_stores_nothing_and_gets_the_same_ack(tables: Tables) -> None:
    tables.member("c1", "lobby")
    publisher = tables.publisher()
    first = send(publisher, "lobby", "once", ref="r1")
    again = send(publisher, "lobby", "once", ref="r1")
    assert (first.created, again.created) == (True, False)
    assert (
        again.ack
        == first.ack
        == {
            "type": "ack",
            "ref": "r1",
            "id": first.ack["id"],
            "room": "lobby",
            "seq": 1,
        }
    )
    assert len(tables.stored("lobby")) == 1
    # The same ref of another user is another send.
    tables.member("c2", "lobby", BOB)
    assert send(publisher, "lobby", "b", ref="r1", identity=BOB, connection_id="c2").created


def test_a_retried_ref_is_answered_over_budget_and_after_leaving(tables: Tables) -> None:
    tables.member("c1", "lobby")
    publisher = tables.publisher()
    first = send(publisher, "lobby", "a", ref="r1", per_second=1, now_ms=SECOND_MS)
    with pytest.raises(RateLimited):
        send(publisher, "lobby", "b", ref="r2", per_second=1, now_ms=SECOND_MS)
    assert send(publisher, "lobby", "a", ref="r1", per_second=1, now_ms=SECOND_MS).ack == first.ack
    assert tables.store.remove_membership("c1", "lobby")
    assert send(publisher, "lobby", "a", ref="r1").ack == first.ack
    assert len(tables.stored("lobby")) == 1


def test_a_non_member_stores_nothing(tables: Tables) -> None:
    tables.store.put_connection("c1", ADA)
    with pytest.raises(NotMember) as refused:
        send(tables.publisher(), "lobby", "hi", ref="n1")
    assert refused.value.code == "not_member"
    assert tables.stored("lobby") == []
    assert counter(tables.client, tables.messages, "lobby") is None
    # Nothing was kept for the ref either: after joining, the same ref is a new send.
    tables.member("c9", "lobby")
    assert send(tables.publisher(), "lobby", "hi", ref="n1", connection_id="c9").created


def test_the_budget_is_per_user_and_room_and_per_second(tables: Tables) -> None:
    tables.member("c1", "lobby")
    tables.member("c1", "other")
    tables.member("c2", "lobby", BOB)
    publisher = tables.publisher()

    def ada(room: str, now_ms: int) -> Any:
        return send(publisher, room, "t", per_second=2, now_ms=now_ms)

    ada("lobby", SECOND_MS)
    ada("lobby", SECOND_MS + 999)
    with pytest.raises(RateLimited) as refused:
        ada("lobby", SECOND_MS + 500)
    assert refused.value.code == "rate_limited"
    assert [m["seq"] for m in tables.stored("lobby")] == [1, 2]
    # Bob in the same room, Ada in another room, Ada in the next second: each within budget.
    send(publisher, "lobby", "b", identity=BOB, connection_id="c2", per_second=2, now_ms=SECOND_MS)
    ada("other", SECOND_MS)
    ada("lobby", SECOND_MS + 1000)
    assert [m["seq"] for m in tables.stored("lobby")] == [1, 2, 3, 4]
    item = counter(tables.client, tables.messages, "lobby")
    assert item is not None
    # The window holds only the current second's senders.
    assert item["window"] == {"N": str(SECOND_MS // 1000 + 1)}
    assert item["senders"] == {"M": {"ada": {"N": "1"}}}


def test_no_connection_means_no_membership_check(tables: Tables) -> None:
    ack = send(tables.publisher(), "news", "from a service", connection_id=None).ack
    assert ack["seq"] == 1


class RacingClient:
    """The real client, except that ``competitor`` runs just before our first transaction:
    a deterministic race between our read and our write."""

    def __init__(self, client: Any, competitor: Callable[[], object]) -> None:
        self._client = client
        self._competitor: Callable[[], object] | None = competitor
        self.calls: list[str] = []

    def batch_get_item(self, **kwargs: Any) -> Any:
        self.calls.append("BatchGetItem")
        return self._client.batch_get_item(**kwargs)

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.calls.append("TransactWriteItems")
        if self._competitor is not None:
            competitor, self._competitor = self._competitor, None
            competitor()
        return self._client.transact_write_items(**kwargs)


def test_a_leave_between_read_and_write_keeps_the_message_out(tables: Tables) -> None:
    tables.member("c1", "lobby")
    racing = RacingClient(tables.client, lambda: tables.store.remove_membership("c1", "lobby"))
    with pytest.raises(NotMember):
        send(tables.publisher(racing), "lobby", "too late", ref="late")
    # The membership ConditionCheck cancelled the transaction: no second read was needed.
    assert racing.calls == ["BatchGetItem", "TransactWriteItems"]
    assert tables.stored("lobby") == []
    assert counter(tables.client, tables.messages, "lobby") is None


def test_a_retry_racing_its_first_send_gets_the_first_ack_from_the_cancellation(
    tables: Tables,
) -> None:
    tables.member("c1", "lobby")
    first: dict[str, Any] = {}
    racing = RacingClient(
        tables.client,
        lambda: first.update(send(tables.publisher(), "lobby", "t", ref="same").ack),
    )
    again = send(tables.publisher(racing), "lobby", "t", ref="same")
    assert (again.created, again.ack) == (False, first)
    # The ref Put's ALL_OLD answered the ack: still one read and one write.
    assert racing.calls == ["BatchGetItem", "TransactWriteItems"]
    assert len(tables.stored("lobby")) == 1


def test_a_lost_race_on_the_counter_takes_the_next_seq_without_reading_again(
    tables: Tables,
) -> None:
    tables.member("c1", "lobby")
    tables.member("c2", "lobby", BOB)
    racer = lambda: send(  # noqa: E731
        tables.publisher(), "lobby", "racer", identity=BOB, connection_id="c2"
    )
    racing = RacingClient(tables.client, racer)
    mine = send(tables.publisher(racing), "lobby", "mine", ref="m")
    assert (mine.created, mine.ack["seq"]) == (True, 2)
    # The cancelled counter Update returned the counter as the racer left it.
    assert racing.calls == ["BatchGetItem", "TransactWriteItems", "TransactWriteItems"]
    assert [(m["seq"], m["text"]) for m in tables.stored("lobby")] == [(1, "racer"), (2, "mine")]


def test_a_racer_using_up_the_budget_makes_the_retry_rate_limited(tables: Tables) -> None:
    tables.member("c1", "lobby")
    tables.member("c2", "lobby")  # Ada's second connection: one budget per user and room

    def racer() -> object:
        return send(
            tables.publisher(), "lobby", "r", connection_id="c2", per_second=1, now_ms=SECOND_MS
        )

    racing = RacingClient(tables.client, racer)
    with pytest.raises(RateLimited):
        send(tables.publisher(racing), "lobby", "mine", per_second=1, now_ms=SECOND_MS)
    assert [m["text"] for m in tables.stored("lobby")] == ["r"]


# ---- real concurrency, on the embedded AWS that serialises requests like DynamoDB ----------


@pytest.fixture
def serialised(stack: Stack, _embedded: str) -> Tables:
    return _fresh(stack, _embedded)


def test_racing_threads_get_gapless_seqs_and_no_duplicates(serialised: Tables) -> None:
    room, senders, each = "race-seq", 6, 8
    for n in range(senders):
        serialised.member(f"s{n}", room, Identity(user_id=f"u{n}", name=f"U{n}"))
    publisher = serialised.publisher()

    def run(n: int) -> list[dict[str, Any]]:
        who = Identity(user_id=f"u{n}", name=f"U{n}")
        return [
            send(
                publisher, room, f"{n}-{i}", ref=f"{n}-{i}", identity=who, connection_id=f"s{n}"
            ).ack
            for i in range(each)
        ]

    with ThreadPoolExecutor(senders) as pool:
        acks = [ack for batch in pool.map(run, range(senders)) for ack in batch]
    assert sorted(a["seq"] for a in acks) == list(range(1, senders * each + 1))
    log = serialised.stored(room)
    assert [m["seq"] for m in log] == list(range(1, senders * each + 1))
    assert {m["id"] for m in log} == {a["id"] for a in acks}
    # Order per room: each sender's messages are stored in the order it sent them.
    for n in range(senders):
        mine = [m["text"] for m in log if m["text"].startswith(f"{n}-")]
        assert mine == [f"{n}-{i}" for i in range(each)]


def test_racing_retries_of_one_ref_store_one_message_with_one_ack(serialised: Tables) -> None:
    room = "race-ref"
    serialised.member("r1", room)
    publisher = serialised.publisher()
    start = threading.Barrier(8)

    def retry(_: int) -> Any:
        start.wait(timeout=TIMEOUT)
        return send(publisher, room, "only once", ref="dup", connection_id="r1")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(retry, range(8)))
    assert sum(r.created for r in results) == 1
    assert len({repr(sorted(r.ack.items())) for r in results}) == 1
    assert [m["seq"] for m in serialised.stored(room)] == [1]


def test_a_leave_racing_sends_lets_in_only_acked_messages(serialised: Tables) -> None:
    room = "race-leave"
    serialised.member("l1", room)
    publisher = serialised.publisher()
    acked: list[int] = []
    refused_after_leave: list[bool] = []
    first_ack, left = threading.Event(), threading.Event()
    late: list[int] = []

    def sender() -> None:
        for i in range(40):
            was_left = left.is_set()
            try:
                seq = send(publisher, room, f"m{i}", per_second=None, connection_id="l1").ack
                acked.append(seq["seq"])
                first_ack.set()
                if was_left:
                    late.append(seq["seq"])
            except NotMember:
                refused_after_leave.append(True)

    thread = threading.Thread(target=sender)
    thread.start()
    assert first_ack.wait(timeout=TIMEOUT)
    assert serialised.store.remove_membership("l1", room)
    left.set()
    thread.join(timeout=TIMEOUT * 6)
    assert not thread.is_alive()
    assert acked, "no send landed before the leave"
    assert refused_after_leave, "every send landed: the leave raced none"
    assert late == [], "a send that started after the leave was stored"
    # Every stored message was acknowledged, and the log has no gap.
    assert [m["seq"] for m in serialised.stored(room)] == acked == list(range(1, len(acked) + 1))


# ---- ChatService.publish: the one entry point, for sockets and socket-less callers --------


def service(tables: Tables) -> ChatService:
    store = tables.store
    log = MessageLog(client=tables.client, table=tables.messages)
    delivery = Delivery(gateway=Gateway(FakeManagementApi()), store=store)
    # A clock that stands still: every send of a test falls in the same second.
    publisher = Publisher(
        client=tables.client,
        messages_table=tables.messages,
        connections_table=tables.connections,
        clock=lambda: SECOND_MS / 1000 + 0.5,
    )
    return ChatService(
        store=store, log=log, delivery=delivery, send_rate_per_second=2, publisher=publisher
    )


def test_publish_without_a_connection_still_applies_the_room_rules(tables: Tables) -> None:
    chat = service(tables)
    carol = Identity(user_id="carol", name="Carol", rooms=("private:ops",))
    assert chat.publish("news", "hi", "p1", ADA, connection_id=None)["seq"] == 1
    assert chat.publish("private:ops", "hi", None, carol, connection_id=None)["seq"] == 1
    with pytest.raises(Forbidden):
        chat.publish("private:ops", "hi", None, ADA, connection_id=None)
    # A DM room takes messages from its two users only.
    assert chat.publish("dm:ada:bob", "psst", None, BOB, connection_id=None)["seq"] == 1
    with pytest.raises(Forbidden):
        chat.publish("dm:ada:bob", "psst", None, carol, connection_id=None)
    # The budget holds for socket-less callers too.
    chat.publish("news", "2", None, ADA, connection_id=None)
    with pytest.raises(RateLimited):
        chat.publish("news", "3", None, ADA, connection_id=None)
    assert chat.publish("news", "hi", "p1", ADA, connection_id=None)["seq"] == 1


def test_publish_with_a_connection_needs_its_membership(tables: Tables) -> None:
    chat = service(tables)
    tables.store.put_connection("c1", ADA)
    with pytest.raises(NotMember):
        chat.publish("lobby", "hi", None, ADA, connection_id="c1")
    assert tables.store.add_membership("c1", "lobby", ADA)
    assert chat.publish("lobby", "hi", None, ADA, connection_id="c1")["seq"] == 1
