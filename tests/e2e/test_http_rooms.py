"""``GET /me/rooms`` through the whole local stack (template.yaml + local.yaml, HS256).

A user joins rooms over the WebSocket API, another sends to one of them, and the room list over
real HTTP (raw and through ``client.http.HttpClient``) shows the unread counts before and after
a WebSocket ``read``, the same list the socket's ``rooms`` action gives.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from client.http import HttpClient
from local.testing import StackThread, TestSocket


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def reply(ws: TestSocket, frame: dict[str, Any], kind: str) -> dict[str, Any]:
    ws.send_json(frame)
    answer, _ = ws.receive_until(lambda f: f.get("type") in (kind, "error"))
    assert answer["type"] == kind, answer
    return dict(answer)


def test_my_rooms_counts_unread_before_and_after_a_read(chat_stack: StackThread) -> None:
    ada, bob = unique("ada"), unique("bob")
    news, quiet = unique("news-"), unique("quiet-")
    token = chat_stack.local_token(ada)

    async def rooms() -> list[dict[str, Any]]:
        async with HttpClient(chat_stack.http_url, token) as http:
            return await http.rooms()

    with (
        chat_stack.connect(token=chat_stack.dev_token(ada)) as reader,
        chat_stack.connect(token=chat_stack.dev_token(bob)) as writer,
    ):
        for room in (news, quiet):
            reply(reader, {"action": "join", "room": room}, "joined")
        reply(writer, {"action": "join", "room": news}, "joined")
        for i in range(3):
            ack = reply(writer, {"action": "send", "room": news, "text": f"n{i}"}, "ack")
        assert ack["seq"] == 3

        answer = chat_stack.request("GET", "/me/rooms", token=token)
        assert answer.status == 200, answer
        assert answer.json() == {
            "rooms": sorted(
                [
                    {"room": news, "seq": 3, "read": 0, "unread": 3},
                    {"room": quiet, "seq": 0, "read": 0, "unread": 0},
                ],
                key=lambda r: str(r["room"]),
            )
        }

        assert reply(reader, {"action": "read", "room": news, "seq": 2}, "read")["seq"] == 2
        after = asyncio.run(rooms())
        assert {r["room"]: (r["read"], r["unread"]) for r in after} == {
            news: (2, 1),
            quiet: (0, 0),
        }
        # The very list the socket's rooms action answers.
        assert reply(reader, {"action": "rooms"}, "rooms")["rooms"] == after
