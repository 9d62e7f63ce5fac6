"""ChatClient against a protocol-speaking fake server that can be told to misbehave."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from client import (
    AuthError,
    Backoff,
    ChatClient,
    ConnectError,
    Message,
    Messages,
    RequestTimeout,
    SendQueueFull,
    ServerError,
    State,
    Typing,
    UnknownEvent,
)
from client.events import Event
from tests.unit.client_fake_server import TIMEOUT, FakeChatServer, fake_token, running_fake

FAST = Backoff(base=0.01, cap=0.05)


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeChatServer, str]]:
    async with running_fake() as pair:
        yield pair


def make(url: str, user: str, **options: Any) -> ChatClient:
    options.setdefault("backoff", Backoff(base=0.01, cap=0.05))
    options.setdefault("request_timeout", TIMEOUT)
    options.setdefault("gap_grace", 0.01)
    return ChatClient(url, fake_token(user), **options)


async def next_messages(chat: ChatClient, count: int) -> list[Message]:
    got: list[Message] = []

    async def collect() -> None:
        async for event in chat.events():
            if isinstance(event, Message):
                got.append(event)
                if len(got) == count:
                    return

    await asyncio.wait_for(collect(), TIMEOUT)
    return got


async def next_event(chat: ChatClient, kind: type[Event]) -> Event:
    async def first() -> Event:
        async for event in chat.events():
            if isinstance(event, kind):
                return event
        raise AssertionError("events ended")

    return await asyncio.wait_for(first(), TIMEOUT)


async def test_join_send_ack_and_receive(fake: tuple[FakeChatServer, str]) -> None:
    _, url = fake
    async with make(url, "alice") as alice, make(url, "bob") as bob:
        await alice.join("lobby")
        joined = await bob.join("lobby")
        assert joined.seq == 0
        ack = await alice.send("lobby", "hello bob")
        assert (ack.room, ack.seq) == ("lobby", 1)
        [message] = await next_messages(bob, 1)
        assert (message.id, message.sender, message.name, message.text) == (
            ack.id,
            "alice",
            "Alice",
            "hello bob",
        )
        assert alice.user_id == "alice"


async def test_requests_history_who_dm_typing_ping(fake: tuple[FakeChatServer, str]) -> None:
    server, url = fake
    async with make(url, "alice") as alice, make(url, "bob") as bob:
        await alice.join("lobby")
        await bob.join("lobby")
        for n in range(3):
            await alice.send("lobby", f"m{n}")
        history = await bob.history("lobby", after=1)
        assert [m.text for m in history.messages] == ["m1", "m2"]
        who = await bob.who("lobby")
        assert sorted(u.id for u in who.users or ()) == ["alice", "bob"]
        ack = await alice.dm("bob", "psst")
        assert ack.room == "dm:alice:bob"
        dms = [m for m in await next_messages(bob, 4) if m.room.startswith("dm:")]
        assert [m.text for m in dms] == ["psst"]
        await alice.typing("lobby")
        typing = await next_event(bob, Typing)
        assert typing.sender == "alice"  # type: ignore[attr-defined]
        await bob.ping()
        assert server.actions("ping")


async def test_server_error_reply_raises_with_its_code(fake: tuple[FakeChatServer, str]) -> None:
    _, url = fake
    async with make(url, "alice") as alice:
        with pytest.raises(ServerError) as caught:
            await alice.send("nowhere", "not a member")
        assert caught.value.code == "not_member"


async def test_unknown_event_types_are_kept_raw(fake: tuple[FakeChatServer, str]) -> None:
    server, url = fake
    async with make(url, "alice") as alice:
        await server.push("alice", {"type": "from-the-future", "x": 1})
        event = await next_event(alice, UnknownEvent)
        assert event.raw == {"type": "from-the-future", "x": 1}


async def test_rejected_token_raises_auth_error_without_retrying(
    fake: tuple[FakeChatServer, str],
) -> None:
    server, url = fake
    client = ChatClient(url, "not-a-jwt", backoff=FAST)
    with pytest.raises(AuthError) as caught:
        await client.connect()
    assert caught.value.status == 401
    assert "not-a-jwt" not in str(caught.value)
    assert server.upgrades == 1
    assert client.state is State.CLOSED


async def test_unreachable_server_raises_connect_error() -> None:
    async with running_fake() as (_, url):
        pass  # the port is free again: nothing listens there
    with pytest.raises(ConnectError) as caught:
        await ChatClient(url, fake_token("alice"), backoff=FAST).connect()
    assert "cannot reach" in str(caught.value)


async def test_reconnect_rejoins_and_fills_the_gap(fake: tuple[FakeChatServer, str]) -> None:
    server, url = fake
    states: list[State] = []
    async with make(url, "alice") as alice, make(url, "bob", on_state=states.append) as bob:
        await alice.join("lobby")
        await bob.join("lobby")
        await alice.send("lobby", "before")
        server.status = 503  # keep bob out while alice talks
        server.kill("bob")
        await server.wait_for(lambda: not server.connections_of("bob"))
        for n in range(5):
            await alice.send("lobby", f"while away {n}")
        server.status = None
        await alice.send("lobby", "after")
        got = await next_messages(bob, 7)
        assert [m.seq for m in got] == list(range(1, 8))
        assert [m.text for m in got][-1] == "after"
        assert bob.stats.reconnects == 1
        assert states == [State.CONNECTING, State.OPEN, State.RECONNECTING, State.OPEN]
        assert server.actions("history"), "the gap was filled from history"


async def test_lost_delivery_is_filled_and_order_kept(fake: tuple[FakeChatServer, str]) -> None:
    server, url = fake
    server.skip_delivery = lambda conn, event: conn.user == "bob" and event.get("seq") == 2
    async with make(url, "alice") as alice, make(url, "bob") as bob:
        await alice.join("lobby")
        await bob.join("lobby")
        for n in range(1, 4):
            await alice.send("lobby", f"m{n}")
        got = await next_messages(bob, 3)
        assert [m.text for m in got] == ["m1", "m2", "m3"]
        assert bob.tracker.stats.gaps == 1


async def test_duplicate_deliveries_are_dropped(fake: tuple[FakeChatServer, str]) -> None:
    server, url = fake
    server.duplicate_delivery = True
    async with make(url, "alice") as alice, make(url, "bob") as bob:
        await alice.join("lobby")
        await bob.join("lobby")
        await alice.send("lobby", "once")
        await alice.send("lobby", "twice")
        got = await next_messages(bob, 2)
        assert [m.text for m in got] == ["once", "twice"]
        await bob.ping()  # everything sent before the pong has been read
        assert bob.tracker.stats.duplicates == 2
        assert bob._events.empty()


async def test_send_without_ack_is_retried_with_the_same_ref(
    fake: tuple[FakeChatServer, str],
) -> None:
    server, url = fake
    dropped: list[dict[str, Any]] = []

    def drop_first_ack(conn: Any, event: dict[str, Any]) -> bool:
        if event["type"] == "ack" and not dropped:
            dropped.append(event)
            return True
        return False

    server.skip_reply = drop_first_ack
    async with make(url, "alice", request_timeout=TIMEOUT / 20) as alice:
        await alice.join("lobby")
        ack = await alice.send("lobby", "exactly once", ref="r-1")
    sends = server.actions("send")
    assert [s["ref"] for s in sends] == ["r-1", "r-1"]
    assert ack.id == dropped[0]["id"]
    assert len(server.log["lobby"]) == 1


async def test_rate_limited_send_waits_and_is_sent_again_with_the_same_ref(
    fake: tuple[FakeChatServer, str],
) -> None:
    server, url = fake
    async with make(url, "alice") as alice:
        await alice.join("lobby")
        server.rate_limit_sends = 2
        ack = await alice.send("lobby", "burst", ref="r-9")
    assert [s["ref"] for s in server.actions("send")] == ["r-9", "r-9", "r-9"]
    assert ack.seq == 1 and len(server.log["lobby"]) == 1


async def test_rate_limited_send_gives_up_after_its_retries(
    fake: tuple[FakeChatServer, str],
) -> None:
    server, url = fake
    async with make(url, "alice", rate_limit_retries=2) as alice:
        await alice.join("lobby")
        server.rate_limit_sends = 10
        with pytest.raises(ServerError) as refused:
            await alice.send("lobby", "flood")
    assert refused.value.code == "rate_limited"
    assert len(server.actions("send")) == 3  # the first try and two retries
    assert server.log["lobby"] == []


async def test_send_gives_up_after_its_retries(fake: tuple[FakeChatServer, str]) -> None:
    server, url = fake
    server.skip_reply = lambda conn, event: event["type"] == "ack"
    async with make(url, "alice", request_timeout=TIMEOUT / 50) as alice:
        await alice.join("lobby")
        with pytest.raises(RequestTimeout):
            await alice.send("lobby", "into the void", retries=1)
    assert len(server.actions("send")) == 2


async def test_sends_wait_while_reconnecting_then_go_through(
    fake: tuple[FakeChatServer, str],
) -> None:
    server, url = fake
    async with make(url, "alice") as alice:
        await alice.join("lobby")
        server.status = 503
        server.kill("alice")
        await server.wait_for(lambda: not server.connections_of("alice"))
        queued = [asyncio.create_task(alice.send("lobby", f"q{n}")) for n in range(3)]
        await server.wait_for(lambda: server.upgrades >= 3)  # retrying, refused
        assert not any(task.done() for task in queued)
        server.status = None
        acks = await asyncio.wait_for(asyncio.gather(*queued), TIMEOUT)
    assert [a.seq for a in acks] == [1, 2, 3]


async def test_queued_sends_are_bounded_in_number_and_time(
    fake: tuple[FakeChatServer, str],
) -> None:
    server, url = fake
    async with make(url, "alice", queue_limit=1, queue_timeout=TIMEOUT / 20) as alice:
        await alice.join("lobby")
        server.status = 503
        server.kill("alice")
        await server.wait_for(lambda: not server.connections_of("alice"))
        first = asyncio.create_task(alice.send("lobby", "waits"))
        await server.wait_for(lambda: server.upgrades >= 2)
        with pytest.raises(SendQueueFull):
            await alice.send("lobby", "one too many")
        with pytest.raises(RequestTimeout):
            await first


async def test_token_rejected_on_reconnect_closes_with_auth_error(
    fake: tuple[FakeChatServer, str],
) -> None:
    server, url = fake
    token = fake_token("alice")
    async with ChatClient(url, token, backoff=FAST) as alice:
        server.rejected_tokens.add(token)
        server.kill("alice")
        with pytest.raises(AuthError):
            async for _ in alice.events():
                pass
        assert alice.state is State.CLOSED
        with pytest.raises(AuthError):
            await alice.send("lobby", "too late")


async def test_app_level_ping_keeps_an_idle_connection_alive(
    fake: tuple[FakeChatServer, str],
) -> None:
    server, url = fake
    async with make(url, "alice", ping_interval=0.05):
        await server.wait_for(lambda: len(server.actions("ping")) >= 2)


async def test_missing_pong_drops_the_connection_and_reconnects(
    fake: tuple[FakeChatServer, str],
) -> None:
    server, url = fake
    server.skip_reply = lambda conn, event: event["type"] == "pong" and server.upgrades == 1
    reopened = asyncio.Event()

    def on_state(state: State) -> None:
        if state is State.OPEN and server.upgrades > 1:
            reopened.set()

    async with make(url, "alice", ping_interval=0.05, request_timeout=0.1, on_state=on_state):
        await asyncio.wait_for(reopened.wait(), TIMEOUT)


async def test_close_ends_the_event_stream(fake: tuple[FakeChatServer, str]) -> None:
    _, url = fake
    alice = make(url, "alice")
    await alice.connect()
    await alice.close()
    assert [event async for event in alice.events()] == []
    assert alice.state is State.CLOSED


async def test_a_messages_frame_comes_out_as_its_messages_in_order_once(
    fake: tuple[FakeChatServer, str],
) -> None:
    server, url = fake
    server.batch_window = TIMEOUT / 20  # hold the room's messages, then one frame of them
    async with make(url, "alice") as alice, make(url, "bob") as bob:
        await alice.join("lobby")
        await bob.join("lobby")
        acks = await asyncio.gather(*(alice.send("lobby", f"m{n}") for n in range(4)))
        got = await next_messages(bob, 4)
        assert [m.seq for m in got] == [1, 2, 3, 4]
        assert sorted(m.id for m in got) == sorted(a.id for a in acks)
        # The same frame again, and one of its messages alone: nothing comes out twice.
        frame = {"type": "messages", "room": "lobby", "messages": server.log["lobby"]}
        await server.push("bob", frame)
        await server.push("bob", server.log["lobby"][2])
        await alice.send("lobby", "after")
        [after] = await next_messages(bob, 1)
        assert (after.seq, after.text) == (5, "after")
        assert bob.tracker.stats.duplicates == 5
        assert (bob.stats.batched_frames, bob.stats.batched_messages) == (2, 8)
        assert not any(isinstance(e, Messages) for e in list(bob._events._queue))  # type: ignore[attr-defined]


async def test_a_gap_inside_a_messages_frame_is_filled_from_history(
    fake: tuple[FakeChatServer, str],
) -> None:
    server, url = fake
    server.batch_window = TIMEOUT / 20
    server.skip_delivery = lambda conn, event: conn.user == "bob" and event.get("seq") == 2
    async with make(url, "alice") as alice, make(url, "bob") as bob:
        await alice.join("lobby")
        await bob.join("lobby")
        await asyncio.gather(*(alice.send("lobby", f"m{n}") for n in range(1, 5)))
        got = await next_messages(bob, 4)
        assert [m.text for m in got] == ["m1", "m2", "m3", "m4"]
        assert bob.tracker.stats.gaps == 1 and bob.tracker.stats.filled == 1
        assert bob.stats.batched_frames >= 1
        assert server.actions("history"), "the missing message came from history"
