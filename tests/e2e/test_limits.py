"""API Gateway's limits: 128 KB message / 32 KB frame (1009), idle timeout, maximum duration,
and the stage's throttling."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.e2e.harness import TIMEOUT, InProcessRuntime, make_api, running_gateway


def ok(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": "ok"}


def api(**kw: Any) -> Any:
    return make_api(
        {"$connect": "Connect", "$disconnect": "Disconnect", "$default": "Default"},
        two_way=("$default",),
        **kw,
    )


def runtime() -> InProcessRuntime:
    return InProcessRuntime({"Connect": ok, "Disconnect": ok, "Default": ok})


async def closed_code(ws: Any) -> int | None:
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(TIMEOUT):
            while True:
                await ws.recv()
    return ws.close_code


async def test_frame_over_32_kb_closes_with_1009() -> None:
    rt = runtime()
    async with running_gateway(api(), rt) as gw:
        ws = await connect(gw.ws_url)
        await ws.send("x" * (32 * 1024 + 1))
        assert await closed_code(ws) == 1009
        (event,) = await rt.wait_for("Disconnect")
    assert event["requestContext"]["disconnectStatusCode"] == 1009
    assert rt.events["Default"] == []


async def test_message_over_128_kb_in_small_frames_closes_with_1009() -> None:
    rt = runtime()
    async with running_gateway(api(), rt) as gw:
        ws = await connect(gw.ws_url)
        fragments = ["y" * (16 * 1024)] * 8 + ["z"]  # 128 KB + 1 byte, each frame well under 32 KB
        with pytest.raises(ConnectionClosed):
            await ws.send(fragments)
            await ws.recv()
        assert ws.close_code == 1009
        await rt.wait_for("Disconnect")


async def test_message_of_exactly_128_kb_in_frames_goes_through() -> None:
    rt = runtime()
    async with running_gateway(api(), rt) as gw, connect(gw.ws_url) as ws:
        await ws.send(["y" * (16 * 1024)] * 8)
        async with asyncio.timeout(TIMEOUT):
            assert await ws.recv() == "ok"
        (event,) = rt.events["Default"]
        assert len(event["body"]) == 128 * 1024


async def test_idle_connection_is_closed_with_1001_going_away() -> None:
    rt = runtime()
    async with running_gateway(api(), rt, idle_timeout=0.5) as gw:
        ws = await connect(gw.ws_url)
        assert await closed_code(ws) == 1001
        assert ws.close_reason == "Going away"
        (event,) = await rt.wait_for("Disconnect")
    ctx = event["requestContext"]
    assert (ctx["disconnectStatusCode"], ctx["disconnectReason"]) == (1001, "Going away")


async def test_messages_keep_an_idle_connection_open_until_max_duration() -> None:
    rt = runtime()
    async with running_gateway(api(), rt, idle_timeout=0.6, max_duration=1.5) as gw:
        ws = await connect(gw.ws_url)
        loop = asyncio.get_running_loop()
        opened = loop.time()
        # Back-to-back messages keep the idle timer away; only the maximum duration ends it.
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(TIMEOUT):
                while True:
                    await ws.send("ping")
                    assert await ws.recv() == "ok"
        assert ws.close_code == 1001
        assert loop.time() - opened >= 1.0  # well past the 0.6 s idle timeout
        await rt.wait_for("Disconnect")
    assert len(rt.events["Disconnect"]) == 1


async def test_stage_throttling_answers_too_many_requests_frames() -> None:
    rt = runtime()
    async with running_gateway(api(burst=3, rate=0.001), rt) as gw, connect(gw.ws_url) as ws:
        # The upgrade took one token; two messages pass, the third is throttled.
        for _ in range(3):
            await ws.send("m")
        frames = []
        async with asyncio.timeout(TIMEOUT):
            for _ in range(3):
                frames.append(await ws.recv())
        assert frames.count("ok") == 2
        throttled = [json.loads(f) for f in frames if f != "ok"]
        assert throttled[0]["message"] == "Too Many Requests"
        assert len(rt.events["Default"]) == 2
        with pytest.raises(InvalidStatus) as info:
            await connect(gw.ws_url)
        assert info.value.response.status_code == 429
