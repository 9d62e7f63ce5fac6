"""The CLI's HTTP API side: where the HTTP API is, and ``chat publish`` / ``history`` / ``notify``
over it.

The HTTP API's URL comes from ``--http URL``, else ``$CHAT_HTTP_URL``, else the local stack that
serves the WebSocket URL (its ``/_local/config`` names it as ``httpUrl``). When none is known the
commands keep using the WebSocket API (and ``chat notify`` the SNS topic), as before.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import jwt

from client.context import Environment, ExitStatus
from client.events import Message, parse_event
from client.render import Style, event_json, format_message

__all__ = [
    "HTTP_URL_ENV",
    "add_http_option",
    "history",
    "local_http_url",
    "notify",
    "publish",
    "resolve_http_url",
]

HTTP_URL_ENV = "CHAT_HTTP_URL"


def add_http_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--http",
        metavar="URL",
        help=f"HTTP API base URL (default: ${HTTP_URL_ENV}, or the local stack's when it has one)",
    )


def local_http_url(ws_url: str, *, timeout: float = 2.0) -> str | None:
    """The ``httpUrl`` of the local stack serving ``ws_url``, or None (no stack, or none)."""
    parts = urlsplit(ws_url)
    if parts.scheme not in ("ws", "wss", "http", "https") or not parts.netloc:
        return None
    scheme = "https" if parts.scheme in ("wss", "https") else "http"
    try:
        with urllib.request.urlopen(
            f"{scheme}://{parts.netloc}/_local/config", timeout=timeout
        ) as r:
            config = json.load(r)
    except (urllib.error.URLError, OSError, ValueError):
        return None
    url = config.get("httpUrl") if isinstance(config, dict) else None
    return str(url) if isinstance(url, str) and url.startswith(("http://", "https://")) else None


async def resolve_http_url(args: argparse.Namespace, env: Environment, ws_url: str) -> str | None:
    explicit = getattr(args, "http", None) or env.environ.get(HTTP_URL_ENV)
    if explicit:
        return str(explicit)
    return await asyncio.to_thread(local_http_url, ws_url)


def _user_of(token: str) -> str | None:
    # Only to mark the user's own lines; the server verified (or will verify) the token.
    try:
        sub = jwt.decode(token, options={"verify_signature": False}).get("sub")
    except jwt.PyJWTError:
        return None
    return sub if isinstance(sub, str) else None


def _write(env: Environment, line: str) -> None:
    env.stdout.write(line + "\n")
    env.stdout.flush()


async def publish(
    args: argparse.Namespace, env: Environment, url: str, token: str, texts: list[str]
) -> int:
    from client.http import HttpClient

    async with HttpClient(url, token, timeout=args.timeout) as api:
        for index, text in enumerate(texts):
            ref = f"{args.ref}-{index}" if args.ref and len(texts) > 1 else args.ref
            ack = await api.publish(args.room, text, ref=ref)
            line = json.dumps(ack) if args.json else f"sent {ack['room']} #{ack['seq']} {ack['id']}"
            _write(env, line)
    return ExitStatus.OK


async def history(args: argparse.Namespace, env: Environment, url: str, token: str) -> int:
    from client.http import HttpClient

    style = Style(color=env.color and not args.json)
    me = _user_of(token)
    async with HttpClient(url, token, timeout=args.timeout) as api:
        page = await api.history_page(
            args.room, after=args.after, before=args.before, limit=args.limit
        )
    for raw in page.messages:
        message = parse_event({"type": "message", **raw})
        if not isinstance(message, Message):
            continue
        _write(
            env, event_json(message) if args.json else format_message(message, me=me, style=style)
        )
    return ExitStatus.OK


async def notify(
    args: argparse.Namespace, env: Environment, url: str, token: str, message: dict[str, Any]
) -> int:
    from client.http import HttpClient

    targets = message["targets"]
    async with HttpClient(url, token) as api:
        answer = await api.notify(
            message["payload"],
            users=targets.get("users", ()),
            rooms=targets.get("rooms", ()),
            everyone=bool(targets.get("all")),
            id=message["id"],
        )
    _write(
        env,
        f"delivered notification {answer.get('id')} to {answer.get('delivered', 0)} "
        "connection(s) over the HTTP API",
    )
    return ExitStatus.OK
