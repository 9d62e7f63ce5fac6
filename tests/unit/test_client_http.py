"""``client.http.HttpClient`` against a small aiohttp server on 127.0.0.1 (real HTTP): request
shapes, retries with the same idempotency key, cursors, and errors with their stable codes."""

from __future__ import annotations

import asyncio
import io
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp import web

from client.backoff import Backoff
from client.cli import main
from client.context import Environment, ExitStatus
from client.errors import AuthError, ConnectError, HttpError
from client.http import HttpClient


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Script:
    """Answers queued per "METHOD path" (raw path), then a default; records every request."""

    answers: dict[str, list[tuple[int, Any, dict[str, str]]]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def queue(self, route: str, status: int, body: Any, **headers: str) -> None:
        self.answers.setdefault(route, []).append((status, body, headers))


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Script]]:
    script = Script()

    async def handle(request: web.Request) -> web.Response:
        text = await request.text()
        script.seen.append(
            Seen(
                method=request.method,
                path=request.raw_path.split("?", 1)[0],
                query=dict(request.query),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=json.loads(text) if text else None,
            )
        )
        queued = script.answers.get(f"{request.method} {request.raw_path.split('?', 1)[0]}")
        status, body, headers = queued.pop(0) if queued else (404, {"message": "Not Found"}, {})
        return web.json_response(body, status=status, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", script
    finally:
        await runner.cleanup()


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def client(url: str, sleeps: Sleeps | None = None, **options: Any) -> HttpClient:
    keys = iter(f"key-{i}" for i in range(100))
    return HttpClient(
        url,
        "TOKEN",
        sleep=sleeps or Sleeps(),
        new_key=lambda: next(keys),
        backoff=lambda: Backoff(base=0.1, cap=1.0, rand=lambda: 1.0),
        **options,
    )


ACK = {"type": "ack", "ref": "key-0", "id": "m1", "room": "private:ops", "seq": 1}


async def test_publish_sends_the_token_the_text_and_an_idempotency_key(
    server: tuple[str, Script],
) -> None:
    url, script = server
    script.queue("POST /rooms/private%3Aops/messages", 201, ACK)
    async with client(url) as api:
        assert await api.publish("private:ops", "hello") == ACK
    [seen] = script.seen
    assert seen.headers["authorization"] == "Bearer TOKEN"
    assert seen.headers["idempotency-key"] == "key-0"
    assert seen.body == {"text": "hello"}


async def test_retries_on_429_and_5xx_keep_the_same_idempotency_key(
    server: tuple[str, Script],
) -> None:
    url, script = server
    route = "POST /rooms/lobby/messages"
    script.queue(route, 503, {"message": "Service Unavailable"})
    script.queue(route, 429, {"code": "rate_limited", "message": "slow"}, **{"Retry-After": "1"})
    script.queue(route, 500, {"code": "internal", "message": "oops"})
    script.queue(route, 201, ACK)
    sleeps = Sleeps()
    async with client(url, sleeps) as api:
        assert await api.publish("lobby", "hello") == ACK
    assert [s.headers["idempotency-key"] for s in script.seen] == ["key-0"] * 4
    # Full jitter (rand pinned to 1 here: the ceiling), doubling; Retry-After waited on top.
    assert sleeps.delays == [0.1, 1.0 + 0.2, 0.4]


async def test_a_callers_ref_is_the_idempotency_key(server: tuple[str, Script]) -> None:
    url, script = server
    script.queue("POST /rooms/lobby/messages", 201, ACK)
    async with client(url) as api:
        await api.publish("lobby", "hello", ref="order-42")
    assert script.seen[0].headers["idempotency-key"] == "order-42"


async def test_giving_up_raises_the_stable_code(server: tuple[str, Script]) -> None:
    url, script = server
    for _ in range(3):
        script.queue("POST /rooms/lobby/messages", 429, {"code": "rate_limited", "message": "x"})
    async with client(url, retries=2) as api:
        with pytest.raises(HttpError) as caught:
            await api.publish("lobby", "hello")
    assert (caught.value.code, caught.value.status) == ("rate_limited", 429)
    assert len(script.seen) == 3


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (
            400,
            {"code": "bad_request", "message": "'text' must be a non-empty string"},
            "bad_request",
        ),
        (403, {"code": "forbidden", "message": "your token does not grant"}, "forbidden"),
        (413, {"code": "too_large", "message": "'text' is longer"}, "too_large"),
        (404, {"message": "Not Found"}, "not_found"),
    ],
)
async def test_client_errors_are_not_retried_and_keep_their_code(
    server: tuple[str, Script], status: int, body: dict[str, str], code: str
) -> None:
    url, script = server
    script.queue("POST /rooms/lobby/messages", status, body)
    async with client(url) as api:
        with pytest.raises(HttpError) as caught:
            await api.publish("lobby", "x")
    assert caught.value.code == code
    assert caught.value.status == status
    assert len(script.seen) == 1


