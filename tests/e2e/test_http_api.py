"""The local stack's HTTP APIs over real HTTP, with a template that has no WebSocket API.

The fixture app (``tests/fixtures/apps/httpapi/``) runs in the real Lambda runtime; its
``inspect`` handler answers with the event it got, so these tests see what a handler sees.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from local.httpapi.jwks import JwksCache, fetch_json
from local.testing import HttpAnswer, StackThread, http_request
from tests.e2e.conftest import ROOT, running_stack
from tests.e2e.harness import TIMEOUT
from tests.support.events import load_event

APP = ROOT / "tests" / "fixtures" / "apps" / "httpapi"
ORIGIN = "https://app.example.com"
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example"


@pytest.fixture(scope="module")
def http_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackThread]:
    log_path = tmp_path_factory.mktemp("http-stack") / "stack.log"
    with running_stack(APP / "template.yaml", log_path, config=APP / "local.yaml") as running:
        yield running


def get(running: StackThread, path: str, **kwargs: Any) -> HttpAnswer:
    return running.request("GET", path, timeout=TIMEOUT, **kwargs)


def seen(answer: HttpAnswer) -> dict[str, Any]:
    """The event the inspect handler got."""
    assert answer.status == 200, answer
    event: dict[str, Any] = answer.json()
    return event


def url_of(running: StackThread, logical_id: str) -> str:
    return next(s.url for s in running.stack.http_apis if s.spec.logical_id == logical_id)


def shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    return type(value).__name__


def test_a_template_with_only_http_apis_serves_each_on_its_own_port(
    http_stack: StackThread,
) -> None:
    assert http_stack.stack.api is None and http_stack.stack.gateway is None
    with pytest.raises(RuntimeError, match="no WebSocket API"):
        _ = http_stack.stack.ws_url
    urls = [server.url for server in http_stack.stack.http_apis]
    assert len(urls) == 3 and urls[0] == http_stack.http_url
    assert len({u.rsplit(":", 1)[1].split("/")[0] for u in urls}) == 3
    assert urls[2].endswith("/v1")  # the ApiGatewayV2 API's named stage


@pytest.mark.parametrize(
    ("method", "path", "route_key", "params"),
    [
        ("GET", "/items/special", "GET /items/special", None),
        ("GET", "/items/42", "GET /items/{id}", {"id": "42"}),
        ("DELETE", "/items/42", "ANY /items/{id}", {"id": "42"}),
        ("PUT", "/files/a/b%20c/d", "ANY /files/{proxy+}", {"proxy": "a/b c/d"}),
        ("GET", "/nowhere/at/all", "$default", None),
    ],
)
def test_route_priority_over_real_http(
    http_stack: StackThread, method: str, path: str, route_key: str, params: Any
) -> None:
    event = seen(http_stack.request(method, path, timeout=TIMEOUT))
    assert event["routeKey"] == event["requestContext"]["routeKey"] == route_key
    assert event.get("pathParameters") == params
    assert event["rawPath"] == path


def test_nothing_matches_without_a_default_route(http_stack: StackThread) -> None:
    answer = http_request(url_of(http_stack, "ServerlessHttpApi") + "/nothing", timeout=TIMEOUT)
    assert (answer.status, answer.json()) == (404, {"message": "Not Found"})
    assert answer.header("apigw-requestid")


def test_the_handler_sees_an_event_shaped_like_a_captured_one(http_stack: StackThread) -> None:
    captured = load_event("httpapi_request")
    del captured["requestContext"]["authorizer"]  # this route has none
    answer = http_stack.request(
        "POST",
        "/items/42?tag=a&tag=b&q=hello%20world",
        headers=[
            ("User-Agent", "curl/8.5.0"),
            ("Accept", "*/*"),
            ("Authorization", "Bearer not-checked-on-this-route"),
            ("Cookie", "session=abc123; theme=dark"),
            ("Content-Type", "application/json"),
            ("X-Custom", "one"),
            ("X-Custom", "two"),
        ],
        body='{"name":"hello"}',
        timeout=TIMEOUT,
    )
    event = seen(answer)
    assert shape(event) == {**shape(captured), "routeKey": "str"}
    assert event["routeKey"] == "ANY /items/{id}"
    assert event["rawQueryString"] == "tag=a&tag=b&q=hello%20world"
    assert event["queryStringParameters"] == {"tag": "a,b", "q": "hello world"}
    assert event["cookies"] == ["session=abc123", "theme=dark"]
    assert event["headers"]["x-custom"] == "one,two"
    assert "cookie" not in event["headers"]
    assert event["headers"]["content-length"] == "16"
    assert event["body"] == '{"name":"hello"}' and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["http"] == {
        "method": "POST",
        "path": "/items/42",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "curl/8.5.0",
    }
    assert context["stage"] == "$default"
    assert context["apiId"] == http_stack.stack.http_apis[0].spec.api_id
    assert context["requestId"] == answer.header("apigw-requestid")
    assert abs(context["timeEpoch"] - time.time() * 1000) < 60_000
    assert context["domainName"] == http_stack.http_url.removeprefix("http://")


def test_binary_bodies_travel_base64_both_ways(http_stack: StackThread) -> None:
    data = bytes(range(256)) * 4
    event = seen(
        http_stack.request(
            "POST",
            "/items/7",
            headers={"Content-Type": "application/octet-stream"},
            body=data,
            timeout=TIMEOUT,
        )
    )
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == data
    png = get(http_stack, "/respond/binary")
    assert png.header("content-type") == "image/png"
    assert png.body.startswith(b"\x89PNG\r\n\x1a\n")


def test_response_rules(http_stack: StackThread) -> None:
    made = get(http_stack, "/respond/cookies")
    assert (made.status, made.text) == (201, "made")
    assert made.header_list("set-cookie") == ["session=abc; HttpOnly", "theme=dark"]
    assert made.header("x-count") == "2"
    inferred = get(http_stack, "/respond/inferred")
    assert inferred.status == 200 and inferred.header("content-type") == "application/json"
    assert inferred.json() == {"hello": "world", "n": 1}
    assert get(http_stack, "/respond/string").text == "just text"


@pytest.mark.parametrize("case", ["fail", "malformed"])
def test_a_failed_or_malformed_integration_is_500(http_stack: StackThread, case: str) -> None:
    answer = get(http_stack, f"/respond/{case}")
    assert (answer.status, answer.json()) == (500, {"message": "Internal Server Error"})


def test_the_integration_timeout_is_503(http_stack: StackThread) -> None:
    started = time.monotonic()
    answer = get(http_stack, "/slow")  # TimeoutInMillis 1000, the function takes 3 s
    assert (answer.status, answer.json()) == (503, {"message": "Service Unavailable"})
    assert time.monotonic() - started < 2.5


def test_a_payload_over_10_mb_is_413_and_10_mb_is_not(http_stack: StackThread) -> None:
    big = b"x" * (10 * 1024 * 1024 + 1)
    answer = http_stack.request(
        "POST", "/echo", headers={"Content-Type": "text/plain"}, body=big, timeout=3 * TIMEOUT
    )
    assert (answer.status, answer.json()) == (413, {"message": "Request Entity Too Large"})
    # Lambda's own 6 MB limit is below API Gateway's: a 5 MB body reaches the function.
    fits = http_stack.request(
        "POST",
        "/echo",
        headers={"Content-Type": "text/plain"},
        body=b"y" * (5 * 1024 * 1024),
        timeout=3 * TIMEOUT,
    )
    assert fits.status == 200 and len(fits.json()["body"]) == 5 * 1024 * 1024


def test_route_throttling_is_429(http_stack: StackThread) -> None:
    statuses = [get(http_stack, "/throttled").status for _ in range(4)]
    assert statuses[:2] == [200, 200] and statuses[2:] == [429, 429]
    assert get(http_stack, "/throttled").json() == {"message": "Too Many Requests"}
    assert get(http_stack, "/items/1").status == 200  # other routes keep their own budget


def test_default_route_settings_without_limits_throttle_everything(
    http_stack: StackThread,
) -> None:
    v2 = url_of(http_stack, "V2Api")
    trapped = http_request(v2 + "/trapped", timeout=TIMEOUT)
    assert (trapped.status, trapped.json()) == (429, {"message": "Too Many Requests"})
    event = seen(http_request(v2 + "/open?x=1", timeout=TIMEOUT))
    assert (event["rawPath"], event["routeKey"]) == ("/v1/open", "GET /open")
    assert event["requestContext"]["stage"] == "v1"
    assert event["stageVariables"] == {"flavour": "vanilla"}
    base = http_stack.stack.http_apis[2].base_url
    assert http_request(base + "/open", timeout=TIMEOUT).status == 404  # no stage prefix


def test_cors_preflight_is_answered_by_the_gateway(http_stack: StackThread) -> None:
    answer = http_stack.request(
        "OPTIONS",
        "/notifications",  # a POST route with a JWT authorizer: neither runs
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
        timeout=TIMEOUT,
    )
    assert answer.status == 204
    assert answer.header("access-control-allow-origin") == ORIGIN
    assert answer.header("access-control-allow-methods") == "GET,POST"
    assert answer.header("access-control-allow-headers") == "authorization,content-type"
    assert answer.header("access-control-max-age") == "600"
    assert answer.header("access-control-allow-credentials") == "true"
    stranger = http_stack.request(
        "OPTIONS",
        "/me",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        timeout=TIMEOUT,
    )
    assert stranger.status == 204 and stranger.header("access-control-allow-origin") is None


def test_cors_headers_replace_the_backends_own(http_stack: StackThread) -> None:
    answer = get(http_stack, "/respond/cors", headers={"Origin": ORIGIN})
    assert answer.header_list("access-control-allow-origin") == [ORIGIN]
    assert answer.header("access-control-expose-headers") == "x-request-id"
    refused = get(http_stack, "/me", headers={"Origin": ORIGIN})
    assert refused.status == 401 and refused.header("access-control-allow-origin") == ORIGIN


# --------------------------------------------------------------------------------------------------
# The JWT authorizer against the local OIDC issuer
# --------------------------------------------------------------------------------------------------


def minted(running: StackThread, query: str) -> dict[str, Any]:
    answer = http_request(running.stack.http_apis[0].base_url + "/_local/token?" + query)
    assert answer.status == 200, answer
    value: dict[str, Any] = answer.json()
    return value


def test_local_tokens_are_rs256_from_the_local_issuer_and_reach_the_handler_as_strings(
    http_stack: StackThread,
) -> None:
    token = minted(http_stack, "user=ada&name=Ada&rooms=private:ops,x")["token"]
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    event = seen(get(http_stack, "/me", token=token))
    authorizer = event["requestContext"]["authorizer"]
    assert authorizer["jwt"]["scopes"] is None
    claims = authorizer["jwt"]["claims"]
    assert (claims["sub"], claims["iss"], claims["aud"]) == ("ada", ISSUER, "fixture-client")
    assert claims["rooms"] == "[private:ops x]"
    assert all(isinstance(v, str) for v in claims.values())
    assert int(claims["exp"]) > time.time()


def test_jwt_refusals_are_401_with_www_authenticate(http_stack: StackThread) -> None:
    assert get(http_stack, "/me").header("www-authenticate") == "Bearer"
    good = http_stack.local_token("ada")
    claims = jwt.decode(good, options={"verify_signature": False})
    issuer = http_stack.stack.issuer
    assert issuer is not None
    bad_tokens = {
        "expired": issuer.sign({**claims, "exp": int(time.time()) - 5}),
        "future": issuer.sign({**claims, "nbf": int(time.time()) + 300}),
        "issuer": issuer.sign({**claims, "iss": "https://elsewhere.example"}),
        "audience": issuer.sign({**claims, "aud": "another-client"}),
        "kid": jwt.encode(claims, issuer.private_key, algorithm="RS256", headers={"kid": "nope"}),
        "hs256": jwt.encode(claims, "x" * 32, algorithm="HS256", headers={"kid": issuer.kid}),
        "garbage": "abc.def.ghi",
    }
    for why, token in bad_tokens.items():
        answer = get(http_stack, "/me", token=token)
        assert (answer.status, answer.json()) == (401, {"message": "Unauthorized"}), why
        assert 'error="invalid_token"' in (answer.header("www-authenticate") or ""), why


def test_route_scopes_are_403_when_missing_and_listed_when_present(
    http_stack: StackThread,
) -> None:
    plain = http_stack.local_token("svc")
    answer = http_stack.request("POST", "/notifications", token=plain, timeout=TIMEOUT)
    assert (answer.status, answer.json()) == (403, {"message": "Forbidden"})
    assert 'error="insufficient_scope"' in (answer.header("www-authenticate") or "")
    scoped = minted(http_stack, "client_id=fixture-client&scope=chat/read+chat/notify")
    assert scoped["scope"] == "chat/read chat/notify"
    event = seen(
        http_stack.request(
            "POST", "/notifications", token=scoped["token"], json_body={}, timeout=TIMEOUT
        )
    )
    jwt_context = event["requestContext"]["authorizer"]["jwt"]
    assert jwt_context["scopes"] == ["chat/read", "chat/notify"]
    assert jwt_context["claims"]["client_id"] == "fixture-client"  # no aud: client_id counts
    assert "aud" not in jwt_context["claims"]


def test_the_local_issuer_publishes_discovery_and_jwks_over_http(
    http_stack: StackThread,
) -> None:
    issuer_url = http_stack.stack.issuer_url
    discovery = http_request(issuer_url + "/.well-known/openid-configuration").json()
    assert discovery["issuer"] == issuer_url
    assert discovery["jwks_uri"] == issuer_url + "/jwks.json"

    async def keys() -> set[str]:
        # The path a JWT authorizer takes for any other issuer: discovery, then JWKS, over HTTP.
        cache = JwksCache(local=None, fetch=fetch_json)
        return set(await cache.keys(issuer_url, None))

    assert keys_kid(asyncio.run(keys()), http_stack)


def keys_kid(kids: set[str], running: StackThread) -> bool:
    issuer = running.stack.issuer
    return issuer is not None and kids == {issuer.kid}


# --------------------------------------------------------------------------------------------------
# Lambda REQUEST authorizers
# --------------------------------------------------------------------------------------------------


def test_lambda_authorizer_simple_responses_and_the_cache(http_stack: StackThread) -> None:
    first = seen(get(http_stack, "/keys", headers={"X-Api-Key": "good-1"}))
    context = first["requestContext"]["authorizer"]["lambda"]
    assert context["key"] == "good-1"
    assert context["routeArn"].endswith("/$default/GET/keys")
    again = seen(get(http_stack, "/keys", headers={"X-Api-Key": "good-1"}))
    # Cached by the identity source for the TTL: the authorizer did not run again.
    assert again["requestContext"]["authorizer"]["lambda"]["minted"] == context["minted"]
    other = seen(get(http_stack, "/keys", headers={"X-Api-Key": "good-2"}))
    assert other["requestContext"]["authorizer"]["lambda"]["minted"] != context["minted"]
    denied = get(http_stack, "/keys", headers={"X-Api-Key": "bad"})
    assert (denied.status, denied.json()) == (403, {"message": "Forbidden"})
    crashed = get(http_stack, "/keys", headers={"X-Api-Key": "crash"})
    assert (crashed.status, crashed.json()) == (401, {"message": "Unauthorized"})
    missing = get(http_stack, "/keys")
    assert (missing.status, missing.json()) == (401, {"message": "Unauthorized"})


def test_lambda_authorizer_iam_policy_responses(http_stack: StackThread) -> None:
    allowed = seen(get(http_stack, "/policies", headers={"X-Api-Key": "good"}))
    assert allowed["requestContext"]["authorizer"] == {"lambda": {"client": "good"}}
    denied = get(http_stack, "/policies", headers={"X-Api-Key": "other"})
    assert (denied.status, denied.json()) == (403, {"message": "Forbidden"})


# --------------------------------------------------------------------------------------------------
# Powertools
# --------------------------------------------------------------------------------------------------


def test_a_powertools_http_resolver_app_runs_unchanged(http_stack: StackThread) -> None:
    base = url_of(http_stack, "ServerlessHttpApi")
    hello = http_request(base + "/hello/bob?lang=en", headers={"Cookie": "k=v"}, timeout=TIMEOUT)
    assert hello.status == 200
    assert hello.json() == {
        "hello": "bob",
        "method": "GET",
        "query": {"lang": "en"},
        "cookies": ["k=v"],
    }
    created = http_request(base + "/todos", "POST", json_body={"title": "milk"}, timeout=TIMEOUT)
    assert (created.status, created.json()) == (201, {"created": "milk"})
    assert created.header("content-type") == "application/json"


def test_the_stack_log_has_one_access_line_per_request_and_no_tokens(
    http_stack: StackThread, tmp_path: Path
) -> None:
    token = http_stack.local_token("ada")
    assert get(http_stack, "/me", token=token).status == 200
    log_file = Path(http_stack.stack.log.stream.name)
    text = log_file.read_text()
    assert "http GET /me 200" in text
    assert token not in text and json.dumps(token) not in text
