"""The browser page's ``fetchHistoryPage`` (client/web/chat.js) over real HTTP: Node runs the
module against a small aiohttp server on 127.0.0.1, as a browser would call the HTTP API."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.unit.client_fake_server import TIMEOUT

CHAT_JS = Path(__file__).resolve().parents[2] / "client" / "web" / "chat.js"
NODE = shutil.which("node")

SCRIPT = """
const { fetchHistoryPage } = await import(process.argv[1]);
const [url, room] = [process.argv[2], process.argv[3]];
try {
  const page = await fetchHistoryPage(url, "TOKEN", room, { before: 42, limit: 2 });
  console.log(JSON.stringify({ ok: page }));
} catch (error) {
  const { code, status, message } = error;
  console.log(JSON.stringify({ error: { code, status, message } }));
}
"""


@pytest.fixture
async def api() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    async def history(request: web.Request) -> web.Response:
        seen.append(
            {
                "path": request.raw_path,
                "query": dict(request.query),
                "authorization": request.headers.get("Authorization"),
            }
        )
        if request.match_info["room"] == "private:ops":
            body = {"code": "forbidden", "message": "your token does not grant the room"}
            return web.json_response(body, status=403)
        messages = [{"type": "message", "seq": 40, "text": "a"}, {"type": "message", "seq": 41}]
        return web.json_response({"room": "lobby", "messages": messages, "next": "c1"})

    app = web.Application()
    app.router.add_get("/rooms/{room}/messages", history)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/", seen
    finally:
        await runner.cleanup()


async def run_node(url: str, room: str) -> dict[str, Any]:
    assert NODE, "node is needed to run the page's module"
    process = await asyncio.create_subprocess_exec(
        NODE,
        "--input-type=module",
        "-e",
        SCRIPT,
        CHAT_JS.as_uri(),
        url,
        room,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    assert process.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out)
    return result


async def test_fetch_history_page_reads_a_page_with_the_bearer_token(
    api: tuple[str, list[dict[str, Any]]],
) -> None:
    url, seen = api
    result = await run_node(url, "lobby")
    assert result["ok"]["next"] == "c1"
    assert [m["seq"] for m in result["ok"]["messages"]] == [40, 41]
    assert seen == [
        {
            "path": "/rooms/lobby/messages?before=42&limit=2",
            "query": {"before": "42", "limit": "2"},
            "authorization": "Bearer TOKEN",
        }
    ]


async def test_fetch_history_page_rejects_with_the_stable_code(
    api: tuple[str, list[dict[str, Any]]],
) -> None:
    url, seen = api
    result = await run_node(url, "private:ops")
    assert result["error"] == {
        "code": "forbidden",
        "status": 403,
        "message": "your token does not grant the room",
    }
    assert seen[0]["path"].startswith("/rooms/private%3Aops/messages")
