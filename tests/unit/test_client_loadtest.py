"""The load tester against the fake server: counting against acks, report, exit status."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from client.cli import main
from client.context import Environment, ExitStatus
from client.loadtest import LoadConfig, run_load
from tests.unit.client_fake_server import SECRET, TIMEOUT, Stream, fake_token, running_fake


def config(url: str, **changes: Any) -> LoadConfig:
    base: dict[str, Any] = dict(
        url=url, connections=6, rooms=2, senders=2, rate=40.0, duration=0.25, drain=TIMEOUT / 5
    )
    base.update(changes)
    return LoadConfig(**base)


async def test_every_acked_message_reaches_every_member() -> None:
    async with running_fake() as (_, url):
        result = await run_load(config(url), lambda i: fake_token(f"u{i}"))
    assert (result.connected, result.sent, result.acked) == (6, 10, 10)
    assert result.expected == 10 * 3  # three members per room
    assert (result.delivered, result.lost, result.duplicates, result.out_of_order) == (30, 0, 0, 0)
    assert len(result.latency_ms) == 30 and all(ms >= 0 for ms in result.latency_ms)


async def test_loss_is_counted_and_wire_duplicates_are_reported() -> None:
    async with running_fake() as (server, url):
        server.duplicate_delivery = True
        # u1 never gets the last message of its room: no later message reveals the gap.
        server.skip_delivery = lambda conn, event: conn.user == "u1" and event["seq"] == 5
        result = await run_load(config(url, drain=TIMEOUT / 20), lambda i: fake_token(f"u{i}"))
    assert result.lost == 1
    assert result.duplicates == 0  # the client dropped them...
    assert result.wire_duplicates == 29  # ...and says how many it dropped


async def test_cli_loadtest_reports_and_exits_non_zero_on_loss(tmp_path: Path) -> None:
    async with running_fake() as (server, url):
        server.skip_delivery = lambda conn, event: conn.user.endswith("-1") and event["seq"] == 5
        stderr = Stream(tty=True)
        env = Environment(stdout=Stream(), stderr=stderr, environ={}, cwd=tmp_path)
        argv = ["loadtest", "-n", "6", "-r", "2", "-s", "2", "--rate", "40", "-d", "0.25"]
        argv += ["--drain", str(TIMEOUT / 20), "--url", url, "--user", "lt", "--secret", SECRET]
        argv += ["--json", str(tmp_path / "r.json"), "--plot", str(tmp_path / "r.png")]
        status = await asyncio.to_thread(main, argv, env=env)
    assert status == ExitStatus.LOSS
    table = env.stdout.getvalue()  # type: ignore[attr-defined]
    assert "6/6 connections over 2 rooms" in table
    assert "end-to-end" in table and "p99" in table
    assert "chat loadtest: 1 deliveries lost (allowed 0)" in stderr.getvalue()
    assert "connect" in stderr.getvalue()  # the progress bar, shown because stderr is a TTY
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["messages"]["lost"] == 1
    assert (tmp_path / "r.png").stat().st_size > 0

    async with running_fake() as (server, url):
        server.skip_delivery = lambda conn, event: conn.user.endswith("-1") and event["seq"] == 5
        env = Environment(stdout=Stream(), stderr=Stream(), environ={}, cwd=tmp_path)
        argv[argv.index("--url") + 1] = url
        status = await asyncio.to_thread(main, [*argv, "--max-loss", "1"], env=env)
    assert status == ExitStatus.OK