@pytest.mark.parametrize("status", [401, 403])
async def test_the_gateways_refusals_are_auth_errors(
    server: tuple[str, Script], status: int
) -> None:
    url, script = server
    script.queue("GET /me", status, {"message": "Unauthorized" if status == 401 else "Forbidden"})
    async with client(url) as api:
        with pytest.raises(AuthError):
            await api.me()
    assert len(script.seen) == 1


async def test_history_follows_the_cursors(server: tuple[str, Script]) -> None:
    url, script = server
    route = "GET /rooms/lobby/messages"
    script.queue(route, 200, {"room": "lobby", "messages": [{"seq": 3}, {"seq": 4}], "next": "c1"})
    script.queue(route, 200, {"room": "lobby", "messages": [{"seq": 1}, {"seq": 2}], "next": None})
    async with client(url) as api:
        pages = [page async for page in api.history("lobby", limit=2)]
    assert [[m["seq"] for m in p.messages] for p in pages] == [[3, 4], [1, 2]]
    assert [s.query for s in script.seen] == [{"limit": "2"}, {"limit": "2", "cursor": "c1"}]


async def test_members_notify_and_disconnect_user(server: tuple[str, Script]) -> None:
    url, script = server
    script.queue("GET /rooms/lobby/members", 200, {"room": "lobby", "users": [{"id": "a"}]})
    script.queue("POST /notifications", 503, {"message": "Service Unavailable"})
    script.queue("POST /notifications", 202, {"id": "key-0", "delivered": 1, "queued": 0})
    script.queue("POST /users/alice%40example.com/disconnect", 200, {"closed": 2, "gone": 0})
    async with client(url) as api:
        assert await api.members("lobby") == [{"id": "a"}]
        assert (await api.notify({"k": 1}, users=["alice"]))["delivered"] == 1
        assert (await api.disconnect_user("alice@example.com"))["closed"] == 2
    notify_bodies = [s.body for s in script.seen if s.path == "/notifications"]
    # The retry carries the same notification id, so receivers can drop a repeat.
    assert (
        notify_bodies == [{"targets": {"users": ["alice"]}, "payload": {"k": 1}, "id": "key-0"}] * 2
    )


async def test_rooms_gives_the_list_with_unread_counts(server: tuple[str, Script]) -> None:
    url, script = server
    listed = [{"room": "lobby", "seq": 5, "read": 3, "unread": 2}]
    script.queue("GET /me/rooms", 200, {"rooms": listed})
    script.queue("GET /me/rooms", 200, {"rooms": []})
    async with client(url) as api:
        assert await api.rooms() == listed
        assert await api.rooms() == []
    assert [s.path for s in script.seen] == ["/me/rooms", "/me/rooms"]


async def test_an_unreachable_server_is_a_connect_error_after_retries() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps = Sleeps()
    async with client(f"http://127.0.0.1:{port}", sleeps, retries=2) as api:
        with pytest.raises(ConnectError, match="cannot reach"):
            await api.me()
    assert len(sleeps.delays) == 2


def test_a_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        HttpClient("ws://127.0.0.1:3001/dev", "TOKEN")


# ---- the CLI over the HTTP API ---------------------------------------------------------------

SECRET = "cli-tests-hs256-secret-of-32-bytes!!"


