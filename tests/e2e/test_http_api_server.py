"""The HTTP API adapter on a real socket, with in-process handlers that record their events.

Where the question is "was anything invoked?" (missing identity, cache hits, preflight, limits),
the handlers are plain callables run by ``InProcessRuntime``, so each test can count calls.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jwt
import pytest

from local.devtokens import DevTokenSettings, mint_dev_token
from local.httpapi import HttpApiOptions, HttpApiServer, LocalIssuer, TokenRequest
from local.logs import Log
from local.model import CorsSpec, HttpApiSpec, HttpAuthorizerSpec, HttpRouteSpec, ThrottleSpec
from tests.e2e.harness import TIMEOUT, InProcessRuntime

KEYS = HttpAuthorizerSpec(
    name="Keys",
    type="REQUEST",
    identity_sources=["$request.header.X-Key"],
    function="Auth",
    simple_responses=True,
    ttl_seconds=60,
)
SECRET = "a-local-only-secret-of-at-least-32-bytes"


def authorize(event: dict[str, Any], context: Any) -> dict[str, Any]:
    key = event["identitySource"][0]
    if key == "crash":
        raise RuntimeError("authorizer bug")
    return {"isAuthorized": key != "bad", "context": {"key": key}}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": event["rawPath"]}


def api(**changes: Any) -> HttpApiSpec:
    spec = HttpApiSpec(
        logical_id="Api",
        api_id="abcde12345",
        name="test",
        routes=[
            HttpRouteSpec("GET /keys", "Fn", authorizer=KEYS),
            HttpRouteSpec("GET /open", "Fn"),
            HttpRouteSpec("POST /upload", "Fn"),
            HttpRouteSpec("GET /hot", "Fn"),
        ],
        stage="$default",
        cors=CorsSpec(allow_origins=("https://app.example",), allow_methods=("GET",)),
        route_throttles={"GET /hot": ThrottleSpec(burst=1, rate=0.0)},
    )
    for key, value in changes.items():
        setattr(spec, key, value)
    return spec


@contextlib.asynccontextmanager
async def serving(
    spec: HttpApiSpec, runtime: InProcessRuntime, **options: Any
) -> AsyncIterator[tuple[HttpApiServer, aiohttp.ClientSession]]:
    log = Log(open(os.devnull, "w"))  # closed below
    server = HttpApiServer(spec, runtime, log, HttpApiOptions(**options.pop("http", {})), **options)
    await server.start()
    timeout = aiohttp.ClientTimeout(total=TIMEOUT)
    try:
        async with aiohttp.ClientSession(base_url=server.base_url, timeout=timeout) as client:
            yield server, client
    finally:
        await server.stop()
        log.stream.close()


@pytest.fixture
def runtime() -> InProcessRuntime:
    return InProcessRuntime({"Fn": handler, "Auth": authorize})


async def test_a_missing_identity_source_is_401_without_invoking_the_authorizer(
    runtime: InProcessRuntime,
) -> None:
    async with serving(api(), runtime) as (_, client):
        async with client.get("/keys") as response:
            assert response.status == 401
            assert await response.json() == {"message": "Unauthorized"}
    assert runtime.events["Auth"] == [] and runtime.events["Fn"] == []


async def test_authorizer_results_are_cached_by_identity_but_errors_are_not(
    runtime: InProcessRuntime,
) -> None:
    async with serving(api(), runtime) as (_, client):
        for key in ("k1", "k1", "k2", "k1"):
            async with client.get("/keys", headers={"X-Key": key}) as response:
                assert response.status == 200
        assert [e["identitySource"] for e in runtime.events["Auth"]] == [["k1"], ["k2"]]
        assert len(runtime.events["Fn"]) == 4
        contexts = [e["requestContext"]["authorizer"] for e in runtime.events["Fn"]]
        assert contexts[1] == {"lambda": {"key": "k1"}}
        for _ in range(2):
            async with client.get("/keys", headers={"X-Key": "crash"}) as response:
                assert response.status == 500
        assert len(runtime.events["Auth"]) == 4  # a failed authorizer ran both times
        for _ in range(2):
            async with client.get("/keys", headers={"X-Key": "bad"}) as response:
                assert response.status == 403
        assert len(runtime.events["Auth"]) == 5  # a denial is cached like an allow


async def test_preflight_limits_and_unknown_routes_invoke_nothing(
    runtime: InProcessRuntime,
) -> None:
    async with serving(api(), runtime, http={"max_payload_bytes": 1000}) as (_, client):
        preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}
        async with client.options("/keys", headers=preflight) as response:
            assert response.status == 204
            assert response.headers["access-control-allow-methods"] == "GET"
        async with client.post("/upload", data=b"x" * 1001) as response:
            assert response.status == 413
        async with client.post("/upload", data=b"x" * 1000) as response:
            assert response.status == 200
        async with client.get("/nowhere") as response:
            assert response.status == 404
        statuses = []
        for _ in range(3):
            async with client.get("/hot") as response:
                statuses.append(response.status)
        assert statuses == [200, 429, 429]
    assert [e["rawPath"] for e in runtime.events["Fn"]] == ["/upload", "/hot"]
    assert runtime.events["Auth"] == []


async def test_a_chunked_body_over_the_limit_is_413_too(runtime: InProcessRuntime) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"y" * 400

    async with serving(api(), runtime, http={"max_payload_bytes": 1000}) as (_, client):
        async with client.post("/upload", data=chunks()) as response:
            assert response.status == 413
    assert runtime.events["Fn"] == []


async def test_without_a_local_jwt_authorizer_tokens_are_the_hs256_dev_ones(
    runtime: InProcessRuntime,
) -> None:
    settings = DevTokenSettings(secret=SECRET, issuer="chat-local", audience="chat")

    def mint(request: TokenRequest) -> str:
        return mint_dev_token(settings, user=request.user, scopes=request.scopes)

    async with serving(api(), runtime, mint_token=mint, issuer=LocalIssuer.generate()) as (
        server,
        client,
    ):
        async with client.get("/_local/token?user=svc&scope=chat/notify+chat/admin") as response:
            body = await response.json()
        claims = jwt.decode(body["token"], SECRET, algorithms=["HS256"], audience="chat")
        assert (claims["sub"], claims["scope"]) == ("svc", "chat/notify chat/admin")
        async with client.get("/_local/token") as response:
            assert response.status == 400
        async with client.get("/_local/oidc/jwks.json") as response:
            assert [k["kty"] for k in (await response.json())["keys"]] == ["RSA"]
        assert server.issuer_url == server.base_url + "/_local/oidc"
    assert runtime.events["Fn"] == []
