"""The asyncio chat client.

:class:`ChatClient` keeps one WebSocket to the backend and survives losing it: it reconnects with
exponential backoff and full jitter, joins its rooms again, asks ``history`` for whatever it
missed (each room's ``seq`` is gapless, so a gap is visible) and drops duplicates by ``id``. A
``messages`` frame (several messages of a busy room at once) is taken apart into its messages,
which go through the same ordering and de-duplication as messages that arrive alone. While
it reconnects, requests wait for the connection (a bounded number, for a bounded time), and a
``send`` that never got its ack is sent again with the same ``ref``, which the server stores once.
A token the server refuses (HTTP 401/403 at the upgrade) is never retried: it raises
:class:`~client.errors.AuthError`. A ``token_provider`` keeps a long-lived client signed in:
when the server sends ``reauth_required`` it is asked for a fresh token, sent as ``reauth``,
and every reconnect opens with a fresh one too.

::

    async with ChatClient(url, token) as chat:
        await chat.join("lobby")
        ack = await chat.send("lobby", "hello")
        async for event in chat.events():
            ...
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jwt
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.uri import parse_uri

from client.backoff import Backoff
from client.errors import (
    AuthError,
    ChatError,
    ConnectError,
    ConnectionLost,
    HandshakeError,
    RequestTimeout,
    SendQueueFull,
    ServerError,
)
from client.events import (
    Ack,
    Banned,
    Deleted,
    Edited,
    ErrorEvent,
    Event,
    History,
    Joined,
    Kicked,
    Left,
    Message,
    Messages,
    Moderated,
    Pong,
    Presence,
    Reacted,
    ReadMarker,
    Reauthed,
    ReauthRequired,
    RoomList,
    parse_event,
)
from client.tracker import RoomTracker

__all__ = ["ChatClient", "ClientStats", "State", "with_token"]

log = logging.getLogger("client")

# Statuses worth another attempt: the server or something in front of it is busy or restarting.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# API Gateway closes an idle connection after 10 minutes; ping well before that.
DEFAULT_PING_INTERVAL = 300.0


class State(enum.Enum):
    CONNECTING = "connecting"
    OPEN = "open"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


@dataclass
class ClientStats:
    reconnects: int = 0
    resent: int = 0  # sends repeated with the same ref after a timeout or a lost connection
    gap_fills: int = 0  # history requests made to fill gaps
    batched_frames: int = 0  # ``messages`` frames received (several messages in one frame)
    batched_messages: int = 0  # the messages those frames carried


_CLOSED = object()


def with_token(url: str, token: str) -> str:
    """``url`` with ``token`` in its query string, where the REQUEST authorizer reads it."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "token"]
    query.append(("token", token))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _token_user(token: str) -> str | None:
    # Only to recognise this user's own messages; the server verifies the token, not us.
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    sub = claims.get("sub")
    return sub if isinstance(sub, str) else None


