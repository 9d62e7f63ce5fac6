"""Response inference, API Gateway's own error answers and CORS of the local HTTP API (pure)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import pytest

from local.httpapi.cors import apply_cors, is_preflight, preflight_reply
from local.httpapi.responses import HttpReply, error_reply, integration_reply
from local.model import CorsSpec


@dataclass
class Result:
    ok: bool
    payload: Any
    error: dict[str, Any] | None = None


def reply_of(payload: Any) -> HttpReply:
    return integration_reply(Result(True, payload))


def test_a_full_answer_is_used_as_given_and_cookies_become_set_cookie() -> None:
    reply = reply_of(
        {
            "statusCode": 201,
            "headers": {"Content-Type": "text/plain", "X-Count": 2, "X-Flag": True},
            "cookies": ["a=1; Secure", "b=2"],
            "body": "made",
            "multiValueHeaders": {"x-ignored": ["1", "2"]},  # payload 1.0 only
        }
    )
    assert reply.status == 201
    assert reply.body == b"made"
    assert reply.headers == [
        ("content-type", "text/plain"),
        ("x-count", "2"),
        ("x-flag", "true"),
        ("set-cookie", "a=1; Secure"),
        ("set-cookie", "b=2"),
    ]


def test_base64_bodies_are_decoded_and_a_missing_body_is_empty() -> None:
    data = bytes(range(10))
    reply = reply_of(
        {
            "statusCode": 200,
            "body": base64.b64encode(data).decode(),
            "isBase64Encoded": True,
            "headers": {"content-type": "image/png"},
        }
    )
    assert reply.body == data
    empty = reply_of({"statusCode": 204})
    assert (empty.status, empty.body) == (204, b"")
    assert empty.header("content-type") == "text/plain; charset=utf-8"


@pytest.mark.parametrize(
    ("payload", "body"),
    [
        ({"hello": "world"}, {"hello": "world"}),
        ([1, 2], [1, 2]),
        (None, None),
        (7, 7),
    ],
)
def test_an_answer_without_status_code_is_a_200_json_body(payload: Any, body: Any) -> None:
    reply = reply_of(payload)
    assert reply.status == 200
    assert reply.header("content-type") == "application/json"
    assert json.loads(reply.body) == body


def test_a_string_answer_is_the_body_itself() -> None:
    reply = reply_of("just text")
    assert (reply.status, reply.body) == (200, b"just text")


@pytest.mark.parametrize(
    "payload",
    [
        {"statusCode": "teapot"},
        {"statusCode": 99},
        {"statusCode": True},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "headers": ["x"]},
        {"statusCode": 200, "headers": {"x": ["a", "b"]}},
        {"statusCode": 200, "cookies": "a=1"},
        {"statusCode": 200, "body": "%%%", "isBase64Encoded": True},
    ],
)
def test_an_answer_api_gateway_cannot_use_is_a_500(payload: Any) -> None:
    reply = reply_of(payload)
    assert reply.status == 500
    assert json.loads(reply.body) == {"message": "Internal Server Error"}
    assert reply.problem and "malformed" in reply.problem


def test_a_lambda_error_is_a_500_with_api_gateways_body() -> None:
    reply = integration_reply(Result(False, None, {"errorType": "Boom", "errorMessage": "x"}))
    assert (reply.status, json.loads(reply.body)) == (500, {"message": "Internal Server Error"})


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (401, "Unauthorized"),
        (403, "Forbidden"),
        (404, "Not Found"),
        (413, "Request Entity Too Large"),
        (429, "Too Many Requests"),
        (503, "Service Unavailable"),
    ],
)
def test_gateway_errors_carry_aws_bodies(status: int, message: str) -> None:
    reply = error_reply(status)
    assert reply.body == json.dumps({"message": message}, separators=(",", ":")).encode()
    assert reply.header("content-type") == "application/json"


CORS = CorsSpec(
    allow_origins=("https://app.example.com",),
    allow_methods=("GET", "POST"),
    allow_headers=("authorization", "content-type"),
    expose_headers=("x-request-id",),
    max_age=600,
    allow_credentials=True,
)


def test_a_preflight_is_answered_with_the_configuration() -> None:
    assert is_preflight("OPTIONS", "https://app.example.com", "POST")
    assert not is_preflight("OPTIONS", None, "POST")
    assert not is_preflight("OPTIONS", "https://app.example.com", None)
    reply = preflight_reply(CORS, "https://app.example.com")
    assert reply.status == 204
    assert dict(reply.headers) == {
        "access-control-allow-origin": "https://app.example.com",
        "access-control-allow-methods": "GET,POST",
        "access-control-allow-headers": "authorization,content-type",
        "access-control-max-age": "600",
        "access-control-allow-credentials": "true",
    }
    assert preflight_reply(CORS, "https://evil.example").headers == []


def test_backend_cors_headers_are_replaced_by_the_configured_ones() -> None:
    backend = HttpReply(
        200, [("content-type", "application/json"), ("access-control-allow-origin", "*")], b"{}"
    )
    reply = apply_cors(CORS, "https://app.example.com", backend)
    assert reply.headers == [
        ("content-type", "application/json"),
        ("access-control-allow-origin", "https://app.example.com"),
        ("access-control-expose-headers", "x-request-id"),
        ("access-control-allow-credentials", "true"),
    ]
    stranger = apply_cors(CORS, "https://evil.example", backend)
    assert stranger.headers == [("content-type", "application/json")]
    anyone = apply_cors(CorsSpec(allow_origins=("*",)), "https://x.example", backend)
    assert ("access-control-allow-origin", "*") in anyone.headers
