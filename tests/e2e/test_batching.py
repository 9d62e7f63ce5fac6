"""Batched deliveries through the whole local stack: real authorizer, chat handler, stream,
broadcaster and ``@connections``.

This module's stack reads the MessagesTable stream once every ``POLL`` seconds instead of ten
times a second, so a burst of sends lands in few stream batches, as it does on AWS under load;
everything else is the project's own template and local.yaml. The broadcaster then posts each
member one ``messages`` frame per batch and room, and clients must still see every message once,
in order.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import connect

from client import ChatClient, Message
from client.backoff import Backoff
from client.chat import with_token
from client.loadtest import LoadConfig, run_load
from local.sources import SourceOptions
from local.testing import StackThread
from tests.e2e.conftest import CHAT_CONFIG, CHAT_TEMPLATE, running_stack
from tests.e2e.harness import TIMEOUT

WAIT = 3 * TIMEOUT
POLL = TIMEOUT / 10
FRAME_UNIT_BYTES = 32 * 1024


@pytest.fixture(scope="module")
def batching_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackThread]:
    log_path = tmp_path_factory.mktemp("batching-stack") / "stack.log"
    # Streams read every POLL seconds and not woken by each write: the stack now keeps up with
    # a few sends a second, so only a slow poller lets records pile up into batches.
    options = SourceOptions(
        poll_interval=POLL, idle_poll_interval=POLL, wake_on_write=False, ttl_interval=0
    )
    with running_stack(
        CHAT_TEMPLATE, log_path, config=CHAT_CONFIG, source_options=options
    ) as running:
        yield running


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def client(stack: Any, user: str) -> ChatClient:
    return ChatClient(
        stack.ws_url,
        stack.dev_token(user, user.title()),
        backoff=Backoff(base=0.05, cap=0.5),
        request_timeout=WAIT,
    )


async def test_a_burst_reaches_each_member_in_messages_frames_once_in_order(
    batching_stack: Any,
) -> None:
    stack = batching_stack
    room, ada, bob, carol = unique("burst"), unique("ada"), unique("bob"), unique("carol")
    url = with_token(stack.ws_url, stack.dev_token(carol, "Carol"))
    async with client(stack, ada) as a, client(stack, bob) as b, connect(url) as raw:
        await a.join(room)
        await b.join(room)
        await raw.send(json.dumps({"action": "join", "room": room, "ref": "j"}))
        while json.loads(await asyncio.wait_for(raw.recv(), WAIT)).get("type") != "joined":
            pass

        acks = await asyncio.gather(*(a.send(room, f"burst {n}") for n in range(8)))
        assert sorted(ack.seq for ack in acks) == list(range(1, 9))

        # What the wire carried to a member that reads raw frames.
        frames: list[str] = []
        seen: list[dict[str, Any]] = []
        while len(seen) < 8:
            frame = await asyncio.wait_for(raw.recv(), WAIT)
            assert isinstance(frame, str)
            event = json.loads(frame)
            if event.get("type") == "message":
                seen.append(event)
            elif event.get("type") == "messages":
                assert event["room"] == room
                seen.extend(event["messages"])
            else:
                continue
            frames.append(frame)
        assert [m["seq"] for m in seen] == list(range(1, 9))
        # Concurrent sends are numbered in whatever order the store took them: the acks say.
        by_seq = sorted((ack.seq, ack.id, f"burst {n}") for n, ack in enumerate(acks))
        assert [(m["seq"], m["id"], m["text"]) for m in seen] == by_seq
        assert any(json.loads(f)["type"] == "messages" for f in frames)
        assert len(frames) < 8  # fewer frames on the wire than messages
        assert all(len(f.encode()) <= FRAME_UNIT_BYTES for f in frames)

        # The library reads the same frames as eight messages, once each, in order.
        got: list[Message] = []

        async def collect() -> None:
            async for event in b.events():
                if isinstance(event, Message):
                    got.append(event)
                    if len(got) == 8:
                        return

        await asyncio.wait_for(collect(), WAIT)
        assert [m.seq for m in got] == list(range(1, 9))
        assert b.stats.batched_frames >= 1
        assert b.tracker.stats.duplicates == 0 and b.stats.gap_fills == 0


async def test_load_test_on_batched_deliveries_loses_duplicates_and_misses_nothing(
    batching_stack: Any,
) -> None:
    config = LoadConfig(
        url=batching_stack.ws_url,
        connections=8,
        rooms=2,
        senders=2,
        rate=10.0,
        duration=2.0,
        size=120,
        drain=10 * TIMEOUT,
        timeout=WAIT,
    )
    prefix = unique("batched-load")
    result = await run_load(config, lambda i: batching_stack.dev_token(f"{prefix}-{i}"))
    report = {k: v for k, v in result.summary().items() if k not in ("timeline", "config")}
    print(json.dumps(report, indent=1))  # shown when the test fails
    assert result.connected == 8 and dict(result.errors) == {}
    assert result.sent == result.acked == result.stored == 20
    assert (result.lost, result.duplicates, result.undelivered, result.missed) == (0, 0, 0, 0)
    assert result.delivered + result.late == result.expected == 20 * 4
    assert result.out_of_order == 0
    assert result.batched_messages > result.batched_frames > 0