class ChatClient:
    """One user's connection to the chat backend."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        reconnect: bool = True,
        max_reconnect_attempts: int | None = None,
        backoff: Backoff | None = None,
        request_timeout: float = 10.0,
        send_retries: int = 2,
        rate_limit_retries: int = 8,
        queue_limit: int = 1000,
        queue_timeout: float = 30.0,
        ping_interval: float | None = DEFAULT_PING_INTERVAL,
        open_timeout: float = 10.0,
        gap_grace: float = 0.25,
        history_page: int = 100,
        origin: str | None = None,
        on_state: Callable[[State], object] | None = None,
        token_provider: TokenProvider | None = None,
    ) -> None:
        try:
            parse_uri(url)
        except InvalidURI as exc:
            raise ValueError(f"not a WebSocket URL: {url!r}") from exc
        self.url = url
        self.user_id = _token_user(token)
        self._full_url = with_token(url, token)
        # Called for a fresh token when the server says ``reauth_required`` and before each
        # reconnect; without it the client reconnects with the token it has.
        self._token_provider = token_provider
        self._reconnect = reconnect
        self._max_attempts = max_reconnect_attempts
        self._backoff = backoff or Backoff()
        self.request_timeout = request_timeout
        self._send_retries = send_retries
        self._rate_limit_retries = rate_limit_retries
        self._queue_limit = queue_limit
        self._queue_timeout = queue_timeout
        self._ping_interval = ping_interval
        self._open_timeout = open_timeout
        self._gap_grace = gap_grace
        self._history_page = history_page
        self._origin = origin
        self.on_state = on_state  # called with each new State; may be replaced before connect()

        self.state = State.CLOSED
        self.stats = ClientStats()
        self.tracker = RoomTracker()
        self._rooms: set[str] = set()  # joined, to be joined again after a reconnect
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._opened = asyncio.Event()
        self._pending: dict[str, asyncio.Future[Event]] = {}
        self._waiting = 0
        self._closing = False
        self._fatal: ChatError | None = None
        self._events: asyncio.Queue[Any] = asyncio.Queue()
        self._fills: dict[str, asyncio.Task[None]] = {}
        self._fill_again: set[str] = set()
        self._helpers: set[asyncio.Task[Any]] = set()
        self._last_sent = 0.0

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> ChatClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def rooms(self) -> frozenset[str]:
        return frozenset(self._rooms)

    async def connect(self) -> None:
        """Open the connection; the first failure raises (later ones are retried)."""
        if self._task is not None:
            raise RuntimeError("ChatClient.connect() may be called once")
        self._set_state(State.CONNECTING)
        try:
            ws = await self._open()
        except ChatError:
            self._set_state(State.CLOSED)
            raise
        self._ws = ws
        self._task = asyncio.create_task(self._supervise(ws), name="chat-client")
        self._set_open()

    async def close(self) -> None:
        """Close for good: pending requests fail with :class:`ConnectionLost`."""
        self._closing = True
        task, ws = self._task, self._ws
        if task is None:
            self._finish()
            return
        if ws is not None:
            await ws.close()
        else:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def drop(self) -> None:
        """Cut the network connection without a closing handshake, as a network failure would.

        The client then behaves exactly as after a real outage; tests and the load tester's
        fault injection use this.
        """
        ws = self._ws
        if ws is not None and ws.transport is not None:
            ws.transport.abort()

    # -- requests ------------------------------------------------------------------------------

    async def join(self, room: str, *, timeout: float | None = None) -> Joined:
        self.tracker.expect(room)
        try:
            joined = await self._request({"action": "join", "room": room}, timeout=timeout)
        except BaseException:
            if room not in self._rooms:
                self.tracker.forget(room)
            raise
        assert isinstance(joined, Joined)
        self._rooms.add(room)
        self._after_join(room, joined.seq)
        return joined

    async def leave(self, room: str, *, timeout: float | None = None) -> Left:
        left = await self._request({"action": "leave", "room": room}, timeout=timeout)
        assert isinstance(left, Left)
        self._rooms.discard(room)
        self.tracker.forget(room)
        return left

    async def send(
        self,
        room: str,
        text: str,
        *,
        ref: str | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        attachments: Sequence[str] = (),
    ) -> Ack:
        """Send ``text`` to ``room`` and return its ack; retries reuse ``ref``, stored once.

        ``attachments`` are ids of files uploaded for this room (``client.attachments``).
        """
        frame: dict[str, Any] = {"action": "send", "room": room, "text": text}
        frame["ref"] = ref or _new_ref()
        if attachments:
            frame["attachments"] = list(attachments)
        return await self._reliable(frame, timeout=timeout, retries=retries)

    async def dm(
        self,
        to: str,
        text: str,
        *,
        ref: str | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        attachments: Sequence[str] = (),
    ) -> Ack:
        """A direct message to user ``to``; it lands in the pair's room ``dm:{a}:{b}``."""
        frame: dict[str, Any] = {"action": "dm", "to": to, "text": text}
        frame["ref"] = ref or _new_ref()
        if attachments:
            frame["attachments"] = list(attachments)
        return await self._reliable(frame, timeout=timeout, retries=retries)

    async def history(
        self,
        room: str,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int | None = None,
        timeout: float | None = None,
    ) -> History:
        frame: dict[str, Any] = {"action": "history", "room": room}
        for key, value in (("after", after), ("before", before), ("limit", limit)):
            if value is not None:
                frame[key] = value
        reply = await self._request(frame, timeout=timeout)
        assert isinstance(reply, History)
        return reply

    async def who(self, room: str, *, timeout: float | None = None) -> Presence:
        reply = await self._request({"action": "who", "room": room}, timeout=timeout)
        assert isinstance(reply, Presence)
        return reply

    async def typing(self, room: str) -> None:
        """Tell the room this user is typing (no reply, nothing stored)."""
        await self._wait_open()
        await self._write({"action": "typing", "room": room})

    async def ping(self, *, timeout: float | None = None) -> Pong:
        reply = await self._request({"action": "ping"}, timeout=timeout)
        assert isinstance(reply, Pong)
        return reply

    # -- edits, reactions, read markers, moderation, sessions -----------------------------------

    async def edit(
        self, room: str, message_id: str, text: str, *, timeout: float | None = None
    ) -> Edited:
        """Replace the text of a message (yours, or any as a moderator)."""
        frame = {"action": "edit", "room": room, "id": message_id, "text": text}
        return await self._typed(frame, Edited, timeout)

    async def delete(self, room: str, message_id: str, *, timeout: float | None = None) -> Deleted:
        """Delete a message: history keeps a tombstone at its seq."""
        frame = {"action": "delete", "room": room, "id": message_id}
        return await self._typed(frame, Deleted, timeout)

    async def react(
        self, room: str, message_id: str, emoji: str, *, timeout: float | None = None
    ) -> Reacted:
        frame = {"action": "react", "room": room, "id": message_id, "emoji": emoji}
        return await self._typed(frame, Reacted, timeout)

    async def unreact(
        self, room: str, message_id: str, emoji: str, *, timeout: float | None = None
    ) -> Reacted:
        frame = {"action": "unreact", "room": room, "id": message_id, "emoji": emoji}
        return await self._typed(frame, Reacted, timeout)

    async def read(self, room: str, seq: int, *, timeout: float | None = None) -> ReadMarker:
        """Mark ``room`` read up to ``seq`` (the marker never moves back)."""
        return await self._typed({"action": "read", "room": room, "seq": seq}, ReadMarker, timeout)

    async def room_list(self, *, timeout: float | None = None) -> RoomList:
        """This user's rooms with their latest seq, read marker and unread count."""
        return await self._typed({"action": "rooms"}, RoomList, timeout)

    async def kick(self, room: str, user: str, *, timeout: float | None = None) -> Moderated:
        frame = {"action": "kick", "room": room, "user": user}
        return await self._typed(frame, Moderated, timeout)

    async def ban(
        self,
        room: str,
        user: str,
        *,
        seconds: int | None = None,
        timeout: float | None = None,
    ) -> Moderated:
        frame: dict[str, Any] = {"action": "ban", "room": room, "user": user}
        if seconds is not None:
            frame["seconds"] = seconds
        return await self._typed(frame, Moderated, timeout)

    async def unban(self, room: str, user: str, *, timeout: float | None = None) -> Moderated:
        frame = {"action": "unban", "room": room, "user": user}
        return await self._typed(frame, Moderated, timeout)

    async def reauth(self, token: str, *, timeout: float | None = None) -> Reauthed:
        """Extend this connection with a fresh token of the same user; later reconnects use it."""
        reply = await self._typed({"action": "reauth", "token": token}, Reauthed, timeout)
        self._full_url = with_token(self.url, token)
        return reply

    async def _typed(self, frame: dict[str, Any], kind: type[_E], timeout: float | None) -> _E:
        reply = await self._request(frame, timeout=timeout)
        assert isinstance(reply, kind), reply
        return reply

    async def _fresh_token(self) -> str | None:
        if self._token_provider is None:
            return None
        try:
            token = self._token_provider()
            if inspect.isawaitable(token):
                token = await token
        except Exception:
            log.exception("the token provider failed")
            return None
        return token if isinstance(token, str) and token else None

    async def _refresh(self) -> None:
        """On ``reauth_required``: extend the connection, or let it close and reconnect."""
        token = await self._fresh_token()
        if token is None:
            return
        try:
            reauthed = await self._typed({"action": "reauth", "token": token}, Reauthed, None)
        except ChatError as exc:
            log.warning("reauth refused: %s", exc)
        else:
            self._events.put_nowait(reauthed)  # the application may want to know
        # Whatever the server said, the next connection opens with the fresh token.
        self._full_url = with_token(self.url, token)

    # -- events --------------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[Event]:
        """Server events in arrival order (messages in ``seq`` order per room, without duplicates).

        A ``messages`` frame comes out as its :class:`Message` events, one by one. Replies to
        this client's own requests are not repeated here. The iteration ends when the
        client is closed, or raises the error that closed it (such as :class:`AuthError`).
        """
        while True:
            item = await self._events.get()
            if item is _CLOSED:
                self._events.put_nowait(_CLOSED)  # for any other consumer
                if self._fatal is not None:
                    raise self._fatal
                return
            yield item

    # -- internals: connection -----------------------------------------------------------------

    def _set_state(self, state: State) -> None:
        if state is self.state:
            return
        self.state = state
        if self.on_state is not None:
            try:
                self.on_state(state)
            except Exception:
                log.exception("connection-state callback failed")

    def _set_open(self) -> None:
        self._backoff.reset()
        self._set_state(State.OPEN)
        self._opened.set()

    async def _open(self) -> ClientConnection:
        try:
            return await ws_connect(
                self._full_url,
                origin=self._origin,  # type: ignore[arg-type]
                open_timeout=self._open_timeout,
                compression=None,  # API Gateway does not negotiate it; saves memory per socket
                max_size=2**22,
                close_timeout=2,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise AuthError(status) from None
            if status in RETRYABLE_STATUSES:
                raise ConnectError(f"server at {self.url} answered HTTP {status}") from None
            raise HandshakeError(status) from None
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConnectError(f"cannot reach {self.url}: {reason or type(exc).__name__}") from None

    async def _supervise(self, ws: ClientConnection) -> None:
        try:
            while True:
                self._ws = ws
                keepalive = self._spawn(self._keepalive(ws))
                await self._read(ws)
                keepalive.cancel()
                self._ws = None
                self._opened.clear()
                self._fail_pending(ConnectionLost("connection closed"))
                if self._closing or not self._reconnect:
                    return
                self._set_state(State.RECONNECTING)
                reopened = await self._reopen()
                if reopened is None:
                    return
                ws = reopened
                self.stats.reconnects += 1
                self._spawn(self._resync(ws))
        finally:
            self._finish()

    async def _reopen(self) -> ClientConnection | None:
        attempts = 0
        while not self._closing:
            if self._max_attempts is not None and attempts >= self._max_attempts:
                self._fatal = ConnectError(f"gave up reconnecting to {self.url}")
                return None
            await asyncio.sleep(self._backoff.next())
            attempts += 1
            token = await self._fresh_token()
            if token is not None:
                self._full_url = with_token(self.url, token)
            try:
                return await self._open()
            except ConnectError as exc:
                if isinstance(exc, HandshakeError) and exc.status not in RETRYABLE_STATUSES:
                    self._fatal = exc  # AuthError included: the same token will not get better
                    return None
                log.info("reconnect attempt %d failed: %s", attempts, exc)
        return None

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                if isinstance(frame, str):
                    self._dispatch(frame)
        except ConnectionClosed:
            pass

    def _finish(self) -> None:
        for task in (*self._helpers, *self._fills.values()):
            task.cancel()
        self._ws = None
        error = self._fatal or ConnectionLost("client closed")
        self._fail_pending(error)
        self._set_state(State.CLOSED)
        self._opened.set()  # wake queued requests so they see CLOSED
        self._events.put_nowait(_CLOSED)

    def _fail_pending(self, error: ChatError) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._helpers.add(task)
        task.add_done_callback(self._helpers.discard)
        return task

    async def _keepalive(self, ws: ClientConnection) -> None:
        if not self._ping_interval:
            return
        loop = asyncio.get_running_loop()
        self._last_sent = loop.time()
        while True:
            idle = loop.time() - self._last_sent
            if idle < self._ping_interval:
                await asyncio.sleep(self._ping_interval - idle)
                continue
            try:
                await self._request({"action": "ping"}, timeout=self.request_timeout, internal=True)
            except RequestTimeout:
                # No pong: the connection is dead even if TCP has not noticed; start over.
                ws.transport.abort()
                return
            except ChatError:
                return

    async def _resync(self, ws: ClientConnection) -> None:
        """After a reconnect: join the rooms again and catch up on what was missed."""
        try:
            for room in sorted(self._rooms):
                try:
                    joined = await self._request(
                        {"action": "join", "room": room}, timeout=None, internal=True
                    )
                except ServerError as exc:
                    # e.g. access to a private room withdrawn: tell the application, move on.
                    self._rooms.discard(room)
                    self.tracker.forget(room)
                    raw = {"type": "error", "code": exc.code, "message": exc.message, "room": room}
                    self._events.put_nowait(parse_event(raw))
                    continue
                assert isinstance(joined, Joined)
                self._after_join(room, joined.seq)
            for room, last in self.tracker.rooms().items():
                if room not in self._rooms and last is not None:
                    self._start_fill(room, grace=False)  # DM rooms: no join, just catch up
        except ChatError:
            return  # the connection failed again; the supervisor takes it from here
        if self._ws is ws:
            self._set_open()

    # -- internals: messages -------------------------------------------------------------------

    def _dispatch(self, frame: str) -> None:
        try:
            raw = json.loads(frame)
        except ValueError:
            log.warning("ignored a frame that is not JSON")
            return
        if not isinstance(raw, dict):
            return
        event = parse_event(raw)
        if isinstance(event, Message):
            deliver, gap = self.tracker.receive(event)
            self._deliver(deliver)
            if gap is not None:
                self._start_fill(event.room, grace=True)
            return
        if isinstance(event, Messages):
            # One frame of several messages: the same path as each arriving alone.
            self.stats.batched_frames += 1
            self.stats.batched_messages += len(event.messages)
            deliver, gaps = self.tracker.receive_batch(event.messages)
            self._deliver(deliver)
            for gap in gaps:
                self._start_fill(gap.room, grace=True)
            return
        if isinstance(event, ReauthRequired) and self._token_provider is not None:
            self._spawn(self._refresh())
        if isinstance(event, (Kicked, Banned)):
            # Out of the room: not to be joined again after a reconnect.
            self._rooms.discard(event.room)
            self.tracker.forget(event.room)
        ref = event.ref
        future = self._pending.pop(ref, None) if ref else None
        if future is not None:
            if future.done():
                return
            if isinstance(event, ErrorEvent):
                future.set_exception(ServerError(event.code, event.message, ref=ref))
            else:
                future.set_result(event)
            return
        if ref is not None and isinstance(
            event, (Ack, Joined, Left, History, Pong, Edited, Deleted, ReadMarker, RoomList)
        ):
            # Replies go only to the connection that asked: this is a late answer to a request
            # of ours that already timed out (a retried send's first ack, say). Not news.
            return
        self._events.put_nowait(event)

    def _deliver(self, messages: list[Message]) -> None:
        for message in messages:
            self._events.put_nowait(message)

    def _after_join(self, room: str, seq: int) -> None:
        deliver, gap = self.tracker.joined(room, seq)
        self._deliver(deliver)
        if gap is not None:
            self._start_fill(room, grace=False)

    def _start_fill(self, room: str, *, grace: bool) -> None:
        running = self._fills.get(room)
        if running is not None and not running.done():
            self._fill_again.add(room)  # it may be past the point that would see this gap
            return
        self._fills[room] = asyncio.create_task(self._fill_then_recheck(room, grace=grace))

    async def _fill_then_recheck(self, room: str, *, grace: bool) -> None:
        try:
            await self._fill(room, grace=grace)
        finally:
            if room in self._fill_again and self.state is not State.CLOSED:
                self._fill_again.discard(room)
                self._fills[room] = asyncio.create_task(self._fill_then_recheck(room, grace=False))

    async def _fill(self, room: str, *, grace: bool) -> None:
        # A message past a gap often just overtook the missing one; give it a moment to arrive
        # before asking history. After a reconnect there is nothing to wait for.
        tries = 3
        for attempt in range(tries):
            if grace or attempt:
                await asyncio.sleep(self._gap_grace)
                if self.tracker.gap(room) is None and grace and not attempt:
                    return
            try:
                while True:
                    last = self.tracker.last(room)
                    if last is None:
                        return
                    self.stats.gap_fills += 1
                    page = await self._request(
                        {
                            "action": "history",
                            "room": room,
                            "after": last,
                            "limit": self._history_page,
                        },
                        timeout=None,
                        internal=True,
                    )
                    assert isinstance(page, History)
                    self._deliver(self.tracker.fill(room, page.messages))
                    if len(page.messages) < self._history_page:
                        break
            except ServerError as exc:
                log.warning("history for %s failed: %s", room, exc.code)
                break
            except ChatError:
                return  # connection lost: the next resync fills from the same point
            if self.tracker.gap(room) is None:
                return
        self._deliver(self.tracker.give_up(room))

    # -- internals: requests -------------------------------------------------------------------

    async def _wait_open(self) -> None:
        if self._opened.is_set() and self.state is State.OPEN:
            return
        if self.state is State.CLOSED:
            raise self._fatal or ConnectionLost("client is closed")
        if self._waiting >= self._queue_limit:
            raise SendQueueFull(f"{self._waiting} requests already wait for the connection")
        self._waiting += 1
        try:
            await asyncio.wait_for(self._opened.wait(), self._queue_timeout)
        except TimeoutError:
            raise RequestTimeout(
                f"not reconnected within {self._queue_timeout:g}s; request not sent"
            ) from None
        finally:
            self._waiting -= 1
        if self.state is State.CLOSED:
            raise self._fatal or ConnectionLost("client is closed")

    async def _write(self, frame: dict[str, Any]) -> None:
        ws = self._ws
        if ws is None:
            raise ConnectionLost("not connected")
        try:
            await ws.send(json.dumps(frame, separators=(",", ":")))
        except ConnectionClosed:
            # Hold further requests until the supervisor has a new connection.
            self._opened.clear()
            raise ConnectionLost("connection closed") from None
        self._last_sent = asyncio.get_running_loop().time()

    async def _request(
        self, frame: dict[str, Any], *, timeout: float | None, internal: bool = False
    ) -> Event:
        if not internal:
            await self._wait_open()
        ref = frame.setdefault("ref", _new_ref())
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._pending[ref] = future
        try:
            await self._write(frame)
            return await asyncio.wait_for(future, timeout or self.request_timeout)
        except TimeoutError:
            raise RequestTimeout(f"no reply to {frame['action']} within the timeout") from None
        finally:
            if self._pending.get(ref) is future:
                del self._pending[ref]

    async def _reliable(
        self, frame: dict[str, Any], *, timeout: float | None, retries: int | None
    ) -> Ack:
        budget = self._send_retries if retries is None else retries
        # The server's send budget is per second: a burst past it is worth a short, jittered
        # wait and the same ref again (8 times by default: at most ~5 s of waiting) before the
        # caller hears of it.
        slow_down = Backoff(base=0.1, cap=1.0)
        while True:
            # Waiting for the connection is bounded by the queue limit and timeout, and is not
            # retried: a request that waited that long has had its chance.
            await self._wait_open()
            try:
                reply = await self._request(dict(frame), timeout=timeout, internal=True)
            except ServerError as exc:
                if exc.code != "rate_limited" or slow_down.attempt >= self._rate_limit_retries:
                    raise
                await asyncio.sleep(slow_down.next())
                continue
            except RequestTimeout:
                if budget <= 0 or self.state is State.CLOSED:
                    raise
                budget -= 1
            except ConnectionLost:
                # The frame may or may not have reached the server; the same ref makes the
                # retry safe. Waiting for the connection is bounded by the queue timeout.
                if self.state is State.CLOSED or self._closing:
                    raise
            else:
                assert isinstance(reply, Ack)
                return reply
            self.stats.resent += 1


TokenProvider = Callable[[], "str | Awaitable[str]"]
_E = TypeVar("_E", bound=Event)


def _new_ref() -> str:
    return uuid.uuid4().hex
