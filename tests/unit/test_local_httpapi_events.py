"""Payload format 2.0 events of the local HTTP API, against captured ones (``tests/events/``)."""

from __future__ import annotations

import base64
from typing import Any

from local.httpapi.events import (
    ApiInfo,
    HttpRequest,
    authorizer_event,
    claims_as_strings,
    is_text,
    request_event,
)
from tests.support.events import load_event

API = ApiInfo(api_id="r3pmxmplak", stage="$default", region="us-east-1", account_id="123456789012")
AT_MS = 1583817383220


def captured_like_request(**changes: Any) -> HttpRequest:
    """The request behind ``httpapi_request.json``, as the client sent it."""
    values: dict[str, Any] = {
        "method": "POST",
        "path": "/items/42",
        "query": "tag=a&tag=b&q=hello%20world",
        "headers": (
            ("Host", "r3pmxmplak.execute-api.us-east-1.amazonaws.com"),
            ("User-Agent", "curl/8.5.0"),
            ("Accept", "*/*"),
            ("Authorization", "Bearer eyJraWQiOiJleGFtcGxlIiwiYWxnIjoiUlMyNTYifQ.e30.c2ln"),
            ("Cookie", "session=abc123; theme=dark"),
            ("Content-Type", "application/json"),
            ("Content-Length", "17"),
            ("X-Custom", "one"),
            ("X-Custom", "two"),
        ),
        "body": b'{"name":"hello"}',
        "source_ip": "205.255.255.176",
        "domain_name": "r3pmxmplak.execute-api.us-east-1.amazonaws.com",
    }
    values.update(changes)
    return HttpRequest(**values)


def shape(value: Any) -> Any:
    """Keys and value types, recursively: what a handler's parsing depends on."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    return type(value).__name__


def test_the_event_has_the_captured_shape_and_values() -> None:
    captured = load_event("httpapi_request")
    authorizer = captured["requestContext"]["authorizer"]
    event = request_event(
        API,
        captured_like_request(),
        route_key="POST /items/{id}",
        path_parameters={"id": "42"},
        request_id="JKJaXmPLvHcESHA=",
        at_ms=AT_MS,
        authorizer=authorizer,
    )
    assert shape(event) == shape(captured)
    for key in ("version", "routeKey", "rawPath", "rawQueryString", "cookies", "body"):
        assert event[key] == captured[key], key
    assert event["queryStringParameters"] == captured["queryStringParameters"]
    assert event["pathParameters"] == captured["pathParameters"]
    assert event["isBase64Encoded"] is False
    skip = {"x-amzn-trace-id"}  # a fresh trace id per request
    assert {k: v for k, v in event["headers"].items() if k not in skip} == {
        k: v for k, v in captured["headers"].items() if k not in skip
    }
    assert event["requestContext"] == {
        **captured["requestContext"],
        "time": event["requestContext"]["time"],
    }
    assert event["requestContext"]["time"] == "10/Mar/2020:05:16:23 +0000"


def test_optional_keys_are_left_out_when_empty() -> None:
    request = HttpRequest(method="GET", path="/", query="", headers=(("Host", "h"),))
    event = request_event(
        API, request, route_key="$default", path_parameters={}, request_id="r", at_ms=AT_MS
    )
    for key in ("cookies", "queryStringParameters", "pathParameters", "stageVariables", "body"):
        assert key not in event
    assert "authorizer" not in event["requestContext"]
    assert event["rawQueryString"] == ""
    assert event["isBase64Encoded"] is False
    assert event["requestContext"]["http"]["userAgent"] == ""


def test_binary_and_form_bodies_are_base64_and_text_is_not() -> None:
    png = bytes(range(256))
    for content_type, body, encoded in [
        ("image/png", png, True),
        ("application/octet-stream", b"abc", True),
        ("application/x-www-form-urlencoded", b"a=1&b=2", True),
        (None, b"raw", True),
        ("text/plain; charset=utf-8", "héllo".encode(), False),
        ("application/vnd.api+json", b"{}", False),
        ("text/plain", b"\xff\xfe not utf-8", True),
    ]:
        headers = (("Content-Type", content_type),) if content_type else ()
        request = HttpRequest(method="POST", path="/up", query="", headers=headers, body=body)
        event = request_event(
            API, request, route_key="POST /up", path_parameters={}, request_id="r", at_ms=AT_MS
        )
        assert event["isBase64Encoded"] is encoded, content_type
        sent = base64.b64decode(event["body"]) if encoded else event["body"].encode()
        assert sent == body
    assert is_text("application/json; charset=utf-8") and not is_text("")


def test_raw_query_is_untouched_and_parameters_are_decoded_and_joined() -> None:
    request = HttpRequest(method="GET", path="/s", query="a=1&a=2&b=%2Fx+y&c=&d", headers=())
    event = request_event(
        API, request, route_key="GET /s", path_parameters={}, request_id="r", at_ms=AT_MS
    )
    assert event["rawQueryString"] == "a=1&a=2&b=%2Fx+y&c=&d"
    assert event["queryStringParameters"] == {"a": "1,2", "b": "/x y", "c": "", "d": ""}


def test_a_named_stage_keeps_its_prefix_in_raw_path_and_brings_stage_variables() -> None:
    api = ApiInfo("abc", "v1", "us-east-1", "123456789012", {"flavour": "vanilla"})
    request = HttpRequest(method="GET", path="/v1/open", query="", headers=())
    event = request_event(
        api, request, route_key="GET /open", path_parameters={}, request_id="r", at_ms=AT_MS
    )
    assert event["rawPath"] == "/v1/open"
    assert event["requestContext"]["http"]["path"] == "/v1/open"
    assert event["requestContext"]["stage"] == "v1"
    assert event["stageVariables"] == {"flavour": "vanilla"}


def test_the_authorizer_event_has_the_captured_shape() -> None:
    captured = load_event("httpapi_authorizer")
    request = HttpRequest(
        method="GET",
        path="/keys",
        query="",
        headers=(
            ("Host", "r3pmxmplak.execute-api.us-east-1.amazonaws.com"),
            ("User-Agent", "curl/8.5.0"),
            ("Accept", "*/*"),
            ("X-Api-Key", "good-key"),
        ),
        source_ip="205.255.255.176",
        domain_name="r3pmxmplak.execute-api.us-east-1.amazonaws.com",
    )
    event = authorizer_event(
        API,
        request,
        route_key="GET /keys",
        route_path="/keys",
        path_parameters={},
        identity_source=["good-key"],
        request_id="Ys2ZEgXMoAMEJhA=",
        at_ms=1629275783220,
    )
    assert shape(event) == shape(captured)
    assert event["routeArn"] == captured["routeArn"]
    assert event["identitySource"] == captured["identitySource"]
    assert "body" not in event


def test_claims_are_strings_the_way_api_gateway_prints_them() -> None:
    claims = {
        "sub": "ada",
        "exp": 1583352238,
        "ratio": 1.5,
        "whole": 2.0,
        "email_verified": True,
        "cognito:groups": ["admins", "readers"],
        "address": {"zip": "1000", "city": "Brussels"},
    }
    assert claims_as_strings(claims) == {
        "sub": "ada",
        "exp": "1583352238",
        "ratio": "1.5",
        "whole": "2",
        "email_verified": "true",
        "cognito:groups": "[admins readers]",
        "address": "map[city:Brussels zip:1000]",
    }
