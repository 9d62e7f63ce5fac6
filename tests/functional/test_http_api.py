"""The HTTP API function on moto, with 2.0 events as API Gateway sends them after its JWT
authorizer (claims as strings) or the HS256 Lambda authorizer (its context), and the Lambda
authorizer itself on 2.0 authorizer events."""

from __future__ import annotations

import logging
from typing import Any

import boto3
import pytest

from chatcore.auth import mint_token
from tests.support.chat import ChatHarness, Response, User
from tests.support.events import http_authorizer_event

ALICE = User("alice", "Alice", ("private:ops",))
BOB = User("bob", "Bob")
BILLING = User("billing-service", "Billing")

PUBLISH = "POST /rooms/{room}/messages"
HISTORY = "GET /rooms/{room}/messages"
MEMBERS = "GET /rooms/{room}/members"
ME = "GET /me"
MY_ROOMS = "GET /me/rooms"
NOTIFY = "POST /notifications"
DISCONNECT = "POST /users/{user}/disconnect"


def publish(chat: ChatHarness, user: User, room: str, body: Any, **options: Any) -> Response:
    return chat.http(PUBLISH, user, path={"room": room}, body=body, **options)


def history(chat: ChatHarness, user: User, room: str, **query: str) -> Response:
    return chat.http(HISTORY, user, path={"room": room}, query=query)


def stored(chat: ChatHarness, room: str) -> list[dict[str, Any]]:
    return boto3.client("dynamodb").query(
        TableName=chat.resources["MessagesTable"],
        KeyConditionExpression="pk = :p AND seq > :zero",
        ExpressionAttributeValues={":p": {"S": f"ROOM#{room}"}, ":zero": {"N": "0"}},
    )["Items"]


def join(chat: ChatHarness, cid: str, user: User, room: str = "lobby") -> None:
    chat.connect(cid, user)
    assert chat.reply(cid, {"action": "join", "room": room})["type"] == "joined"


def messages_to(chat: ChatHarness, cid: str) -> list[dict[str, Any]]:
    return [e for e in chat.api.events(cid) if e["type"] == "message"]


def assert_error(response: Response, status: int, code: str) -> None:
    assert response.status == status, response
    assert response.body["code"] == code
    assert set(response.body) == {"code", "message"}
    assert "Traceback" not in response.body["message"]


# ---- publish ---------------------------------------------------------------------------------


@pytest.mark.parametrize("authorizer", ["lambda", "jwt"])
def test_publish_stores_acks_201_and_members_get_it_once_from_the_stream(
    chat: ChatHarness, authorizer: str
) -> None:
    join(chat, "c-bob", BOB)
    response = publish(chat, ALICE, "lobby", {"text": "hello"}, authorizer=authorizer)
    assert response.status == 201
    ack = response.body
    assert ack == {"type": "ack", "id": ack["id"], "room": "lobby", "seq": 1}
    assert chat.pump() == {"batchItemFailures": []}
    [message] = messages_to(chat, "c-bob")
    assert message["id"] == ack["id"]
    assert (message["from"], message["name"], message["text"]) == ("alice", "Alice", "hello")
    # A second pump finds nothing new: delivered exactly once.
    chat.pump()
    assert len(messages_to(chat, "c-bob")) == 1


def test_publish_reads_private_rooms_from_jwt_claim_strings(chat: ChatHarness) -> None:
    # API Gateway passes the list claim as the string "[private:ops]".
    response = publish(chat, ALICE, "private:ops", {"text": "ops only"}, authorizer="jwt")
    assert response.status == 201
    assert response.body["room"] == "private:ops"


def test_publish_to_a_private_room_without_the_claim_is_403_and_stores_nothing(
    chat: ChatHarness,
) -> None:
    assert_error(publish(chat, BOB, "private:ops", {"text": "let me in"}), 403, "forbidden")
    assert stored(chat, "private:ops") == []


def test_publish_to_a_dm_room_is_refused(chat: ChatHarness) -> None:
    response = publish(chat, ALICE, "dm:alice:bob", {"text": "psst"})
    assert_error(response, 403, "forbidden")
    assert "dm" in response.body["message"]
    assert stored(chat, "dm:alice:bob") == []


