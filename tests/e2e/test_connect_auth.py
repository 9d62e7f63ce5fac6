"""``$connect``: the REQUEST authorizer, its policy, then the connect handler.

A refused upgrade keeps nothing and never gets a ``$disconnect``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.e2e.harness import TIMEOUT, InProcessRuntime, make_api, running_gateway


def policy(effect: str, resource: str, context: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "principalId": "user-1",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": context or {"userId": "user-1", "name": "Ada"},
    }


def token_authorizer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    token = event["queryStringParameters"]["token"]
    if token == "bad":
        raise Exception("Unauthorized")
    if token == "crash":
        raise KeyError("boom")
    effect = "Deny" if token == "deny" else "Allow"
    return policy(effect, event["methodArn"])


def connect_ok(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200}


def connect_refuses(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 409, "body": "no"}


def noop(event: dict[str, Any], context: Any) -> None:
    return None


def echo_authorizer(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": json.dumps(event["requestContext"]["authorizer"])}


def auth_api() -> Any:
    return make_api(
        {"$connect": "Connect", "$disconnect": "Disconnect", "whoami": "WhoAmI"},
        authorizer="Authorizer",
        two_way=("whoami",),
    )


def runtime(connect_fn: Any = connect_ok) -> InProcessRuntime:
    return InProcessRuntime(
        {
            "Authorizer": token_authorizer,
            "Connect": connect_fn,
            "Disconnect": noop,
            "WhoAmI": echo_authorizer,
        }
    )


async def refused_status(url: str) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with asyncio.timeout(TIMEOUT):
            await connect(url)
    return info.value.response.status_code


async def test_missing_identity_source_is_401_without_invoking_the_authorizer() -> None:
    rt = runtime()
    async with running_gateway(auth_api(), rt) as gw:
        assert await refused_status(gw.ws_url) == 401
        assert await refused_status(gw.ws_url + "?token=") == 401
    assert rt.events["Authorizer"] == [] and rt.events["Connect"] == []


async def test_authorizer_raising_unauthorized_is_401() -> None:
    rt = runtime()
    async with running_gateway(auth_api(), rt) as gw:
        assert await refused_status(gw.ws_url + "?token=bad") == 401
    assert len(rt.events["Authorizer"]) == 1 and rt.events["Connect"] == []


async def test_deny_policy_is_403_and_connect_handler_never_runs() -> None:
    rt = runtime()
    async with running_gateway(auth_api(), rt) as gw:
        assert await refused_status(gw.ws_url + "?token=deny") == 403
    assert rt.events["Connect"] == []


async def test_authorizer_failing_otherwise_is_500() -> None:
    rt = runtime()
    async with running_gateway(auth_api(), rt) as gw:
        assert await refused_status(gw.ws_url + "?token=crash") == 500


async def test_authorizer_event_and_context_reach_every_later_event() -> None:
    rt = runtime()
    async with running_gateway(auth_api(), rt) as gw:
        async with connect(gw.ws_url + "?token=good&x=1&x=2") as ws:
            await ws.send(json.dumps({"action": "whoami"}))
            async with asyncio.timeout(TIMEOUT):
                seen = json.loads(await ws.recv())
        await rt.wait_for("Disconnect")
    (auth_event,) = rt.events["Authorizer"]
    assert auth_event["type"] == "REQUEST"
    assert auth_event["methodArn"] == (
        "arn:aws:execute-api:us-east-1:123456789012:abcde12345/dev/$connect"
    )
    assert auth_event["queryStringParameters"] == {"token": "good", "x": "2"}
    assert auth_event["multiValueQueryStringParameters"]["x"] == ["1", "2"]
    assert "authorizer" not in auth_event["requestContext"]
    assert auth_event["requestContext"]["routeKey"] == "$connect"

    (connect_event,) = rt.events["Connect"]
    authz = connect_event["requestContext"]["authorizer"]
    assert authz["principalId"] == "user-1"
    assert authz["userId"] == "user-1" and authz["name"] == "Ada"
    assert isinstance(authz["integrationLatency"], int)
    assert seen == authz
    disconnect_ctx = rt.events["Disconnect"][0]["requestContext"]
    assert disconnect_ctx["authorizer"]["userId"] == "user-1"


async def test_connect_handler_non_2xx_refuses_with_its_status_and_keeps_nothing() -> None:
    rt = runtime(connect_refuses)
    async with running_gateway(auth_api(), rt) as gw:
        assert await refused_status(gw.ws_url + "?token=good") == 409
        (event,) = rt.events["Connect"]
        refused_id = event["requestContext"]["connectionId"]
        assert gw.connections == {}
        assert not await gw.post(refused_id, b"hello?")
    # Shutdown ran every $disconnect there was to run: none for a refused upgrade.
    assert rt.events["Disconnect"] == []


async def test_connect_handler_without_status_code_is_502() -> None:
    rt = runtime(noop)
    async with running_gateway(auth_api(), rt) as gw:
        assert await refused_status(gw.ws_url + "?token=good") == 502


# --------------------------------------------------------------------------- on the whole stack


def test_connection_is_gone_to_connections_during_its_own_connect(echo_stack: Any) -> None:
    # The handler refuses with 500 unless its own post_to_connection answered 410.
    with echo_stack.connect(query={"probe": "1"}) as ws:
        ws.send_text("hello")
        assert ws.receive_json(timeout=3 * TIMEOUT) == {"default": "hello"}


def test_connect_handler_status_refuses_the_upgrade_in_the_real_runtime(echo_stack: Any) -> None:
    with pytest.raises(InvalidStatus) as info:
        echo_stack.connect(query={"refuse": "418"})
    assert info.value.response.status_code == 418
