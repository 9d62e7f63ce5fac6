"""The gateway on real sockets: routing, events, error frames, binary frames, $disconnect."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import boto3
import pytest
from boto3.dynamodb.conditions import Key
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.harness import TIMEOUT, InProcessRuntime, make_api, running_gateway


def ok(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200}


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": json.dumps({"route": event["requestContext"]["routeKey"]})}


def boom(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise RuntimeError("handler bug")


async def recv_json(ws: Any) -> dict[str, Any]:
    async with asyncio.timeout(TIMEOUT):
        return json.loads(await ws.recv())


def chat_api(**kw: Any) -> Any:
    return make_api(
        {
            "$connect": "Connect",
            "$disconnect": "Disconnect",
            "send": "Send",
            "$default": "Default",
        },
        two_way=("send", "$default"),
        **kw,
    )


def chat_runtime() -> InProcessRuntime:
    return InProcessRuntime({"Connect": ok, "Disconnect": ok, "Send": echo, "Default": echo})


async def test_route_selected_by_action_and_default_catches_the_rest() -> None:
    rt = chat_runtime()
    async with running_gateway(chat_api(), rt) as gw, connect(gw.ws_url) as ws:
        await ws.send(json.dumps({"action": "send", "text": "hi"}))
        assert await recv_json(ws) == {"route": "send"}
        await ws.send(json.dumps({"action": "nope"}))
        assert await recv_json(ws) == {"route": "$default"}
        await ws.send("not json at all")
        assert await recv_json(ws) == {"route": "$default"}
        await ws.send(json.dumps({"action": {"nested": "object"}}))
        assert await recv_json(ws) == {"route": "$default"}
    assert [e["body"] for e in rt.events["Send"]] == ['{"action": "send", "text": "hi"}']


async def test_nested_route_selection_expression() -> None:
    rt = chat_runtime()
    api = chat_api(expression="$request.body.meta.action")
    async with running_gateway(api, rt) as gw, connect(gw.ws_url) as ws:
        await ws.send(json.dumps({"meta": {"action": "send"}}))
        assert await recv_json(ws) == {"route": "send"}
        await ws.send(json.dumps({"action": "send"}))
        assert await recv_json(ws) == {"route": "$default"}


async def test_message_event_is_shaped_like_api_gateway() -> None:
    rt = chat_runtime()
    async with running_gateway(chat_api(), rt, domain_name="127.0.0.1:4443") as gw:
        async with connect(gw.ws_url, user_agent_header="probe/1.0") as ws:
            await ws.send(json.dumps({"action": "send"}))
            await recv_json(ws)
        (connect_event,) = await rt.wait_for("Connect")
        (event,) = rt.events["Send"]
    ctx = event["requestContext"]
    assert ctx["routeKey"] == "send"
    assert ctx["eventType"] == "MESSAGE"
    assert ctx["messageDirection"] == "IN"
    assert ctx["stage"] == "dev"
    assert ctx["apiId"] == "abcde12345"
    assert ctx["domainName"] == "127.0.0.1:4443"
    assert ctx["identity"] == {"userAgent": "probe/1.0", "sourceIp": "127.0.0.1"}
    assert ctx["connectionId"] == connect_event["requestContext"]["connectionId"]
    assert ctx["connectedAt"] == connect_event["requestContext"]["connectedAt"]
    assert ctx["requestTimeEpoch"] >= ctx["connectedAt"]
    assert len(ctx["connectionId"]) == 16 and ctx["connectionId"].endswith("=")
    assert ctx["messageId"] != ctx["requestId"] == ctx["extendedRequestId"]
    assert event["isBase64Encoded"] is False


async def test_no_route_and_no_default_gets_forbidden_frame_and_invokes_nothing() -> None:
    rt = InProcessRuntime({"Send": echo})
    api = make_api({"send": "Send"}, two_way=("send",))
    async with running_gateway(api, rt) as gw, connect(gw.ws_url) as ws:
        await ws.send(json.dumps({"action": "other"}))
        frame = await recv_json(ws)
    assert frame["message"] == "Forbidden"
    assert set(frame) == {"message", "connectionId", "requestId"}
    assert rt.events["Send"] == []


async def test_failing_integration_gets_internal_server_error_frame() -> None:
    rt = InProcessRuntime({"Send": boom})
    api = make_api({"send": "Send"})
    async with running_gateway(api, rt) as gw, connect(gw.ws_url) as ws:
        await ws.send(json.dumps({"action": "send"}))
        frame = await recv_json(ws)
    assert frame["message"] == "Internal server error"
    assert frame["connectionId"] and frame["requestId"]


async def test_binary_frame_arrives_base64_encoded() -> None:
    rt = chat_runtime()
    async with running_gateway(chat_api(), rt) as gw, connect(gw.ws_url) as ws:
        await ws.send(b"\x00\xffbinary")
        assert await recv_json(ws) == {"route": "$default"}
    (event,) = rt.events["Default"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x00\xffbinary"


async def test_only_two_way_routes_send_the_handler_body_back() -> None:
    rt = InProcessRuntime({"OneWay": echo, "TwoWay": echo})
    api = make_api({"oneway": "OneWay", "twoway": "TwoWay"}, two_way=("twoway",))
    async with running_gateway(api, rt) as gw, connect(gw.ws_url) as ws:
        await ws.send(json.dumps({"action": "oneway"}))
        await ws.send(json.dumps({"action": "twoway"}))
        # The first frame back is the two-way answer: the one-way route sent nothing.
        assert await recv_json(ws) == {"route": "twoway"}
        await rt.wait_for("OneWay")


async def test_disconnect_fires_once_with_the_client_close_code() -> None:
    rt = chat_runtime()
    async with running_gateway(chat_api(), rt) as gw:
        async with connect(gw.ws_url) as ws:
            await ws.close(4000, "bye now")
        (event,) = await rt.wait_for("Disconnect")
        ctx = event["requestContext"]
        assert ctx["eventType"] == "DISCONNECT"
        assert (ctx["disconnectStatusCode"], ctx["disconnectReason"]) == (4000, "bye now")
        assert gw.connections == {}
    assert len(rt.events["Disconnect"]) == 1


async def test_disconnect_fires_once_when_the_network_drops() -> None:
    rt = chat_runtime()
    async with running_gateway(chat_api(), rt) as gw:
        ws = await connect(gw.ws_url)
        ws.transport.abort()  # no close frame: the TCP connection just goes away
        (event,) = await rt.wait_for("Disconnect")
        assert event["requestContext"]["disconnectStatusCode"] == 1006
    assert len(rt.events["Disconnect"]) == 1


async def test_shutdown_closes_with_1001_and_runs_disconnect_for_each() -> None:
    rt = chat_runtime()
    async with running_gateway(chat_api(), rt) as gw:
        clients = [await connect(gw.ws_url) for _ in range(3)]
        await rt.wait_for("Connect", 3)
    for ws in clients:
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(TIMEOUT):
                await ws.recv()
        assert ws.close_code == 1001
    codes = [e["requestContext"]["disconnectStatusCode"] for e in rt.events["Disconnect"]]
    assert codes == [1001, 1001, 1001]
    ids = {e["requestContext"]["connectionId"] for e in rt.events["Disconnect"]}
    assert len(ids) == 3


# --------------------------------------------------------------------------- on the whole stack


def test_integration_timeout_gets_internal_server_error_frame(echo_stack: Any) -> None:
    with echo_stack.connect() as ws:
        ws.send_json({"action": "slow"})
        frame = ws.receive_json(timeout=3 * TIMEOUT)
    assert frame["message"] == "Internal server error"


def test_two_way_default_route_answers_with_the_handler_body(echo_stack: Any) -> None:
    with echo_stack.connect() as ws:
        ws.send_text("plain text, no action")
        assert ws.receive_json(timeout=3 * TIMEOUT) == {"default": "plain text, no action"}


def test_disconnect_runs_once_in_the_real_runtime_on_client_close(
    echo_stack: Any, disconnects: Any
) -> None:
    watch = disconnects(echo_stack)
    with echo_stack.connect() as ws:
        ws.send_json({"action": "echo", "text": "id please"})
        cid = ws.receive_json(timeout=3 * TIMEOUT)["connectionId"]
        ws.close(4001, "done here")
    event = watch.wait(cid, timeout=3 * TIMEOUT)
    ctx = event["requestContext"]
    assert (ctx["disconnectStatusCode"], ctx["disconnectReason"]) == (4001, "done here")
    # What the handler itself received and stored, read back from the embedded DynamoDB.
    table = boto3.resource(
        "dynamodb",
        endpoint_url=echo_stack.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).Table(echo_stack.stack.stack.resources["EventsTable"].physical_id)
    items = table.query(KeyConditionExpression=Key("pk").eq(cid))["Items"]
    kinds = sorted(item["sk"].split("#")[0] for item in items)
    assert kinds == ["connect", "disconnect"]