def test_a_retry_with_the_same_idempotency_key_returns_the_same_201_and_stores_once(
    chat: ChatHarness,
) -> None:
    headers = {"Idempotency-Key": "5b0f4a52-9a1e-4f43-8f7e-2d1c0b9a8e77"}
    first = publish(chat, ALICE, "lobby", {"text": "once"}, headers=headers)
    again = publish(chat, ALICE, "lobby", {"text": "once"}, headers=headers)
    assert first.status == again.status == 201
    assert again.body == first.body
    assert first.body["ref"] == headers["Idempotency-Key"]
    # The body's ref is the same key: also a retry.
    same_ref = publish(chat, ALICE, "lobby", {"text": "once", "ref": headers["Idempotency-Key"]})
    assert same_ref.body == first.body
    assert len(stored(chat, "lobby")) == 1


def test_a_ref_that_differs_from_the_idempotency_key_is_400(chat: ChatHarness) -> None:
    response = publish(
        chat, ALICE, "lobby", {"text": "x", "ref": "a"}, headers={"Idempotency-Key": "b"}
    )
    assert_error(response, 400, "bad_request")


def test_publish_shares_the_send_rate_budget_and_answers_429(chat: ChatHarness) -> None:
    # A budget of 1 per second: of three quick publishes, at least two share a second.
    env = {"SEND_RATE_PER_SECOND": "1"}
    answers = [publish(chat, ALICE, "lobby", {"text": f"m{i}"}, env=env) for i in range(3)]
    limited = [a for a in answers if a.status == 429]
    assert limited, [a.status for a in answers]
    assert_error(limited[0], 429, "rate_limited")
    assert limited[0].headers["retry-after"] == "1"
    assert len(stored(chat, "lobby")) == sum(a.status == 201 for a in answers)


