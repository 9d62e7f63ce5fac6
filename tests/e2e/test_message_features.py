"""Edits, deletes, reactions, read markers, moderation and token lifetime through `make run`'s
stack: the real authorizer, ChatFunction, the MessagesTable stream (its FilterCriteria) and
BroadcastFunction, over real sockets."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from chatcore.auth import mint_token
from tests.e2e.harness import TIMEOUT

WAIT = 3 * TIMEOUT


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def of_type(kind: str, **fields: Any) -> Any:
    return lambda frame: (
        frame.get("type") == kind and all(frame.get(k) == v for k, v in fields.items())
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
        b.receive_until(of_type("message", id=other["id"]), timeout=WAIT)

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
