"""The project's HTTP API through the whole local stack (template.yaml + local.yaml, HS256).

Every route of the API is called over real HTTP on the stack's HTTP port and checked against
what a WebSocket user of the same stack sees: a publish arrives on a socket exactly once, a
notification reaches a socket, a disconnect closes sockets and runs ``$disconnect``. The library
(``client.http.HttpClient``) and the ``chat`` CLI are used against the same stack. Rooms and users
are unique per test, so the tests share one stack.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from websockets.exceptions import ConnectionClosed

from client.cli import main
from client.context import Environment
from client.http import HttpClient
from local.testing import HttpAnswer, StackThread, TestSocket
from tests.e2e.conftest import ROOT, DisconnectWatch
from tests.e2e.harness import TIMEOUT
from tests.unit.client_fake_server import Stream


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def url(room: str) -> str:
    return f"/rooms/{quote(room, safe='')}/messages"


def publish(stack: StackThread, token: str, room: str, text: str, **headers: str) -> HttpAnswer:
    return stack.request("POST", url(room), token=token, json_body={"text": text}, headers=headers)


def joined_socket(stack: StackThread, user: str, room: str) -> TestSocket:
    ws = stack.connect(token=stack.dev_token(user))
    ws.send_json({"action": "join", "room": room, "ref": "j"})
    ws.receive_until(lambda f: f.get("type") == "joined")
    return ws


def messages_until(ws: TestSocket, text: str) -> list[dict[str, Any]]:
    """Every room message the socket receives (single or batched frames) up to ``text``."""
    seen: list[dict[str, Any]] = []

    def has_it(frame: dict[str, Any]) -> bool:
        if frame.get("type") == "message":
            seen.append(frame)
        elif frame.get("type") == "messages":
            seen.extend(frame["messages"])
        return any(m["text"] == text for m in seen)

    ws.receive_until(has_it, timeout=3 * TIMEOUT)
    return seen


def assert_app_error(answer: HttpAnswer, status: int, code: str) -> None:
    assert answer.status == status, answer
    body = answer.json()
    assert body["code"] == code and set(body) == {"code", "message"}, body


# ---- publish and history -----------------------------------------------------------------------


def test_a_publish_reaches_a_socket_exactly_once_and_a_retried_key_stores_once(
    chat_stack: StackThread,
) -> None:
    room, key = unique("http-"), unique("key-")
    token = chat_stack.local_token(unique("ada"))
    with joined_socket(chat_stack, unique("bob"), room) as ws:
        first = publish(chat_stack, token, room, "over http", **{"Idempotency-Key": key})
        retry = publish(chat_stack, token, room, "over http", **{"Idempotency-Key": key})
        assert first.status == retry.status == 201, (first, retry)
        assert first.json() == retry.json()
        assert first.json()["ref"] == key and first.json()["seq"] == 1
        # A second message, so anything delivered twice would show up before it.
        assert publish(chat_stack, token, room, "marker").status == 201
        got = messages_until(ws, "marker")
    assert [m["text"] for m in got] == ["over http", "marker"]
    assert got[0]["id"] == first.json()["id"]
    page = chat_stack.request("GET", url(room), token=token).json()
    assert [m["text"] for m in page["messages"]] == ["over http", "marker"]


def test_history_pages_back_with_the_cursor(chat_stack: StackThread) -> None:
    room = unique("paged-")
    token = chat_stack.local_token(unique("ada"))
    for n in range(1, 6):
        assert publish(chat_stack, token, room, f"m{n}").status == 201
    seen: list[list[int]] = []
    target = url(room) + "?limit=2"
    while True:
        page = chat_stack.request("GET", target, token=token)
        assert page.status == 200, page
        body = page.json()
        seen.append([m["seq"] for m in body["messages"]])
        if not body.get("next"):
            break
        target = url(room) + "?limit=2&cursor=" + body["next"]
    assert seen == [[4, 5], [2, 3], [1]]
    forward = chat_stack.request("GET", url(room) + "?after=3", token=token).json()
    assert [m["text"] for m in forward["messages"]] == ["m4", "m5"]


def test_members_and_me_show_the_sockets_of_the_stack(chat_stack: StackThread) -> None:
    room, user = unique("who-"), unique("carol")
    with joined_socket(chat_stack, user, room) as ws:
        token = chat_stack.local_token(user)
        members = chat_stack.request("GET", f"/rooms/{room}/members", token=token)
        assert members.status == 200, members
        assert members.json() == {"room": room, "users": [{"id": user, "name": user}]}
        me = chat_stack.request("GET", "/me", token=token).json()
        assert me["id"] == user and len(me["connections"]) == 1
        ws.send_json({"action": "ping", "ref": "p"})
        ws.receive_until(lambda f: f.get("type") == "pong")


# ---- service routes ----------------------------------------------------------------------------


def test_a_notification_from_a_service_token_reaches_the_users_socket(
    chat_stack: StackThread,
) -> None:
    user = unique("dana")
    service = chat_stack.local_token("billing", scopes=("chat/notify",))
    with chat_stack.connect(token=chat_stack.dev_token(user)) as ws:
        sent = chat_stack.request(
            "POST",
            "/notifications",
            token=service,
            json_body={"id": unique("n-"), "targets": {"users": [user]}, "payload": {"due": 3}},
        )
        assert sent.status == 202, sent
        assert sent.json()["delivered"] == 1
        event, _ = ws.receive_until(lambda f: f.get("type") == "notification")
    assert event["payload"] == {"due": 3}


def test_a_service_publish_comes_from_the_service_identity(chat_stack: StackThread) -> None:
    room = unique("sys-")
    service = chat_stack.local_token("deploy-bot", scopes=("chat/publish",))
    with joined_socket(chat_stack, unique("erin"), room) as ws:
        assert publish(chat_stack, service, room, "deploy finished").status == 201
        (message,) = messages_until(ws, "deploy finished")
    assert message["from"] == "deploy-bot" and message["system"] is True
    page = chat_stack.request("GET", url(room), token=chat_stack.local_token("erin")).json()
    assert page["messages"][0]["system"] is True


def test_disconnecting_a_user_closes_their_sockets_and_runs_disconnect(
    chat_stack: StackThread, disconnects: Callable[[StackThread], DisconnectWatch]
) -> None:
    watch = disconnects(chat_stack)
    user, other = unique("frank"), unique("gina")
    admin = chat_stack.local_token("ops", scopes=("chat/admin",))
    first = chat_stack.connect(token=chat_stack.dev_token(user))
    second = chat_stack.connect(token=chat_stack.dev_token(user))
    bystander = chat_stack.connect(token=chat_stack.dev_token(other))
    ids = chat_stack.request("GET", "/me", token=chat_stack.local_token(user)).json()["connections"]
    assert len(ids) == 2
    answer = chat_stack.request("POST", f"/users/{user}/disconnect", token=admin)
    assert answer.status == 200, answer
    assert answer.json() == {"user": user, "closed": 2, "gone": 0}
    for ws in (first, second):
        with pytest.raises(ConnectionClosed):
            ws.receive(timeout=3 * TIMEOUT)
    for connection_id in ids:
        watch.wait(connection_id, timeout=3 * TIMEOUT)
    bystander.send_json({"action": "ping", "ref": "still"})
    assert bystander.receive_until(lambda f: f.get("type") == "pong")[0]["ref"] == "still"
    bystander.close()
    me = chat_stack.request("GET", "/me", token=chat_stack.local_token(user)).json()
    assert me["connections"] == []


# ---- refusals ----------------------------------------------------------------------------------


def test_the_gateway_and_the_app_refuse_with_their_own_bodies(chat_stack: StackThread) -> None:
    user = chat_stack.local_token(unique("hal"))
    no_token = chat_stack.request("GET", "/me")
    assert (no_token.status, no_token.json()) == (401, {"message": "Unauthorized"})
    bad = chat_stack.request("GET", "/me", token=user[:-4] + "AAAA")
    # A token the Lambda authorizer refuses: API Gateway's 403 for isAuthorized false.
    assert (bad.status, bad.json()) == (403, {"message": "Forbidden"})
    wrong_scope = chat_stack.request(
        "POST", "/notifications", token=user, json_body={"targets": {"all": True}, "payload": 1}
    )
    assert (wrong_scope.status, wrong_scope.json()) == (403, {"message": "Forbidden"})
    assert_app_error(publish(chat_stack, user, "private:ops", "psst"), 403, "forbidden")
    history = chat_stack.request("GET", url("private:ops"), token=user)
    assert_app_error(history, 403, "forbidden")
    missing = chat_stack.request("GET", "/nowhere", token=user)
    assert (missing.status, missing.json()) == (404, {"message": "Not Found"})
    huge = chat_stack.request(
        "POST", url(unique("big-")), token=user, body=b"x" * (10 * 1024 * 1024 + 1)
    )
    assert huge.status == 413, huge


def test_cors_preflight_from_a_browser_origin(chat_stack: StackThread) -> None:
    # local.yaml leaves AllowedOrigins empty: any origin, as the template's default says.
    answer = chat_stack.request(
        "OPTIONS",
        url("lobby"),
        headers={
            "Origin": "http://127.0.0.1:3001",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
        },
    )
    assert answer.status == 204, answer
    assert answer.header("access-control-allow-origin") == "*"
    assert "POST" in (answer.header("access-control-allow-methods") or "")
    assert "idempotency-key" in (answer.header("access-control-allow-headers") or "").lower()


# ---- the library and the CLI -------------------------------------------------------------------


def test_the_library_does_every_route(chat_stack: StackThread) -> None:
    room, user = unique("lib-"), unique("ivy")

    async def run(ws_connection: str) -> None:
        async with HttpClient(chat_stack.http_url, chat_stack.local_token(user)) as http:
            ack = await http.publish(room, "from the library", ref="lib-1")
            assert (await http.publish(room, "from the library", ref="lib-1")) == ack
            page = await http.history_page(room)
            assert [m["text"] for m in page.messages] == ["from the library"]
            assert await http.members(room) == [{"id": user, "name": user}]
            assert (await http.me())["connections"] == [ws_connection]
        service = chat_stack.local_token("svc", scopes=("chat/notify", "chat/admin"))
        async with HttpClient(chat_stack.http_url, service) as http:
            assert (await http.notify({"hello": user}, users=[user]))["delivered"] == 1
            assert (await http.disconnect_user(user))["closed"] == 1

    with joined_socket(chat_stack, user, room) as ws:
        connection = chat_stack.request("GET", "/me", token=chat_stack.local_token(user))
        asyncio.run(run(connection.json()["connections"][0]))
        got = messages_until(ws, "from the library")
        assert len(got) == 1
        note, _ = ws.receive_until(lambda f: f.get("type") == "notification")
        assert note["payload"] == {"hello": user}
        with pytest.raises(ConnectionClosed):
            while True:
                ws.receive(timeout=3 * TIMEOUT)


def chat(stack: StackThread, *argv: str) -> tuple[int, str, str]:
    # From the project root: `--user` mints with local.yaml's key; the HTTP API's URL comes
    # from the stack's /_local/config, as after `make run`.
    env = Environment(stdin=Stream(""), stdout=Stream(), stderr=Stream(), environ={}, cwd=ROOT)
    code = main([*argv, "--url", stack.ws_url], env=env)
    return code, str(env.stdout.getvalue()), str(env.stderr.getvalue())  # type: ignore[attr-defined]


def test_chat_publish_history_and_notify_use_the_http_api(chat_stack: StackThread) -> None:
    room, user = unique("cli-"), unique("jo")
    with joined_socket(chat_stack, user, room) as ws:
        code, out, err = chat(chat_stack, "publish", "--room", room, "--user", "cli", "hi", "all")
        assert code == 0, err
        assert out.startswith(f"sent {room} #1 "), out  # the HTTP publish's own line
        (message,) = messages_until(ws, "hi all")
        assert message["from"] == "cli"
        code, out, err = chat(chat_stack, "history", "--room", room, "--user", "cli", "--json")
        assert code == 0, err
        assert [json.loads(line)["text"] for line in out.splitlines()] == ["hi all"]
        code, out, err = chat(chat_stack, "notify", "--user", user, '{"n": 1}')
        assert code == 0, err
        assert "to 1 connection(s) over the HTTP API" in out, out
        note, _ = ws.receive_until(lambda f: f.get("type") == "notification")
        assert note["payload"] == {"n": 1}
