"""The project's own template.yaml on the local stack: a user's whole path through it.

Connect with a dev token (the real authorizer), join a room, send, and receive the ``message``
through the real path: ChatFunction stores it, the MessagesTable stream triggers
BroadcastFunction, which posts to every member through ``@connections``.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from tests.e2e.harness import TIMEOUT


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def of_type(kind: str, **fields: Any) -> Any:
    return lambda frame: (
        frame.get("type") == kind and all(frame.get(k) == v for k, v in fields.items())
    )


def test_send_reaches_every_member_through_the_stream_broadcast(chat_stack: Any) -> None:
    room = unique("room")
    ada, bob = unique("ada"), unique("bob")
    with (
        chat_stack.connect(token=chat_stack.dev_token(ada, "Ada")) as a,
        chat_stack.connect(token=chat_stack.dev_token(bob, "Bob")) as b,
    ):
        for ws in (a, b):
            ws.send_json({"action": "join", "room": room})
            ws.receive_until(of_type("joined", room=room), timeout=3 * TIMEOUT)

        a.send_json({"action": "send", "room": room, "text": "hello there", "ref": "r-1"})
        ack, _ = a.receive_until(of_type("ack", ref="r-1"), timeout=3 * TIMEOUT)
        seen_by_bob, _ = b.receive_until(of_type("message", room=room), timeout=3 * TIMEOUT)
        seen_by_ada, _ = a.receive_until(of_type("message", room=room), timeout=3 * TIMEOUT)

    assert seen_by_bob == seen_by_ada
    assert seen_by_bob["text"] == "hello there"
    assert seen_by_bob["from"] == ada and seen_by_bob["name"] == "Ada"
    assert (seen_by_bob["id"], seen_by_bob["seq"]) == (ack["id"], ack["seq"])


def test_connect_without_a_token_is_refused_401(chat_stack: Any) -> None:
    with pytest.raises(InvalidStatus) as info:
        chat_stack.connect()
    assert info.value.response.status_code == 401


def test_a_forged_token_is_refused(chat_stack: Any) -> None:
    token = chat_stack.dev_token(unique("eve"))
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[::-1]}"
    with pytest.raises(InvalidStatus) as info:
        chat_stack.connect(token=forged)
    assert info.value.response.status_code in (401, 403)


def test_unknown_action_reaches_default_route(chat_stack: Any) -> None:
    with chat_stack.connect(token=chat_stack.dev_token(unique("cy"))) as ws:
        ws.send_json({"action": "dance"})
        frame, _ = ws.receive_until(of_type("error"), timeout=3 * TIMEOUT)
    assert frame["code"] == "unknown_action"


def test_the_browser_page_and_its_local_endpoints_are_served(chat_stack: Any) -> None:
    with urllib.request.urlopen(chat_stack.page_url, timeout=TIMEOUT) as response:
        assert response.status == 200
        assert "text/html" in response.headers["Content-Type"]
        assert b"<html" in response.read().lower()
    with urllib.request.urlopen(chat_stack.page_url + "_local/config", timeout=TIMEOUT) as r:
        config = json.load(r)
    assert config["wsUrl"] == chat_stack.ws_url
    assert config["stage"] == "dev"
    url = chat_stack.page_url + "_local/token?user=dora&name=Dora"
    with urllib.request.urlopen(url, timeout=TIMEOUT) as r:
        token = json.load(r)["token"]
    # The token the page gets is one the real authorizer accepts.
    with chat_stack.connect(token=token) as ws:
        ws.send_json({"action": "ping", "ref": "p"})
        pong, _ = ws.receive_until(of_type("pong"), timeout=3 * TIMEOUT)
    assert pong["ref"] == "p"
