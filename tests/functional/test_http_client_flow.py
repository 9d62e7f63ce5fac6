"""``client.http`` over real HTTP against the authorizer and HTTP functions on moto (behind
``tests.support.http_gateway``): a publish reaches WebSocket members once, retries store
nothing twice, history pages, notifications, user disconnects and the authorizer's refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from chatcore.auth import mint_token
from client.errors import AuthError, HttpError
from client.http import HttpClient
from tests.support.chat import ChatHarness, User
from tests.support.http_gateway import running_http_gateway

ALICE = User("alice", "Alice")
BOB = User("bob", "Bob")


@pytest.fixture
async def http_url(chat: ChatHarness) -> AsyncIterator[str]:
    async with running_http_gateway(chat) as url:
        yield url


def token(secret: str, user: str, *scopes: str) -> str:
    return mint_token(secret, sub=user, name=user.title(), scopes=scopes)


def messages_to(chat: ChatHarness, cid: str) -> list[dict[str, Any]]:
    return [e for e in chat.api.events(cid) if e["type"] == "message"]


async def test_a_publish_reaches_websocket_members_once_and_a_retry_stores_nothing(
    chat: ChatHarness, http_url: str, jwt_secret: str
) -> None:
    chat.connect("c-bob", BOB)
    assert chat.reply("c-bob", {"action": "join", "room": "lobby"})["type"] == "joined"
    async with HttpClient(http_url, token(jwt_secret, "alice")) as api:
        ack = await api.publish("lobby", "hello bob", ref="greeting-1")
        again = await api.publish("lobby", "hello bob", ref="greeting-1")
    assert again == ack
    assert (ack["room"], ack["seq"], ack["ref"]) == ("lobby", 1, "greeting-1")
    chat.pump()
    [message] = messages_to(chat, "c-bob")
    assert (message["id"], message["from"], message["text"]) == (ack["id"], "alice", "hello bob")


async def test_history_pages_back_through_every_message(
    chat: ChatHarness, http_url: str, jwt_secret: str
) -> None:
    async with HttpClient(http_url, token(jwt_secret, "alice")) as api:
        for i in range(5):
            await api.publish("lobby", f"m{i}")
        pages = [[m["seq"] for m in page.messages] async for page in api.history("lobby", limit=2)]
        assert pages == [[4, 5], [2, 3], [1]]
        assert [u["id"] for u in await api.members("lobby")] == []
        assert (await api.me())["id"] == "alice"


async def test_services_notify_and_disconnect_with_their_scopes(
    chat: ChatHarness, http_url: str, jwt_secret: str
) -> None:
    chat.connect("c-alice-1", ALICE)
    chat.connect("c-alice-2", ALICE)
    service = token(jwt_secret, "ops", "chat/notify", "chat/admin")
    async with HttpClient(http_url, service) as api:
        answer = await api.notify({"title": "maintenance"}, users=["alice"], id="n-7")
        assert (answer["id"], answer["delivered"]) == ("n-7", 2)
        closed = await api.disconnect_user("alice")
    assert closed == {"user": "alice", "closed": 2, "gone": 0}
    for cid in ("c-alice-1", "c-alice-2"):
        [event] = chat.api.events(cid)
        assert (event["type"], event["id"]) == ("notification", "n-7")
    assert sorted(chat.api.deleted) == ["c-alice-1", "c-alice-2"]


async def test_the_authorizer_refuses_a_missing_scope_or_a_bad_token(
    chat: ChatHarness, http_url: str, jwt_secret: str
) -> None:
    async with HttpClient(http_url, token(jwt_secret, "alice"), retries=0) as api:
        with pytest.raises(AuthError) as refused:
            await api.notify({"x": 1}, everyone=True)
        assert refused.value.status == 403
    forged = mint_token("an-attackers-key-of-at-least-32-bytes", sub="alice")
    async with HttpClient(http_url, forged, retries=0) as api:
        with pytest.raises(AuthError):
            await api.me()
    async with HttpClient(http_url, token(jwt_secret, "bob"), retries=0) as api:
        with pytest.raises(HttpError) as forbidden:
            await api.publish("private:ops", "let me in")
        assert (forbidden.value.status, forbidden.value.code) == (403, "forbidden")
