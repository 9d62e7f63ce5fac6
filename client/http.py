"""The HTTP API client, for services and scripts that hold no socket.

::

    async with HttpClient("https://abc.execute-api.eu-west-1.amazonaws.com", token) as api:
        ack = await api.publish("lobby", "deploy finished")
        async for page in api.history("lobby", limit=50):
            ...
        await api.notify({"kind": "invoice"}, users=["alice"])

Requests that fail with 429 or a 5xx (or cannot reach the server) are retried with exponential
backoff and full jitter, waiting at least what ``Retry-After`` asks. Retrying is safe: a publish
carries an ``Idempotency-Key`` (the caller's ``ref``, or a fresh UUID) that stays the same on every
attempt, so the server stores it once and answers each retry with the first ack; a notification
keeps its ``id`` on every attempt, so receivers can drop a repeat. Errors are the client's own
(:mod:`client.errors`): the server's ``{"code", "message"}`` becomes :class:`HttpError` with that
stable code; API Gateway's 401/403 (``{"message": ...}`` without a code) become
:class:`AuthError`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from client.backoff import Backoff
from client.errors import AuthError, ConnectError, HttpError, RequestTimeout

__all__ = ["HistoryPage", "HttpClient", "RETRIED_STATUSES"]

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})

# API Gateway's own answers carry no code; these are the nearest stable ones.
_GATEWAY_CODES = {
    400: "bad_request",
    404: "not_found",
    413: "too_large",
    429: "rate_limited",
    500: "internal",
    502: "internal",
    503: "unavailable",
    504: "timeout",
}


@dataclass(frozen=True)
class HistoryPage:
    room: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    next: str | None = None  # the cursor of the next page, None on the last


def _room(room: str) -> str:
    return quote(room, safe="")


class HttpClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        retries: int = 4,
        backoff: Callable[[], Backoff] = lambda: Backoff(base=0.2, cap=5.0),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        new_key: Callable[[], str] = lambda: str(uuid.uuid4()),
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"the HTTP API URL must start with http:// or https://: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._retries = max(0, retries)
        self._backoff = backoff  # a fresh schedule per request
        self._sleep = sleep
        self._new_key = new_key
        self._session = session
        self._own_session = session is None

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None and self._own_session:
            await self._session.close()
        self._session = None

    # ---- the routes -----------------------------------------------------------------------

    async def publish(self, room: str, text: str, *, ref: str | None = None) -> dict[str, Any]:
        """Post a message; return the ack (``{"type": "ack", "id", "room", "seq", "ref"}``)."""
        key = ref or self._new_key()
        return await self._call(
            "POST",
            f"/rooms/{_room(room)}/messages",
            json={"text": text},
            headers={"Idempotency-Key": key},
        )

    async def history_page(
        self,
        room: str,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> HistoryPage:
        """One page in seq order: the latest (or those before ``before``), or those after
        ``after``; ``page.next`` goes on (earlier pages, or later ones after ``after``)."""
        params: dict[str, str] = {}
        for name, value in (("after", after), ("before", before), ("limit", limit)):
            if value is not None:
                params[name] = str(value)
        if cursor:
            params["cursor"] = cursor
        body = await self._call("GET", f"/rooms/{_room(room)}/messages", params=params)
        return HistoryPage(
            room=str(body.get("room", room)),
            messages=list(body.get("messages") or []),
            next=body.get("next"),
        )

    async def history(
        self,
        room: str,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int | None = None,
        max_pages: int | None = None,
    ) -> AsyncIterator[HistoryPage]:
        """Every page, following the cursors (at most ``max_pages``)."""
        page = await self.history_page(room, after=after, before=before, limit=limit)
        count = 1
        yield page
        while page.next and (max_pages is None or count < max_pages):
            page = await self.history_page(room, limit=limit, cursor=page.next)
            count += 1
            yield page

    async def members(self, room: str) -> list[dict[str, str]]:
        body = await self._call("GET", f"/rooms/{_room(room)}/members")
        return list(body.get("users") or [])

    async def me(self) -> dict[str, Any]:
        return await self._call("GET", "/me")

    async def rooms(self) -> list[dict[str, Any]]:
        """The caller's rooms by name, ``[{room, seq, read, unread}]`` (the WebSocket ``rooms``)."""
        body = await self._call("GET", "/me/rooms")
        return list(body.get("rooms") or [])

    async def notify(
        self,
        payload: Any,
        *,
        users: Sequence[str] = (),
        rooms: Sequence[str] = (),
        everyone: bool = False,
        id: str | None = None,
    ) -> dict[str, Any]:
        """Deliver a notification (scope ``chat/notify``); return ``{"id", "delivered", ...}``."""
        targets: dict[str, Any] = {}
        if users:
            targets["users"] = list(users)
        if rooms:
            targets["rooms"] = list(rooms)
        if everyone:
            targets["all"] = True
        message = {"targets": targets, "payload": payload, "id": id or self._new_key()}
        return await self._call("POST", "/notifications", json=message)

    async def disconnect_user(self, user: str) -> dict[str, Any]:
        """Close every connection of ``user`` (scope ``chat/admin``)."""
        return await self._call("POST", f"/users/{quote(user, safe='')}/disconnect")

    # ---- transport ------------------------------------------------------------------------

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
            self._own_session = True
        return self._session

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        url = self.base_url + path
        sent = {"Authorization": f"Bearer {self._token}", **(headers or {})}
        backoff = self._backoff()
        attempt = 0
        while True:
            status, body, retry_after, failure = await self._once(method, url, json, params, sent)
            if failure is None and status < 400:
                return body if isinstance(body, dict) else {}
            retriable = failure is not None or status in RETRIED_STATUSES
            if not retriable or attempt >= self._retries:
                raise failure or _error(status, body)
            await self._sleep(max(retry_after, 0.0) + backoff.next())
            attempt += 1

    async def _once(
        self,
        method: str,
        url: str,
        json: Any,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str],
    ) -> tuple[int, Any, float, Exception | None]:
        try:
            # encoded=True: the path goes out as quoted here ("private%3Aops"), not re-normalised.
            async with self._client().request(
                method, URL(url, encoded=True), json=json, params=params, headers=headers
            ) as reply:
                try:
                    body = await reply.json(content_type=None)
                except ValueError:
                    body = None
                return reply.status, body, _retry_after(reply.headers.get("retry-after")), None
        except TimeoutError:
            return 0, None, 0.0, RequestTimeout(f"no answer from {url} in time")
        except aiohttp.ClientError as exc:
            return 0, None, 0.0, ConnectError(f"cannot reach {self.base_url}: {exc}")


def _retry_after(value: str | None) -> float:
    try:
        return min(float(value), 30.0) if value else 0.0
    except ValueError:
        return 0.0


def _error(status: int, body: Any) -> Exception:
    data = body if isinstance(body, dict) else {}
    code, message = data.get("code"), str(data.get("message") or f"HTTP {status}")
    if not code and status in (401, 403):
        return AuthError(status)  # the gateway's authorizer refused the token
    return HttpError(str(code or _GATEWAY_CODES.get(status, "error")), message, status=status)