def test_websocket_sends_and_http_publishes_share_one_budget_per_user_and_room(
    chat: ChatHarness,
) -> None:
    # A budget of 1 per second, over both APIs: four quick sends alternating between them span
    # at most three seconds, so one is refused, and no two accepted ones share a second.
    env = {"SEND_RATE_PER_SECOND": "1"}
    join(chat, "c1", ALICE)
    outcomes = []
    for i in range(4):
        if i % 2:
            (event,) = chat.say("c1", {"action": "send", "room": "lobby", "text": f"w{i}"}, **env)
            outcomes.append(event["type"] == "ack" or event["code"])
        else:
            answer = publish(chat, ALICE, "lobby", {"text": f"h{i}"}, env=env)
            outcomes.append(answer.status == 201 or answer.body["code"])
    assert "rate_limited" in outcomes, outcomes
    seconds = [int(item["ts"]["N"]) // 1000 for item in stored(chat, "lobby")]
    assert len(seconds) == outcomes.count(True)
    assert len(set(seconds)) == len(seconds), seconds
    # Bob's budget in the same room is his own.
    assert publish(chat, BOB, "lobby", {"text": "bob"}, env=env).status == 201


@pytest.mark.parametrize(
    "body", ['{"text": "unterminated', "[1, 2]", "", '{"ref": "r1"}', '{"text": "  "}']
)
def test_bad_bodies_are_400_and_store_nothing(chat: ChatHarness, body: str) -> None:
    assert_error(publish(chat, ALICE, "lobby", body), 400, "bad_request")
    assert stored(chat, "lobby") == []


def test_too_long_text_is_413_as_on_the_websocket(chat: ChatHarness) -> None:
    response = publish(chat, ALICE, "lobby", {"text": "x" * 4001})
    assert_error(response, 413, "too_large")
    assert "4000" in response.body["message"]


def test_a_bad_room_name_is_400(chat: ChatHarness) -> None:
    assert_error(publish(chat, ALICE, "no spaces", {"text": "x"}), 400, "bad_request")


def test_a_service_with_chat_publish_posts_as_itself(chat: ChatHarness) -> None:
    join(chat, "c-bob", BOB)
    response = publish(chat, BILLING, "lobby", {"text": "invoice ready"}, scopes=["chat/publish"])
    assert response.status == 201
    chat.pump()
    [message] = messages_to(chat, "c-bob")
    assert (message["from"], message["name"]) == ("billing-service", "Billing")
    # Marked as a service's message, on the socket and in history; a user's is not.
    assert message["system"] is True
    assert publish(chat, ALICE, "lobby", {"text": "thanks"}).status == 201
    chat.pump()
    assert [m.get("system") for m in messages_to(chat, "c-bob")] == [True, None]
    page = history(chat, BOB, "lobby").body["messages"]
    assert [(m["text"], m.get("system")) for m in page] == [
        ("invoice ready", True),
        ("thanks", None),
    ]


# ---- history ---------------------------------------------------------------------------------


def _publish_many(chat: ChatHarness, count: int) -> None:
    for i in range(1, count + 1):
        assert publish(chat, ALICE, "lobby", {"text": f"m{i}", "ref": f"r{i}"}).status == 201


def _seqs(response: Response) -> list[int]:
    return [m["seq"] for m in response.body["messages"]]


def test_history_pages_back_from_the_latest_with_a_cursor(chat: ChatHarness) -> None:
    _publish_many(chat, 5)
    page = history(chat, BOB, "lobby", limit="2")
    assert page.status == 200
    assert _seqs(page) == [4, 5]
    assert page.body["messages"][0]["text"] == "m4"
    page = history(chat, BOB, "lobby", limit="2", cursor=page.body["next"])
    assert _seqs(page) == [2, 3]
    page = history(chat, BOB, "lobby", limit="2", cursor=page.body["next"])
    assert _seqs(page) == [1]
    assert page.body["next"] is None


def test_history_pages_forward_after_a_seq(chat: ChatHarness) -> None:
    _publish_many(chat, 5)
    page = history(chat, BOB, "lobby", after="0", limit="2")
    assert _seqs(page) == [1, 2]
    page = history(chat, BOB, "lobby", limit="2", cursor=page.body["next"])
    assert _seqs(page) == [3, 4]
    page = history(chat, BOB, "lobby", limit="2", cursor=page.body["next"])
    assert _seqs(page) == [5]
    assert page.body["next"] is None
    assert _seqs(history(chat, BOB, "lobby", after="1", before="4")) == [2, 3]


def test_history_refusals(chat: ChatHarness) -> None:
    _publish_many(chat, 1)
    assert_error(history(chat, BOB, "private:ops"), 403, "forbidden")
    assert_error(history(chat, BOB, "dm:alice:carol"), 403, "forbidden")
    assert_error(history(chat, BOB, "empty-room"), 404, "not_found")
    assert_error(history(chat, BOB, "lobby", cursor="not-a-cursor"), 400, "bad_request")
    assert_error(history(chat, BOB, "lobby", limit="0"), 400, "bad_request")
    assert_error(history(chat, BOB, "lobby", limit="101"), 400, "bad_request")
    assert_error(history(chat, BOB, "lobby", after="x"), 400, "bad_request")


# ---- members and me --------------------------------------------------------------------------


def test_members_lists_who_is_in_the_room(chat: ChatHarness) -> None:
    join(chat, "c-bob", BOB)
    join(chat, "c-alice", ALICE)
    response = chat.http(MEMBERS, BOB, path={"room": "lobby"})
    assert response.status == 200
    assert response.body == {
        "room": "lobby",
        "users": [{"id": "alice", "name": "Alice"}, {"id": "bob", "name": "Bob"}],
    }
    assert_error(chat.http(MEMBERS, BOB, path={"room": "private:ops"}), 403, "forbidden")


@pytest.mark.parametrize("authorizer", ["lambda", "jwt"])
def test_me_gives_the_identity_private_rooms_and_open_connections(
    chat: ChatHarness, authorizer: str
) -> None:
    chat.connect("c-alice-1", ALICE)
    chat.connect("c-alice-2", ALICE)
    chat.connect("c-bob", BOB)
    response = chat.http(ME, ALICE, authorizer=authorizer)
    assert response.status == 200
    assert response.body["id"] == "alice"
    assert response.body["rooms"] == ["private:ops"]
    assert response.body["connections"] == ["c-alice-1", "c-alice-2"]


@pytest.mark.parametrize("authorizer", ["lambda", "jwt"])
def test_my_rooms_gives_unread_per_room_as_the_rooms_action_does(
    chat: ChatHarness, authorizer: str
) -> None:
    join(chat, "c-alice", ALICE, "lobby")
    assert chat.reply("c-alice", {"action": "join", "room": "general"})["type"] == "joined"
    for i in range(3):
        assert publish(chat, BOB, "lobby", {"text": f"m{i}"}).status == 201
    response = chat.http(MY_ROOMS, ALICE, authorizer=authorizer)
    assert response.status == 200
    assert response.body == {
        "rooms": [
            {"room": "general", "seq": 0, "read": 0, "unread": 0},
            {"room": "lobby", "seq": 3, "read": 0, "unread": 3},
        ]
    }
    assert chat.reply("c-alice", {"action": "read", "room": "lobby", "seq": 2})["seq"] == 2
    after = chat.http(MY_ROOMS, ALICE, authorizer=authorizer).body
    assert after["rooms"][1] == {"room": "lobby", "seq": 3, "read": 2, "unread": 1}
    # Exactly the WebSocket answer, and the markers outlive the socket.
    assert after["rooms"] == chat.reply("c-alice", {"action": "rooms"})["rooms"]
    chat.disconnect("c-alice")
    assert chat.http(MY_ROOMS, ALICE, authorizer=authorizer).body == after


def test_my_rooms_is_empty_for_a_user_who_joined_nothing(chat: ChatHarness) -> None:
    join(chat, "c-alice", ALICE)
    response = chat.http(MY_ROOMS, BOB)
    assert (response.status, response.body) == (200, {"rooms": []})


# ---- notifications ---------------------------------------------------------------------------


def test_notifications_reach_the_targets_connections_with_202(chat: ChatHarness) -> None:
    chat.connect("c-alice", ALICE)
    chat.connect("c-bob", BOB)
    body = {"targets": {"users": ["alice"]}, "payload": {"kind": "invoice"}, "id": "n-1"}
    response = chat.http(NOTIFY, BILLING, body=body, scopes=["chat/notify"])
    assert response.status == 202
    assert response.body["id"] == "n-1" and response.body["delivered"] == 1
    [event] = chat.api.events("c-alice")
    assert event["type"] == "notification"
    assert (event["id"], event["payload"]) == ("n-1", {"kind": "invoice"})
    assert chat.api.events("c-bob") == []


def test_notification_errors(chat: ChatHarness) -> None:
    notify = ["chat/notify"]
    no_target = {"targets": {}, "payload": {"x": 1}}
    assert_error(chat.http(NOTIFY, BILLING, body=no_target, scopes=notify), 400, "bad_request")
    assert_error(chat.http(NOTIFY, BILLING, body="{oops", scopes=notify), 400, "bad_request")
    huge = {"targets": {"all": True}, "payload": "x" * 140_000}
    assert_error(chat.http(NOTIFY, BILLING, body=huge, scopes=notify), 413, "too_large")
    # The authorizer refuses a token without the scope; the function refuses it too.
    good = {"targets": {"all": True}, "payload": {"x": 1}}
    assert_error(chat.http(NOTIFY, BOB, body=good), 403, "forbidden")


# ---- user disconnects ------------------------------------------------------------------------


def test_disconnect_user_closes_every_connection_of_that_user(chat: ChatHarness) -> None:
    chat.connect("c-alice-1", ALICE)
    chat.connect("c-alice-2", ALICE)
    chat.connect("c-alice-3", ALICE)
    chat.connect("c-bob", BOB)
    chat.api.gone.add("c-alice-3")  # already gone: its leftovers are removed here
    response = chat.http(DISCONNECT, BILLING, path={"user": "alice"}, scopes=["chat/admin"])
    assert response.status == 200
    assert response.body == {"user": "alice", "closed": 2, "gone": 1}
    assert sorted(chat.api.deleted) == ["c-alice-1", "c-alice-2"]
    items = boto3.client("dynamodb").scan(TableName=chat.resources["ConnectionsTable"])["Items"]
    assert "CONN#c-alice-3" not in {i["pk"]["S"] for i in items}
    assert "CONN#c-bob" in {i["pk"]["S"] for i in items}


def test_disconnect_user_needs_chat_admin(chat: ChatHarness) -> None:
    chat.connect("c-alice", ALICE)
    response = chat.http(DISCONNECT, BOB, path={"user": "alice"}, scopes=["chat/notify"])
    assert_error(response, 403, "forbidden")
    assert chat.api.deleted == []


# ---- everything else -------------------------------------------------------------------------


def test_an_unknown_route_is_404(chat: ChatHarness) -> None:
    assert_error(chat.http("DELETE /rooms/{room}", ALICE, path={"room": "x"}), 404, "not_found")


def test_an_unexpected_failure_is_500_internal_without_details(chat: ChatHarness) -> None:
    response = publish(chat, ALICE, "lobby", {"text": "x"}, env={"MESSAGES_TABLE": "no-such"})
    assert_error(response, 500, "internal")
    assert "no-such" not in response.body["message"]


# ---- the HS256 Lambda authorizer on 2.0 events -----------------------------------------------


def test_lambda_authorizer_allows_a_user_route_with_the_identity_context(
    chat: ChatHarness, jwt_secret: str
) -> None:
    token = mint_token(jwt_secret, sub="alice", name="Alice", rooms=["private:ops"])
    answer = chat.invoke("authorizer", http_authorizer_event(token, route_key=ME))
    assert answer == {
        "isAuthorized": True,
        "context": {"userId": "alice", "name": "Alice", "rooms": "private:ops"},
    }


def test_lambda_authorizer_enforces_route_scopes(chat: ChatHarness, jwt_secret: str) -> None:
    user = mint_token(jwt_secret, sub="alice")
    notifier = mint_token(jwt_secret, sub="billing-service", scopes=["chat/notify"])
    admin = mint_token(jwt_secret, sub="ops", scopes=["chat/admin"])
    assert chat.invoke("authorizer", http_authorizer_event(user)) == {"isAuthorized": False}
    allowed = chat.invoke("authorizer", http_authorizer_event(notifier))
    assert allowed["isAuthorized"] is True
    assert allowed["context"]["scope"] == "chat/notify"
    # A scope for one service route opens no other.
    assert chat.invoke("authorizer", http_authorizer_event(notifier, route_key=DISCONNECT)) == {
        "isAuthorized": False
    }
    assert chat.invoke("authorizer", http_authorizer_event(admin, route_key=DISCONNECT))[
        "isAuthorized"
    ]


@pytest.mark.parametrize("token", [None, "not-a-jwt", "wrong-key"])
def test_lambda_authorizer_refuses_missing_or_bad_tokens(
    chat: ChatHarness, token: str | None
) -> None:
    if token == "wrong-key":
        token = mint_token("another-key-of-at-least-32-bytes!!", sub="alice")
    assert chat.invoke("authorizer", http_authorizer_event(token, route_key=ME)) == {
        "isAuthorized": False
    }


def test_logs_carry_neither_tokens_nor_message_text(
    chat: ChatHarness, jwt_secret: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    publish(chat, ALICE, "lobby", {"text": "the secret plan"}, authorizer="jwt")
    publish(chat, BOB, "private:ops", {"text": "the secret plan"})
    token = mint_token(jwt_secret, sub="alice")
    chat.invoke("authorizer", http_authorizer_event(token, route_key=NOTIFY))
    messages = [r.getMessage() for r in caplog.records]
    assert {"published", "request rejected", "request refused"} <= set(messages)
    logged = "\n".join(repr(vars(record)) for record in caplog.records)
    assert "secret plan" not in logged
    assert token not in logged and token.split(".")[2] not in logged
