"""authorizer, $connect and $disconnect on moto."""

from __future__ import annotations

import logging
import time

import boto3
import pytest

from chatcore.auth import mint_token
from tests.support.chat import ChatHarness, User
from tests.support.events import authorizer_event, connect_event

ALICE = User("alice", "Alice")
BOB = User("bob", "Bob")
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/dev/$connect"


def connection_items(chat: ChatHarness) -> set[tuple[str, str]]:
    items = boto3.client("dynamodb").scan(TableName=chat.resources["ConnectionsTable"])["Items"]
    return {(i["pk"]["S"], i["sk"]["S"]) for i in items}


# ---- authorizer --------------------------------------------------------------------------


def test_valid_token_is_allowed_with_the_identity_in_the_context(
    chat: ChatHarness, jwt_secret: str
) -> None:
    now = int(time.time())
    token = mint_token(jwt_secret, sub="alice", name="Alice", rooms=["private:ops"], now=now)
    answer = chat.invoke("authorizer", authorizer_event(token))
    assert answer == {
        "principalId": "alice",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": METHOD_ARN}
            ],
        },
        # exp: the chat function closes the socket when the token ends.
        "context": {
            "userId": "alice",
            "name": "Alice",
            "rooms": "private:ops",
            "exp": str(now + 3600),
        },
    }


@pytest.mark.parametrize("token", [None, "", "garbage", "a.b.c"])
def test_missing_or_invalid_token_is_unauthorized(chat: ChatHarness, token: str | None) -> None:
    with pytest.raises(Exception, match="^Unauthorized$"):
        chat.invoke("authorizer", authorizer_event(token))


def test_expired_token_and_wrong_key_are_unauthorized(chat: ChatHarness, jwt_secret: str) -> None:
    expired = mint_token(jwt_secret, sub="alice", ttl_seconds=1, now=0)
    forged = mint_token("f" * 40, sub="alice")
    for token in (expired, forged):
        with pytest.raises(Exception, match="^Unauthorized$"):
            chat.invoke("authorizer", authorizer_event(token))


def test_origin_outside_the_allowlist_is_denied(chat: ChatHarness, jwt_secret: str) -> None:
    token = mint_token(jwt_secret, sub="alice")
    origins = {"ALLOWED_ORIGINS": "https://chat.example.com"}
    allowed = chat.invoke("authorizer", authorizer_event(token), **origins)
    assert allowed["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    denied = chat.invoke(
        "authorizer", authorizer_event(token, origin="https://evil.example"), **origins
    )
    assert denied["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert "context" not in denied
    no_origin = chat.invoke("authorizer", authorizer_event(token, origin=None), **origins)
    assert no_origin["policyDocument"]["Statement"][0]["Effect"] == "Allow"


def test_secret_is_read_from_the_ssm_parameter_when_not_given_directly(
    chat: ChatHarness,
) -> None:
    secret = "parameter-store-key-of-at-least-32-bytes!"
    boto3.client("ssm").put_parameter(
        Name="/chat/test/jwt", Value=secret, Type="SecureString", Overwrite=True
    )
    env = {"JWT_SECRET": "", "JWT_SECRET_PARAMETER": "/chat/test/jwt"}
    token = mint_token(secret, sub="bob")
    assert chat.invoke("authorizer", authorizer_event(token), **env)["principalId"] == "bob"


def test_secret_is_read_from_secrets_manager_when_the_parameter_is_an_arn(
    chat: ChatHarness,
) -> None:
    secret = "secrets-manager-key-of-at-least-32-bytes"
    arn = boto3.client("secretsmanager").create_secret(Name="chat/jwt", SecretString=secret)["ARN"]
    env = {"JWT_SECRET": "", "JWT_SECRET_PARAMETER": arn}
    token = mint_token(secret, sub="carol")
    assert chat.invoke("authorizer", authorizer_event(token), **env)["principalId"] == "carol"
    with pytest.raises(Exception, match="^Unauthorized$"):
        chat.invoke("authorizer", authorizer_event(mint_token("w" * 40, sub="carol")), **env)


def test_the_token_never_reaches_the_logs(
    chat: ChatHarness, jwt_secret: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good = mint_token(jwt_secret, sub="alice")
    chat.invoke("authorizer", authorizer_event(good))
    with pytest.raises(Exception, match="Unauthorized"):
        chat.invoke("authorizer", authorizer_event(good + "x"))
    logged = "\n".join(repr(vars(record)) for record in caplog.records)
    assert "connection refused" in logged
    assert good not in logged
    assert good.split(".")[2] not in logged


# ---- $connect / $disconnect ---------------------------------------------------------------


def test_connect_stores_the_identity_from_the_authorizer_context(chat: ChatHarness) -> None:
    assert chat.connect("c-alice", ALICE) == {"statusCode": 200}
    item = boto3.client("dynamodb").get_item(
        TableName=chat.resources["ConnectionsTable"],
        Key={"pk": {"S": "CONN#c-alice"}, "sk": {"S": "META"}},
    )["Item"]
    assert item["ownerId"] == {"S": "alice"}
    assert item["name"] == {"S": "Alice"}
    assert item["connectedAt"] == {"N": "1795716130553"}
    assert int(item["expiresAt"]["N"]) > 0


def test_connect_without_an_authorizer_identity_stores_nothing(chat: ChatHarness) -> None:
    event = connect_event("c-x", user="alice")
    del event["requestContext"]["authorizer"]
    assert chat.invoke("connect", event) == {"statusCode": 401}
    assert connection_items(chat) == set()


def test_disconnect_removes_the_connection_and_memberships_and_tells_the_rooms(
    chat: ChatHarness,
) -> None:
    chat.connect("c-alice", ALICE)
    chat.connect("c-bob", BOB)
    for room in ("lobby", "random"):
        chat.reply("c-alice", {"action": "join", "room": room})
    chat.reply("c-bob", {"action": "join", "room": "lobby"})
    assert chat.disconnect("c-alice") == {"statusCode": 200}
    # The users' read markers (USER#u / ROOM#r) outlive their sockets.
    assert connection_items(chat) == {
        ("CONN#c-bob", "META"),
        ("ROOM#lobby", "CONN#c-bob"),
        ("USER#alice", "ROOM#lobby"),
        ("USER#alice", "ROOM#random"),
        ("USER#bob", "ROOM#lobby"),
    }
    assert chat.api.last("c-bob") == {
        "type": "presence",
        "room": "lobby",
        "event": "leave",
        "user": {"id": "alice", "name": "Alice"},
    }
    # Idempotent: $disconnect may come after a 410 already cleaned up.
    assert chat.disconnect("c-alice") == {"statusCode": 200}


def test_user_connections_are_found_by_user(chat: ChatHarness) -> None:
    chat.connect("c-1", ALICE)
    chat.connect("c-2", ALICE)
    chat.connect("c-3", BOB)
    answer = boto3.client("dynamodb").query(
        TableName=chat.resources["ConnectionsTable"],
        IndexName="ByUser",
        KeyConditionExpression="ownerId = :u",
        ExpressionAttributeValues={":u": {"S": "alice"}},
    )
    assert sorted(i["pk"]["S"] for i in answer["Items"]) == ["CONN#c-1", "CONN#c-2"]
