from __future__ import annotations

import pytest

from chatcore.auth import AuthError, Identity
from chatcore.requests import AuthorizerRequest, WebSocketRequest
from tests.support.events import authorizer_event, load_event


def test_message_event_gives_the_connection_route_identity_and_body() -> None:
    request = WebSocketRequest.from_event(load_event("message"))
    assert request.connection_id == "CVw5reDeIAMCE2A="
    assert (request.route_key, request.event_type) == ("send", "MESSAGE")
    assert request.request_id == "CVw6FF7BoAMFxdA="
    assert request.body is not None and '"action":"send"' in request.body
    assert request.identity() == Identity(user_id="alice", name="Alice")
    assert request.management_endpoint() == (
        "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/dev"
    )
    assert request.management_endpoint("http://local:1/dev") == "http://local:1/dev"


def test_connect_and_disconnect_events() -> None:
    connect = WebSocketRequest.from_event(load_event("connect"))
    assert (connect.route_key, connect.connected_at) == ("$connect", 1795716130553)
    disconnect = WebSocketRequest.from_event(load_event("disconnect"))
    assert (disconnect.event_type, disconnect.disconnect_status_code) == ("DISCONNECT", 1001)


def test_identity_comes_only_from_the_authorizer_context() -> None:
    event = load_event("message")
    event["body"] = '{"action":"send","room":"a","text":"t","from":"mallory"}'
    event["requestContext"].pop("authorizer")
    with pytest.raises(AuthError):
        WebSocketRequest.from_event(event).identity()


def test_an_event_without_a_connection_id_is_refused() -> None:
    with pytest.raises(ValueError):
        WebSocketRequest.from_event({"requestContext": {}})


def test_authorizer_request_reads_token_origin_and_method_arn() -> None:
    request = AuthorizerRequest.from_event(authorizer_event("tok", origin="https://x.example"))
    assert request.token == "tok"
    assert request.origin == "https://x.example"
    assert request.method_arn.endswith("/dev/$connect")
    bare = AuthorizerRequest.from_event(authorizer_event(None, origin=None))
    assert (bare.token, bare.origin) == ("", None)
    lower = authorizer_event("t")
    lower["headers"] = {"origin": "https://y.example"}
    assert AuthorizerRequest.from_event(lower).origin == "https://y.example"
