"""The Python client against the whole local stack: real authorizer, handlers, stream, @connections.

One module, one stack (stacks must not overlap in a process): the library, its reconnect with gap
fill, the ``chat`` CLI through ``main(argv)``, and a small load test that must lose nothing.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from client import AuthError, ChatClient, Message, Notification, ServerError, State
from client.backoff import Backoff
from client.cli import main
from client.context import Environment, ExitStatus
from client.events import Event
from client.loadtest import LoadConfig, run_load
from tests.e2e.conftest import ROOT
from tests.e2e.harness import TIMEOUT
from tests.unit.client_fake_server import Stream

# The stack runs every handler in worker processes on a 2-core machine: allow it room.
WAIT = 3 * TIMEOUT
# Waiting for the last deliveries ends as soon as they are all in; only a failure waits it out.
DRAIN = 10 * TIMEOUT


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def client(stack: Any, user: str, **options: Any) -> ChatClient:
    options.setdefault("backoff", Backoff(base=0.05, cap=0.5))
    options.setdefault("request_timeout", WAIT)
    return ChatClient(stack.ws_url, stack.dev_token(user, user.title()), **options)


async def collect(chat: ChatClient, count: int, kind: type[Event] = Message) -> list[Any]:
    got: list[Any] = []

    async def run() -> None:
        async for event in chat.events():
            if isinstance(event, kind):
                got.append(event)
                if len(got) == count:
                    return

    try:
        await asyncio.wait_for(run(), WAIT)
    except TimeoutError:
        raise AssertionError(f"only {len(got)} of {count} {kind.__name__} events: {got}") from None
    return got


def cli_env(stdin: str = "", **environ: str) -> Environment:
    # Run from the project root so `--user` mints with the stack's own local.yaml settings.
    return Environment(
        stdin=Stream(stdin), stdout=Stream(), stderr=Stream(), environ=environ, cwd=ROOT
    )


async def chat_cli(argv: list[str], env: Environment) -> int:
    return await asyncio.to_thread(main, argv, env=env)


def text_of(stream: Any) -> str:
    return str(stream.getvalue())


# -- load (first: the embedded DynamoDB slows down as this module's stack accumulates data) ----


async def test_small_load_test_loses_and_duplicates_nothing(chat_stack: Any) -> None:
    config = LoadConfig(
        url=chat_stack.ws_url,
        connections=20,
        rooms=4,
        senders=4,
        rate=10.0,
        duration=3.0,
        size=120,
        drain=DRAIN,
        timeout=WAIT,
    )
    prefix = unique("load")
    result = await run_load(config, lambda i: chat_stack.dev_token(f"{prefix}-{i}"))
    report = {k: v for k, v in result.summary().items() if k not in ("timeline", "config")}
    print(json.dumps(report, indent=1))  # shown when the test fails
    assert result.connected == 20
    assert result.sent == result.acked == 30
    assert dict(result.errors) == {}
    assert result.expected == 30 * 5  # five members per room, the sender included
    # Every acked message is in history, and reached every member once, in order, in time.
    assert result.stored == 30 and result.stored_unacked == 0
    assert (result.lost, result.duplicates, result.undelivered, result.missed) == (0, 0, 0, 0)
    assert (result.delivered, result.late, result.out_of_order) == (150, 0, 0)
    assert len(result.latency_ms) == 150 and len(result.connect_ms) == 20


# -- library -------------------------------------------------------------------------------------


async def test_join_send_ack_receive_history_who_dm(chat_stack: Any) -> None:
    room, ada, bob = unique("room"), unique("ada"), unique("bob")
    async with client(chat_stack, ada) as a, client(chat_stack, bob) as b:
        assert (await a.join(room)).seq == 0
        await b.join(room)
        ack = await a.send(room, "hello bob")
        assert (ack.room, ack.seq) == (room, 1)
        [seen] = await collect(b, 1)
        assert (seen.id, seen.seq, seen.sender, seen.text) == (ack.id, 1, ada, "hello bob")

        again = await a.send(room, "hello bob")
        assert again.seq == 2  # a new ref is a new message
        history = await b.history(room)
        assert [m.text for m in history.messages] == ["hello bob", "hello bob"]
        who = await b.who(room)
        assert sorted(u.id for u in who.users or ()) == sorted([ada, bob])

        dm = await a.dm(bob, "just us")
        assert dm.room == "dm:" + ":".join(sorted([ada, bob]))
        dms = [m for m in await collect(b, 2) if m.room == dm.room]
        assert [m.text for m in dms] == ["just us"]
        await a.ping()


async def test_server_errors_and_rejected_tokens(chat_stack: Any) -> None:
    ada = unique("ada")
    async with client(chat_stack, ada) as a:
        try:
            await a.send(unique("not-joined"), "hi")
        except ServerError as exc:
            assert exc.code == "not_member"
        else:
            raise AssertionError("send to a room not joined was accepted")
    forged = ChatClient(chat_stack.ws_url, chat_stack.dev_token(ada)[:-4] + "AAAA")
    try:
        await forged.connect()
    except AuthError as exc:
        assert exc.status in (401, 403)
    else:
        raise AssertionError("a forged token was accepted")
    assert forged.state is State.CLOSED


async def test_reconnect_mid_stream_loses_and_duplicates_nothing(chat_stack: Any) -> None:
    room, ada, bob = unique("room"), unique("ada"), unique("bob")
    total = 30
    states: list[State] = []
    async with client(chat_stack, ada) as a, client(chat_stack, bob, on_state=states.append) as b:
        await a.join(room)
        await b.join(room)
        received: list[Message] = []
        dropped = asyncio.Event()

        async def read() -> None:
            async for event in b.events():
                if isinstance(event, Message):
                    received.append(event)
                    if len(received) == 8 and not dropped.is_set():
                        await b.drop()  # the socket dies abruptly, mid-stream
                        dropped.set()
                    if len(received) >= total:
                        return

        reader = asyncio.create_task(read())
        for n in range(total):
            await a.send(room, f"m{n}")
        await asyncio.wait_for(reader, WAIT)

    assert dropped.is_set()
    assert [m.text for m in received] == [f"m{n}" for n in range(total)]
    assert [m.seq for m in received] == list(range(1, total + 1))
    assert len({m.id for m in received}) == total
    assert b.stats.reconnects == 1
    assert states[:4] == [State.CONNECTING, State.OPEN, State.RECONNECTING, State.OPEN]


def connection_ids(stack: Any, user: str) -> list[str]:
    """The gateway's connections of ``user`` (read on the stack's own loop)."""

    async def find() -> list[str]:
        gateway = stack.stack.gateway
        return [
            cid
            for cid, live in gateway.connections.items()
            if (live.peer.authorizer or {}).get("principalId") == user
        ]

    return list(stack.call(find(), TIMEOUT))


def delete_connection(stack: Any, connection_id: str) -> int:
    request = urllib.request.Request(
        f"{stack.management_url}/@connections/{connection_id}", method="DELETE"
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        return int(response.status)


async def test_connection_deleted_by_the_server_reconnects_without_loss(chat_stack: Any) -> None:
    room, ada, bob = unique("room"), unique("ada"), unique("bob")
    total = 20
    async with client(chat_stack, ada) as a, client(chat_stack, bob) as b:
        await a.join(room)
        await b.join(room)
        received: list[Message] = []
        deleted = asyncio.Event()

        async def read() -> None:
            async for event in b.events():
                if isinstance(event, Message):
                    received.append(event)
                    if len(received) == 5 and not deleted.is_set():
                        [cid] = await asyncio.to_thread(connection_ids, chat_stack, bob)
                        assert await asyncio.to_thread(delete_connection, chat_stack, cid) == 204
                        deleted.set()
                    if len(received) >= total:
                        return

        reader = asyncio.create_task(read())
        for n in range(total):
            await a.send(room, f"m{n}")
        await asyncio.wait_for(reader, WAIT)

    assert deleted.is_set()
    assert [m.seq for m in received] == list(range(1, total + 1))
    assert len({m.id for m in received}) == total
    assert b.stats.reconnects == 1


# -- CLI -----------------------------------------------------------------------------------------


async def test_cli_send_listen_history_who(chat_stack: Any) -> None:
    room, ada, bob = unique("room"), unique("ada"), unique("bob")
    url = ["--url", chat_stack.ws_url]
    listen_env = cli_env()
    listener = asyncio.create_task(
        chat_cli(
            ["listen", "--room", room, "--json", "--count", "2", "--duration", str(WAIT)]
            + [*url, "--user", bob],
            listen_env,
        )
    )
    await asyncio.to_thread(listen_env.stderr.wait_for, f"listening on {room}", WAIT)  # type: ignore[attr-defined]

    send_env = cli_env(stdin="first\nsecond\n")
    assert await chat_cli(["send", "--room", room, "-", *url, "--user", ada], send_env) == 0
    assert text_of(send_env.stdout).splitlines()[1].startswith(f"sent {room} #2 ")
    assert await asyncio.wait_for(listener, WAIT) == ExitStatus.OK
    events = [json.loads(line) for line in text_of(listen_env.stdout).splitlines()]
    messages = [e for e in events if e["type"] == "message"]
    assert [(m["text"], m["from"]) for m in messages] == [("first", ada), ("second", ada)]

    history_env = cli_env(CHAT_TOKEN=chat_stack.dev_token(bob))
    assert await chat_cli(["history", "--room", room, "--json", *url], history_env) == 0
    assert [json.loads(x)["text"] for x in text_of(history_env.stdout).splitlines()] == [
        "first",
        "second",
    ]

    async with client(chat_stack, bob) as b:
        await b.join(room)
        who_env = cli_env()
        assert await chat_cli(["who", "--room", room, *url, "--user", ada], who_env) == 0
        assert f"({bob})" in text_of(who_env.stdout)


async def test_cli_notify_reaches_the_user(chat_stack: Any) -> None:
    bob = unique("bob")
    async with client(chat_stack, bob) as b:
        env = cli_env(AWS_ENDPOINT_URL=chat_stack.aws_endpoint)
        status = await chat_cli(["notify", "--user", bob, '{"kind": "deploy", "n": 1}'], env)
        assert status == ExitStatus.OK, text_of(env.stderr)
        assert "NotificationsTopic" in text_of(env.stdout)
        [note] = await collect(b, 1, Notification)
        assert note.payload == {"kind": "deploy", "n": 1}


async def test_cli_notify_with_no_flags_finds_the_local_stack(chat_stack: Any) -> None:
    # No endpoint, no topic: the local stack says where its AWS and its topic are.
    carol = unique("carol")
    async with client(chat_stack, carol) as c:
        env = cli_env()
        argv = ["notify", "--user", carol, "--url", chat_stack.ws_url, "build green"]
        status = await chat_cli(argv, env)
        assert status == ExitStatus.OK, text_of(env.stderr)
        [note] = await collect(c, 1, Notification)
        assert note.payload == {"text": "build green"}

    env = cli_env()
    argv = ["notify", "--all", "--url", "ws://127.0.0.1:9/dev", "hello"]
    assert await chat_cli(argv, env) == ExitStatus.UNREACHABLE
    assert "no local stack answers at http://127.0.0.1:9" in text_of(env.stderr)
    assert len(text_of(env.stderr).splitlines()) == 1


async def test_cli_rejected_token_and_unreachable_server(chat_stack: Any) -> None:
    env = cli_env(CHAT_TOKEN=chat_stack.dev_token(unique("ada"))[:-4] + "AAAA")
    assert (
        await chat_cli(["who", "--room", "x", "--url", chat_stack.ws_url], env) == ExitStatus.AUTH
    )
    assert len(text_of(env.stderr).splitlines()) == 1
    assert "token rejected" in text_of(env.stderr)

    env = cli_env()
    argv = ["who", "--room", "x", "--url", "ws://127.0.0.1:9/dev", "--user", "ada"]
    assert await chat_cli(argv, env) == ExitStatus.UNREACHABLE
    assert text_of(env.stderr).startswith("chat who: cannot reach ws://127.0.0.1:9/dev")


async def test_cli_loadtest_report(chat_stack: Any, tmp_path: Path) -> None:
    env = cli_env()
    report = tmp_path / "load.json"
    argv = ["loadtest", "-n", "8", "-r", "2", "-s", "2", "--rate", "10", "-d", "2"]
    argv += ["--drain", str(DRAIN), "--timeout", str(WAIT)]
    argv += ["--url", chat_stack.ws_url, "--user", unique("cli-load"), "--json", str(report)]
    assert await chat_cli(argv, env) == ExitStatus.OK, text_of(env.stdout) + text_of(env.stderr)
    table = text_of(env.stdout)
    for label in ("connect", "end-to-end", "p50", "p99", "lost", "duplicated", "throughput"):
        assert label in table
    for label in ("undelivered", "late", "stored (history)", "gap fills / reconnects"):
        assert label in table
    data = json.loads(report.read_text())
    assert data["messages"]["lost"] == data["messages"]["undelivered"] == 0
    assert data["messages"]["acked"] == data["messages"]["stored"] == 20
    assert data["messages"]["delivered"] + data["messages"]["late"] == 20 * 4


# -- last: a retried ref makes the store cancel a transaction; broadcasting must survive it ---


async def test_retried_ref_is_stored_once_and_broadcasting_goes_on(chat_stack: Any) -> None:
    room, ada, bob = unique("room"), unique("ada"), unique("bob")
    async with client(chat_stack, ada) as a, client(chat_stack, bob) as b:
        await a.join(room)
        await b.join(room)
        first = await a.send(room, "once", ref="same-ref")
        second = await a.send(room, "once", ref="same-ref")
        assert (second.id, second.seq) == (first.id, first.seq)
        after = await a.send(room, "after the retry")
        assert after.seq == 2
        assert [m.text for m in (await a.history(room)).messages] == ["once", "after the retry"]
        got = await collect(b, 2)
        assert [(m.seq, m.text) for m in got] == [(1, "once"), (2, "after the retry")]


async def test_concurrent_sends_from_several_users_all_reach_every_member(chat_stack: Any) -> None:
    room, bob = unique("room"), unique("bob")
    senders = [client(chat_stack, unique(f"s{n}")) for n in range(4)]
    async with client(chat_stack, bob) as b:
        await b.join(room)
        for sender in senders:
            await sender.connect()
            await sender.join(room)
        try:
            # Sends racing for the same room's next seq: the store retries the losers.
            acks = await asyncio.gather(*(s.send(room, f"c{n}") for n, s in enumerate(senders)))
            assert sorted(ack.seq for ack in acks) == [1, 2, 3, 4]
            got = await collect(b, 4)
            assert sorted(m.text for m in got) == ["c0", "c1", "c2", "c3"]
            after = await senders[0].send(room, "and one more")
            [last] = await collect(b, 1)
            assert (last.seq, last.text) == (after.seq, "and one more")
        finally:
            await asyncio.gather(*(s.close() for s in senders))


async def test_concurrent_sends_within_the_budget_are_all_accepted(chat_stack: Any) -> None:
    room, ada = unique("room"), unique("ada")
    async with client(chat_stack, ada) as a:
        await a.join(room)
        # Six sends in the same second from one connection: well under SEND_RATE_PER_SECOND (20).
        acks = await asyncio.gather(*(a.send(room, f"c{n}") for n in range(6)))
        assert sorted(ack.seq for ack in acks) == list(range(1, 7))
