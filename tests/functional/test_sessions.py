"""Token lifetime on moto: reauth, reauth_required, closing at expiry (each frame, the sweep)."""

from __future__ import annotations

import time

import pytest

from chatcore.auth import mint_token
from tests.support.chat import ChatHarness, User


def user_expiring_in(seconds: int, name: str = "alice") -> User:
    return User(name, name.title(), exp=int(time.time()) + seconds)


def test_a_socket_far_from_its_exp_is_not_warned_and_costs_no_read(chat: ChatHarness) -> None:
    chat.connect("c-a", user_expiring_in(3600))
    assert [e["type"] for e in chat.say("c-a", {"action": "ping"})] == ["pong"]


def test_a_socket_near_its_exp_gets_reauth_required_and_reauth_extends_it(
    chat: ChatHarness, jwt_secret: str
) -> None:
    user = user_expiring_in(60)
    chat.connect("c-a", user)
    warned = chat.say("c-a", {"action": "ping"})
    assert [e["type"] for e in warned] == ["reauth_required", "pong"]
    assert warned[0]["exp"] == user.exp
    token = mint_token(jwt_secret, sub="alice", ttl_seconds=3600)
    reply = chat.reply("c-a", {"action": "reauth", "token": token, "ref": "ra"})
    assert reply["type"] == "reauthed" and reply["ref"] == "ra"
    assert reply["exp"] >= int(time.time()) + 3590
    # Extended: no more warnings although the context still carries the first exp.
    assert [e["type"] for e in chat.say("c-a", {"action": "ping"})] == ["pong"]


def test_an_expired_socket_is_told_and_closed_and_its_frame_not_handled(
    chat: ChatHarness,
) -> None:
    chat.connect("c-a", user_expiring_in(-1))
    events = chat.say("c-a", {"action": "join", "room": "lobby"})
    assert [(e["type"], e.get("code")) for e in events] == [("error", "token_expired")]
    assert chat.api.deleted == ["c-a"]
    # The join was not handled.
    chat.connect("c-b", user_expiring_in(3600, "bob"))
    assert chat.reply("c-b", {"action": "who", "room": "lobby"})["users"] == []


def test_an_expired_socket_may_still_reauth(chat: ChatHarness, jwt_secret: str) -> None:
    chat.connect("c-a", user_expiring_in(-5))
    token = mint_token(jwt_secret, sub="alice", ttl_seconds=600)
    assert chat.reply("c-a", {"action": "reauth", "token": token})["type"] == "reauthed"
    assert [e["type"] for e in chat.say("c-a", {"action": "ping"})] == ["pong"]
    assert chat.api.deleted == []


@pytest.mark.parametrize(
    ("token_of", "code"),
    [("bob", "forbidden"), (None, "invalid_token"), ("expired", "invalid_token")],
)
def test_reauth_with_another_users_or_an_invalid_token_changes_nothing(
    chat: ChatHarness, jwt_secret: str, token_of: str | None, code: str
) -> None:
    chat.connect("c-a", user_expiring_in(60))
    if token_of == "bob":
        token = mint_token(jwt_secret, sub="bob", ttl_seconds=3600)
    elif token_of == "expired":
        token = mint_token(jwt_secret, sub="alice", ttl_seconds=60, now=time.time() - 3600)
    else:
        token = mint_token("another-key-of-at-least-32-bytes-long!!", sub="alice")
    answer = chat.say("c-a", {"action": "reauth", "token": token})[-1]
    assert answer["type"] == "error" and answer["code"] == code, answer
    assert token not in answer["message"]
    # Still warned: the connection was not extended.
    assert chat.say("c-a", {"action": "ping"})[0]["type"] == "reauth_required"


def test_the_sweep_warns_and_closes_sockets_that_send_nothing(
    chat: ChatHarness, jwt_secret: str
) -> None:
    chat.connect("c-soon", user_expiring_in(60, "alice"))
    chat.connect("c-gone", user_expiring_in(-30, "bob"))
    chat.connect("c-later", user_expiring_in(3600, "carol"))
    chat.connect("c-renewed", user_expiring_in(-10, "dave"))
    token = mint_token(jwt_secret, sub="dave", ttl_seconds=3600)
    assert chat.reply("c-renewed", {"action": "reauth", "token": token})["type"] == "reauthed"
    chat.api.clear()
    assert chat.invoke("sweep", {"source": "aws.scheduler"}) == {"warned": 1, "closed": 1}
    assert [e["type"] for e in chat.api.events("c-soon")] == ["reauth_required"]
    assert chat.api.events("c-gone")[0]["code"] == "token_expired"
    assert chat.api.deleted == ["c-gone"]
    assert chat.api.events("c-later") == [] and chat.api.events("c-renewed") == []
