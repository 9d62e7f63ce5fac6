"""Edits, deletes, reactions, read markers, moderation and token lifetime through `make run`'s
stack: the real authorizer, ChatFunction, the MessagesTable stream (its FilterCriteria) and
BroadcastFunction, over real sockets."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from chatcore.auth import mint_token
from client import ChatClient, ServerError
from client.backoff import Backoff
from client.cli import main
from client.context import Environment, ExitStatus
from client.events import Kicked, MessageUpdated, Reaction, Reauthed, ReauthRequired
from client.loadtest import LoadConfig, run_load
from tests.e2e.conftest import ROOT
from tests.e2e.harness import TIMEOUT
from tests.unit.client_fake_server import Stream

WAIT = 3 * TIMEOUT


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def of_type(kind: str, **fields: Any) -> Any:
    return lambda frame: (
        frame.get("type") == kind and all(frame.get(k) == v for k, v in fields.items())
    )


def carries(message_id: str) -> Any:
    """A ``message`` with that id, alone or inside a ``messages`` frame."""
    return lambda frame: (
        frame.get("id") == message_id
        and frame.get("type") == "message"
        or (
            frame.get("type") == "messages"
            and any(m.get("id") == message_id for m in frame.get("messages", []))
        )
    )


def token(
    stack: Any, user: str, *, ttl: int = 3600, roles: Sequence[str] = (), now: float | None = None
) -> str:
    """A token as the dev tokens are, with a role or a short life (signed with the dev key)."""
    settings = stack.stack._dev_settings
    return mint_token(
        settings.secret,
        sub=user,
        name=user.title(),
        ttl_seconds=ttl,
        issuer=settings.issuer,
        audience=settings.audience,
        roles=roles,
        now=now,
    )


def join(ws: Any, room: str) -> dict[str, Any]:
    ws.send_json({"action": "join", "room": room, "ref": f"j-{room}"})
    joined, _ = ws.receive_until(of_type("joined", room=room), timeout=WAIT)
    return dict(joined)


def request(ws: Any, frame: dict[str, Any]) -> dict[str, Any]:
    ref = uuid.uuid4().hex[:12]
    ws.send_json({**frame, "ref": ref})
    reply, _ = ws.receive_until(lambda f: f.get("ref") == ref, timeout=WAIT)
    return dict(reply)


def test_edit_delete_and_react_reach_members_and_history(chat_stack: Any) -> None:
    room, ada, bob = unique("room"), unique("ada"), unique("bob")
    with (
        chat_stack.connect(token=token(chat_stack, ada)) as a,
        chat_stack.connect(token=token(chat_stack, bob)) as b,
    ):
        join(a, room)
        join(b, room)
        ack = request(a, {"action": "send", "room": room, "text": "helo"})
        other = request(a, {"action": "send", "room": room, "text": "to delete"})
        b.receive_until(carries(other["id"]), timeout=WAIT)

        edited = request(a, {"action": "edit", "room": room, "id": ack["id"], "text": "hello"})
        assert edited["type"] == "edited" and edited["version"] == 1
        updated, _ = b.receive_until(of_type("message_updated", id=ack["id"]), timeout=WAIT)
        assert (updated["text"], updated["seq"]) == ("hello", ack["seq"])

        refused = request(b, {"action": "edit", "room": room, "id": ack["id"], "text": "mine"})
        assert refused["code"] == "forbidden"

        assert (
            request(b, {"action": "react", "room": room, "id": ack["id"], "emoji": "👍"})["type"]
            == "reacted"
        )
        reaction, _ = a.receive_until(of_type("reaction", id=ack["id"]), timeout=WAIT)
        assert (reaction["user"], reaction["count"], reaction["op"]) == (bob, 1, "add")

        assert request(a, {"action": "delete", "room": room, "id": other["id"]})["type"] == (
            "deleted"
        )
        gone, _ = b.receive_until(of_type("message_deleted", id=other["id"]), timeout=WAIT)
        assert gone["seq"] == other["seq"]

        history = request(b, {"action": "history", "room": room, "after": 0})
        first, second = history["messages"]
        assert (first["text"], first["version"], first["reactions"]) == ("hello", 1, {"👍": 1})
        assert second == {
            "type": "message",
            "id": other["id"],
            "room": room,
            "seq": 2,
            "deleted": True,
        }


def test_read_markers_give_unread_on_join_and_in_the_room_list(chat_stack: Any) -> None:
    room, ada, bob = unique("room"), unique("ada"), unique("bob")
    with (
        chat_stack.connect(token=token(chat_stack, ada)) as a,
        chat_stack.connect(token=token(chat_stack, bob)) as b,
    ):
        join(a, room)
        join(b, room)
        for i in range(4):
            request(a, {"action": "send", "room": room, "text": f"m{i}"})
        assert request(b, {"action": "read", "room": room, "seq": 1})["seq"] == 1
        receipt, _ = a.receive_until(of_type("receipt", user=bob), timeout=WAIT)
        assert receipt["seq"] == 1
        beyond = request(b, {"action": "read", "room": room, "seq": 99})
        assert beyond["code"] == "bad_request"
    with chat_stack.connect(token=token(chat_stack, bob)) as b:
        assert join(b, room)["unread"] == 3
        listed = request(b, {"action": "rooms"})["rooms"]
        assert listed == [{"room": room, "seq": 4, "read": 1, "unread": 3}]


def test_kick_and_ban_take_a_user_out_and_keep_a_banned_one_out(chat_stack: Any) -> None:
    room, mod, bob = unique("room"), unique("mod"), unique("bob")
    with (
        chat_stack.connect(token=token(chat_stack, mod, roles=["moderator"])) as m,
        chat_stack.connect(token=token(chat_stack, bob)) as b,
    ):
        join(m, room)
        join(b, room)
        denied = request(b, {"action": "kick", "room": room, "user": mod})
        assert denied["code"] == "forbidden"
        assert request(m, {"action": "kick", "room": room, "user": bob})["op"] == "kick"
        b.receive_until(of_type("kicked", room=room, by=mod), timeout=WAIT)
        join(b, room)
        assert request(m, {"action": "ban", "room": room, "user": bob})["op"] == "ban"
        b.receive_until(of_type("banned", room=room), timeout=WAIT)
        assert request(b, {"action": "join", "room": room})["code"] == "forbidden"
        assert request(b, {"action": "send", "room": room, "text": "x"})["code"] in (
            "forbidden",
            "not_member",
        )
        assert request(m, {"action": "unban", "room": room, "user": bob})["op"] == "unban"
        join(b, room)
        assert request(b, {"action": "send", "room": room, "text": "back"})["type"] == "ack"


def test_an_expired_token_closes_the_socket_unless_reauthed(chat_stack: Any) -> None:
    ada = unique("ada")
    # Expired 5 s ago: still inside the authorizer's leeway, so the socket opens.
    stale = token(chat_stack, ada, ttl=60, now=time.time() - 65)
    with chat_stack.connect(token=stale) as ws:
        ws.send_json({"action": "ping", "ref": "p"})
        error, _ = ws.receive_until(of_type("error"), timeout=WAIT)
        assert error["code"] == "token_expired"
        with pytest.raises(ConnectionClosed):
            ws.receive_json(timeout=WAIT)
    # A client that reauths first stays connected; another user's token changes nothing.
    with chat_stack.connect(token=token(chat_stack, ada, ttl=60, now=time.time() - 65)) as ws:
        other = request(ws, {"action": "reauth", "token": token(chat_stack, unique("eve"))})
        assert other["code"] == "forbidden"
        reauthed = request(ws, {"action": "reauth", "token": token(chat_stack, ada)})
        assert reauthed["type"] == "reauthed" and reauthed["exp"] > time.time() + 3000
        assert request(ws, {"action": "ping"})["type"] == "pong"


def test_a_token_near_its_end_gets_reauth_required(chat_stack: Any) -> None:
    ada = unique("ada")
    with chat_stack.connect(token=token(chat_stack, ada, ttl=60)) as ws:
        ws.send_json({"action": "ping", "ref": "p"})
        warning, _ = ws.receive_until(of_type("reauth_required"), timeout=WAIT)
        assert warning["exp"] > time.time()


# ---- the library and the CLI ----------------------------------------------------------------


def library_client(stack: Any, user: str, **options: Any) -> ChatClient:
    options.setdefault("backoff", Backoff(base=0.05, cap=0.5))
    options.setdefault("request_timeout", WAIT)
    tok = options.pop("token", None) or token(stack, user)
    return ChatClient(stack.ws_url, tok, **options)


async def next_of(chat: ChatClient, kind: type[Any], **fields: Any) -> Any:
    async def run() -> Any:
        async for event in chat.events():
            if isinstance(event, kind) and all(getattr(event, k) == v for k, v in fields.items()):
                return event
        raise AssertionError("the client closed")

    return await asyncio.wait_for(run(), WAIT)


async def test_the_library_edits_reacts_reads_and_moderates(chat_stack: Any) -> None:
    room, mod, bob = unique("room"), unique("mod"), unique("bob")
    moderator = token(chat_stack, mod, roles=["moderator"])
    async with (
        library_client(chat_stack, mod, token=moderator) as m,
        library_client(chat_stack, bob) as b,
    ):
        await m.join(room)
        await b.join(room)
        await m.send(room, "welcome")  # the first message: the moderator owns the room too
        ack = await b.send(room, "typo hre")
        assert (await b.edit(room, ack.id, "typo here")).version == 1
        updated = await next_of(m, MessageUpdated, id=ack.id)
        assert (updated.text, updated.seq) == ("typo here", ack.seq)
        assert (await m.react(room, ack.id, "🎉")).op == "add"
        reaction = await next_of(b, Reaction, id=ack.id)
        assert (reaction.user, reaction.count) == (mod, 1)
        _, entry = (await b.history(room)).messages
        assert (entry.text, entry.version, entry.reaction_counts) == ("typo here", 1, {"🎉": 1})
        assert (await m.read(room, ack.seq)).seq == ack.seq
        listed = {i.room: i for i in (await m.room_list()).rooms}
        assert (listed[room].seq, listed[room].unread) == (2, 0)
        with pytest.raises(ServerError) as refused:
            await b.kick(room, mod)
        assert refused.value.code == "forbidden"
        await m.kick(room, bob)
        await next_of(b, Kicked, room=room)
        assert room not in b.rooms  # not joined again after a reconnect


async def test_the_library_refreshes_its_token_through_the_provider(chat_stack: Any) -> None:
    ada = unique("ada")
    asked: list[str] = []

    def provider() -> str:
        fresh = token(chat_stack, ada)
        asked.append(fresh)
        return fresh

    short = token(chat_stack, ada, ttl=60)
    async with library_client(chat_stack, ada, token=short, token_provider=provider) as chat:
        await chat.ping()  # the server answers reauth_required first: the client reauths
        warning = await next_of(chat, ReauthRequired)
        reauthed = await next_of(chat, Reauthed)
        assert reauthed.exp > warning.exp + 3000
        assert len(asked) == 1
        await chat.ping()
        # Extended: the next frame is not warned (a warning would come before the pong).
        assert chat._events.empty()


async def test_the_cli_edits_reacts_and_lists_unread(chat_stack: Any) -> None:
    room, ada = unique("room"), unique("ada")
    lines = f"/join {room}\nhelo\n/edit hello\n/react 👍\n/rooms\n/read\n/rooms\n/delete\n/quit\n"
    env = Environment(stdin=Stream(lines), stdout=Stream(), stderr=Stream(), environ={}, cwd=ROOT)
    argv = ["connect", "--url", chat_stack.ws_url, "--user", ada]
    assert await asyncio.to_thread(main, argv, env=env) == ExitStatus.OK
    out = str(env.stdout.getvalue())  # type: ignore[attr-defined]
    assert "edited (version 1)" in out and "deleted" in out
    # A user's own message counts until it is read, as any other.
    assert f"{room}  #1  1 unread" in out
    assert f"{room} read up to #1" in out and f"{room}  #1  0 unread" in out


async def test_a_load_run_with_edits_in_the_mix_loses_and_duplicates_nothing(
    chat_stack: Any,
) -> None:
    config = LoadConfig(
        url=chat_stack.ws_url,
        connections=8,
        rooms=2,
        senders=2,
        rate=8.0,
        duration=2.0,
        size=120,
        drain=10 * TIMEOUT,
        timeout=WAIT,
        edit_every=2,
    )
    prefix = unique("edits")
    result = await run_load(config, lambda i: token(chat_stack, f"{prefix}-{i}"))
    assert result.sent == result.acked == 16 and dict(result.errors) == {}
    assert result.edited == 8
    assert (result.lost, result.duplicates, result.out_of_order) == (0, 0, 0)
    assert result.delivered == result.expected == 16 * 4
    # Each edit reached the room's four members (the last ones may still be on their way).
    assert 0 < result.updates <= 8 * 4
