"""The gateway's events have the captured API Gateway events' shape, field for field."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)

from local.gateway import events
from local.gateway.events import Api, Peer
from tests.support.events import load_event

API = Api("a1b2c3d4e5", "dev", "127.0.0.1:3443", "us-east-1", "123456789012")
AT = 1795716130554  # 26/Nov/2026:18:02:10 UTC


def peer(**kw: Any) -> Peer:
    return Peer(
        connection_id="CVw5reDeIAMCE2A=",
        connected_at=AT - 1,
        source_ip="203.0.113.10",
        user_agent="Mozilla/5.0",
        headers=[("Host", "127.0.0.1:3001"), ("Origin", "https://chat.example.com")],
        query=[("token", "TOKEN")],
        authorizer={"principalId": "alice", "integrationLatency": 143, "userId": "alice"},
        **kw,
    )


def shape(value: Any, *, skip: frozenset[str] = frozenset()) -> Any:
    """Keys and value types, recursively: what a handler reading the event depends on."""
    if isinstance(value, dict):
        return {k: shape(v, skip=skip) for k, v in value.items() if k not in skip}
    if isinstance(value, list):
        return [shape(v, skip=skip) for v in value[:1]]
    return type(value).__name__


# Header maps and authorizer contexts carry what the client / authorizer chose.
VARIABLE = frozenset({"headers", "multiValueHeaders", "authorizer"})


def test_request_time_is_api_gateways_format() -> None:
    assert events.request_time(AT) == "26/Nov/2026:18:02:10 +0000"


def test_ids_look_like_api_gateways() -> None:
    ids = {events.new_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"[A-Za-z0-9]{15}=", i) for i in ids)


def test_connect_event_matches_the_captured_shape() -> None:
    built = events.connect_event(API, peer(), request_id="CVw5rFfDoAMFb0g=", at_ms=AT)
    assert shape(built, skip=VARIABLE) == shape(load_event("connect"), skip=VARIABLE)
    assert built["requestContext"]["requestTime"] == "26/Nov/2026:18:02:10 +0000"
    assert built["headers"]["X-Forwarded-For"] == "203.0.113.10"
    assert built["multiValueHeaders"]["Origin"] == ["https://chat.example.com"]
    assert built["requestContext"]["authorizer"]["principalId"] == "alice"
    APIGatewayWebSocketConnectEventModel.model_validate(built)


def test_connect_without_query_string_has_no_query_keys() -> None:
    p = peer()
    p.query = []
    built = events.connect_event(API, p, request_id="r", at_ms=AT)
    assert "queryStringParameters" not in built
    assert "multiValueQueryStringParameters" not in built


def test_message_event_matches_the_captured_shape() -> None:
    built = events.message_event(
        API,
        peer(),
        route_key="send",
        body='{"action":"send"}',
        request_id="r",
        message_id="m",
        at_ms=AT,
    )
    assert shape(built, skip=VARIABLE) == shape(load_event("message"), skip=VARIABLE)
    assert built["requestContext"]["messageId"] == "m"
    APIGatewayWebSocketMessageEventModel.model_validate(built)


def test_binary_message_is_base64_and_flagged() -> None:
    built = events.message_event(
        API,
        peer(),
        route_key="$default",
        body=b"\x00\x01",
        request_id="r",
        message_id="m",
        at_ms=AT,
    )
    assert built["isBase64Encoded"] is True
    assert base64.b64decode(built["body"]) == b"\x00\x01"


def test_disconnect_event_matches_the_captured_shape() -> None:
    built = events.disconnect_event(
        API, peer(), status_code=1001, reason="Going away", request_id="r", at_ms=AT
    )
    captured = load_event("disconnect")
    assert shape(built, skip=frozenset({"authorizer"})) == shape(
        captured, skip=frozenset({"authorizer"})
    )
    assert set(built["headers"]) == set(captured["headers"])
    assert built["requestContext"]["disconnectStatusCode"] == 1001
    APIGatewayWebSocketDisconnectEventModel.model_validate(built)


def test_authorizer_event_matches_the_captured_shape() -> None:
    built = events.authorizer_event(API, peer(), request_id="r", at_ms=AT)
    assert shape(built, skip=VARIABLE) == shape(load_event("authorizer"), skip=VARIABLE)
    assert (
        built["methodArn"] == "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/dev/$connect"
    )
    assert "authorizer" not in built["requestContext"]


@pytest.mark.parametrize("message", ["Forbidden", "Internal server error"])
def test_error_frame(message: str) -> None:
    import json

    assert json.loads(events.error_frame(message, "c", "r")) == {
        "message": message,
        "connectionId": "c",
        "requestId": "r",
    }