def run_cli(argv: list[str], tmp_path: Path, **environ: str) -> tuple[int, str, str]:
    env = Environment(
        stdin=io.StringIO(),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        environ={"CHAT_JWT_SECRET": SECRET, **environ},
        cwd=tmp_path,
    )
    status = main(argv, env=env)
    return status, env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]


async def test_chat_publish_goes_over_the_http_api(
    server: tuple[str, Script], tmp_path: Path
) -> None:
    url, script = server
    script.queue("POST /rooms/lobby/messages", 201, {**ACK, "room": "lobby", "ref": "r1"})
    argv = ["publish", "--http", url, "--user", "alice", "--room", "lobby", "--ref", "r1", "hi"]
    status, out, err = await asyncio.to_thread(run_cli, argv, tmp_path)
    assert (status, err) == (ExitStatus.OK, "")
    assert out == "sent lobby #1 m1\n"
    [seen] = script.seen
    assert seen.headers["idempotency-key"] == "r1"
    token = seen.headers["authorization"].removeprefix("Bearer ")
    assert jwt.decode(token, SECRET, algorithms=["HS256"])["sub"] == "alice"


async def test_chat_publish_reports_the_stable_code_in_one_line(
    server: tuple[str, Script], tmp_path: Path
) -> None:
    url, script = server
    script.queue("POST /rooms/private%3Aops/messages", 403, {"code": "forbidden", "message": "no"})
    argv = ["publish", "--user", "bob", "--room", "private:ops", "hi"]
    status, out, err = await asyncio.to_thread(run_cli, argv, tmp_path, CHAT_HTTP_URL=url)
    assert status == ExitStatus.SERVER_ERROR
    assert err == "chat publish: server error forbidden: no\n"


async def test_chat_history_finds_the_local_stacks_http_url_and_prints_json(
    server: tuple[str, Script], tmp_path: Path
) -> None:
    url, script = server
    # The local stack's /_local/config names its HTTP API (here: the same test server).
    script.queue("GET /_local/config", 200, {"httpUrl": url})
    message = {
        "id": "m1",
        "room": "lobby",
        "seq": 1,
        "from": "a",
        "name": "A",
        "text": "x",
        "ts": 1,
    }
    script.queue("GET /rooms/lobby/messages", 200, {"room": "lobby", "messages": [message]})
    ws = url.replace("http://", "ws://") + "/dev"
    argv = ["history", "--url", ws, "--user", "bob", "--room", "lobby", "--limit", "5", "--json"]
    status, out, err = await asyncio.to_thread(run_cli, argv, tmp_path)
    assert (status, err) == (ExitStatus.OK, "")
    assert json.loads(out) == {"type": "message", **message}
    assert script.seen[-1].query == {"limit": "5"}


async def test_chat_notify_over_http_mints_a_service_token_with_chat_notify(
    server: tuple[str, Script], tmp_path: Path
) -> None:
    url, script = server
    script.queue("POST /notifications", 202, {"id": "n1", "delivered": 2, "queued": 0})
    argv = ["notify", "--http", url, "--user", "alice", "--id", "n1", '{"k": 1}']
    status, out, err = await asyncio.to_thread(run_cli, argv, tmp_path)
    assert (status, err) == (ExitStatus.OK, "")
    assert "delivered notification n1 to 2 connection(s)" in out
    [seen] = script.seen
    assert seen.body == {"targets": {"users": ["alice"]}, "payload": {"k": 1}, "id": "n1"}
    token = seen.headers["authorization"].removeprefix("Bearer ")
    assert jwt.decode(token, SECRET, algorithms=["HS256"])["scope"] == "chat/notify"


def test_chat_token_mints_a_service_token_with_scopes(tmp_path: Path) -> None:
    argv = ["token", "--user", "billing", "--scope", "chat/notify", "--scope", "chat/publish"]
    status, out, _ = run_cli(argv, tmp_path)
    assert status == ExitStatus.OK
    claims = jwt.decode(out.strip(), SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["scope"]) == ("billing", "chat/notify chat/publish")
    status, _, err = run_cli(["token", "--user", "x", "--scope", "chat/everything"], tmp_path)
    assert status == ExitStatus.USAGE and "invalid choice" in err
