"""Test helpers for the client: an in-memory server that speaks the chat wire protocol, and a
stream that tests can wait on.

It is not the backend: it exists so the client's reactions (reconnect, gap fill, de-duplication,
retries, queued sends, rejected tokens) can be provoked on purpose, which the real stack does not
allow. The end-to-end tests run the same client against the real local stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import os
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

__all__ = ["TIMEOUT", "FakeChatServer", "Stream", "fake_token", "running_fake"]

# Every wait in these tests scales from this one constant, like the e2e tests' own.
TIMEOUT = 10.0 * float(os.environ.get("TEST_TIMEOUT_SCALE", "1"))

SECRET = "fake-server-secret-at-least-32-bytes!"


def fake_token(user: str, name: str | None = None) -> str:
    return jwt.encode({"sub": user, "name": name or user.title()}, SECRET, algorithm="HS256")


@dataclass
class Conn:
    ws: ServerConnection
    user: str
    name: str
    rooms: set[str] = field(default_factory=set)


class FakeChatServer:
    def __init__(self) -> None:
        self.conns: list[Conn] = []
        self.log: dict[str, list[dict[str, Any]]] = defaultdict(list)  # room -> messages
        self.refs: dict[tuple[str, str], dict[str, Any]] = {}
        self.frames: list[tuple[str, dict[str, Any]]] = []  # (user, frame) as received
        self.status: int | None = None  # answer every upgrade with this status when set
        self.rejected_tokens: set[str] = set()
        # Hooks to provoke faults: return True to skip that delivery / that reply.
        self.skip_delivery: Callable[[Conn, dict[str, Any]], bool] = lambda conn, event: False
        self.skip_reply: Callable[[Conn, dict[str, Any]], bool] = lambda conn, event: False
        self.duplicate_delivery = False
        self.rate_limit_sends = 0  # answer this many next sends with rate_limited
        # Hold a room's live messages this many seconds, then send each member one `messages`
        # frame of them (as the broadcaster does with a stream batch); None: one frame each.
        self.batch_window: float | None = None
        # Return True to acknowledge a send without storing or delivering it (data loss).
        self.lose_send: Callable[[Conn, dict[str, Any]], bool] = lambda conn, frame: False
        self.history_error: str | None = None  # answer every `history` with this error code
        self._held: dict[str, list[dict[str, Any]]] = {}
        self.batches: list[tuple[str, dict[str, Any]]] = []  # (user, `messages` frame) sent
        self.changed = asyncio.Condition()
        self.upgrades = 0
        self._server: Server | None = None
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    # -- helpers for tests ---------------------------------------------------------------------

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(predicate), timeout)

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    def connections_of(self, user: str) -> list[Conn]:
        return [c for c in self.conns if c.user == user]

    def kill(self, user: str) -> None:
        """Cut every connection of ``user`` without a closing handshake."""
        for conn in self.connections_of(user):
            assert conn.ws.transport is not None
            conn.ws.transport.abort()

    def members(self, room: str) -> list[Conn]:
        return [c for c in self.conns if room in c.rooms]

    def actions(self, action: str) -> list[dict[str, Any]]:
        return [frame for _, frame in self.frames if frame.get("action") == action]

    async def push(self, user: str, event: dict[str, Any]) -> None:
        for conn in self.connections_of(user):
            await conn.ws.send(json.dumps(event))

    # -- server --------------------------------------------------------------------------------

    async def start(self) -> str:
        self._server = await serve(
            self._handle, "127.0.0.1", 0, process_request=self._upgrade, compression=None
        )
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/dev"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _upgrade(self, connection: ServerConnection, request: Request) -> Response | None:
        self.upgrades += 1
        task = asyncio.get_running_loop().create_task(self._notify())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if self.status is not None:
            return connection.respond(HTTPStatus(self.status), "refused\n")
        token = parse_qs(urlsplit(request.path).query).get("token", [""])[0]
        try:
            claims = jwt.decode(token, SECRET, algorithms=["HS256"])
        except jwt.PyJWTError:
            return connection.respond(HTTPStatus.UNAUTHORIZED, "Unauthorized\n")
        if token in self.rejected_tokens:
            return connection.respond(HTTPStatus.FORBIDDEN, "Forbidden\n")
        connection.claims = claims  # type: ignore[attr-defined]
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        claims = ws.claims  # type: ignore[attr-defined]
        conn = Conn(ws=ws, user=claims["sub"], name=claims.get("name", claims["sub"]))
        self.conns.append(conn)
        await self._notify()
        try:
            async for raw in ws:
                frame = json.loads(raw)
                self.frames.append((conn.user, frame))
                await self._frame(conn, frame)
                await self._notify()
        except Exception:  # a killed socket: nothing to report
            pass
        finally:
            self.conns.remove(conn)
            await self._notify()

    async def _reply(self, conn: Conn, event: dict[str, Any], ref: str | None) -> None:
        if ref is not None:
            event["ref"] = ref
        if self.skip_reply(conn, event):
            return
        with contextlib.suppress(Exception):
            await conn.ws.send(json.dumps(event))

    async def _deliver(self, conns: list[Conn], event: dict[str, Any]) -> None:
        for conn in conns:
            if self.skip_delivery(conn, event):
                continue
            with contextlib.suppress(Exception):
                await conn.ws.send(json.dumps(event))
                if self.duplicate_delivery:
                    await conn.ws.send(json.dumps(event))

    async def _deliver_batch(self, room: str, messages: list[dict[str, Any]]) -> None:
        for conn in self.members(room):
            kept = [m for m in messages if not self.skip_delivery(conn, m)]
            if not kept:
                continue
            event = kept[0] if len(kept) == 1 else {"type": "messages", "room": room}
            if len(kept) > 1:
                event["messages"] = kept
                self.batches.append((conn.user, event))
            with contextlib.suppress(Exception):
                await conn.ws.send(json.dumps(event))
                if self.duplicate_delivery:
                    await conn.ws.send(json.dumps(event))

    def _hold(self, room: str, message: dict[str, Any]) -> None:
        if room not in self._held:
            self._held[room] = []
            task = asyncio.get_running_loop().create_task(self._flush_later(room))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._held[room].append(message)

    async def _flush_later(self, room: str) -> None:
        await asyncio.sleep(self.batch_window or 0.0)
        await self._deliver_batch(room, self._held.pop(room, []))

    def _store(self, conn: Conn, room: str, text: str, ref: str | None) -> dict[str, Any]:
        key = (conn.user, ref or uuid.uuid4().hex)
        if key in self.refs:
            return self.refs[key]
        message = {
            "type": "message",
            "id": f"m{next(self._ids)}",
            "room": room,
            "seq": len(self.log[room]) + 1,
            "from": conn.user,
            "name": conn.name,
            "text": text,
            "ts": int(time.time() * 1000),
        }
        self.log[room].append(message)
        ack = {"type": "ack", "id": message["id"], "room": room, "seq": message["seq"]}
        self.refs[key] = ack
        return ack

    async def _frame(self, conn: Conn, frame: dict[str, Any]) -> None:
        action, ref, room = frame.get("action"), frame.get("ref"), frame.get("room", "")
        if action == "join":
            conn.rooms.add(room)
            await self._reply(
                conn, {"type": "joined", "room": room, "seq": len(self.log[room])}, ref
            )
        elif action == "leave":
            conn.rooms.discard(room)
            await self._reply(conn, {"type": "left", "room": room}, ref)
        elif action in ("send", "dm"):
            if self.rate_limit_sends > 0:
                self.rate_limit_sends -= 1
                await self._reply(
                    conn, {"type": "error", "code": "rate_limited", "message": "slow down"}, ref
                )
                return
            if action == "dm":
                room = "dm:" + ":".join(sorted((conn.user, frame["to"])))
                recipients = [c for c in self.conns if c.user in (conn.user, frame["to"])]
            else:
                if room not in conn.rooms:
                    await self._reply(
                        conn, {"type": "error", "code": "not_member", "message": "join first"}, ref
                    )
                    return
                recipients = self.members(room)
            if self.lose_send(conn, frame):
                seq = len(self.log[room]) + 1
                ack = {"type": "ack", "id": f"lost-{next(self._ids)}", "room": room, "seq": seq}
                await self._reply(conn, ack, ref)
                return
            fresh = (conn.user, ref) not in self.refs
            ack = self._store(conn, room, frame.get("text", ""), ref)
            await self._reply(conn, dict(ack), ref)
            if fresh:
                message = self.log[room][ack["seq"] - 1]
                if self.batch_window is not None and action == "send":
                    self._hold(room, message)
                else:
                    await self._deliver(recipients, message)
        elif action == "history":
            if self.history_error is not None:
                error = {"type": "error", "code": self.history_error, "message": "no history"}
                await self._reply(conn, error, ref)
                return
            if not self.log.get(room):
                await self._reply(
                    conn, {"type": "error", "code": "not_found", "message": "no messages"}, ref
                )
                return
            after, limit = frame.get("after", 0), frame.get("limit", 100)
            messages = [m for m in self.log[room] if m["seq"] > after][:limit]
            await self._reply(conn, {"type": "history", "room": room, "messages": messages}, ref)
        elif action == "who":
            users = {c.user: {"id": c.user, "name": c.name} for c in self.members(room)}
            await self._reply(
                conn, {"type": "presence", "room": room, "users": list(users.values())}, ref
            )
        elif action == "typing":
            event = {"type": "typing", "room": room, "from": conn.user, "name": conn.name}
            await self._deliver([c for c in self.members(room) if c is not conn], event)
        elif action == "ping":
            await self._reply(conn, {"type": "pong"}, ref)
        else:
            await self._reply(
                conn, {"type": "error", "code": "unknown_action", "message": "no such action"}, ref
            )


@contextlib.asynccontextmanager
async def running_fake() -> AsyncIterator[tuple[FakeChatServer, str]]:
    server = FakeChatServer()
    url = await server.start()
    try:
        yield server, url
    finally:
        await server.stop()


class Stream(io.StringIO):
    """A text stream another thread can wait on: ``wait_for("text")``."""

    def __init__(self, initial: str = "", *, tty: bool = False) -> None:
        super().__init__(initial)
        self._tty = tty
        self._changed = threading.Condition()

    def isatty(self) -> bool:
        return self._tty

    def write(self, text: str) -> int:
        with self._changed:
            n = super().write(text)
            self._changed.notify_all()
        return n

    def wait_for(self, text: str, timeout: float = TIMEOUT) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: text in self.getvalue(), timeout):
                raise AssertionError(f"{text!r} never appeared in {self.getvalue()!r}")
