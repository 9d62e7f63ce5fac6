"""The load tester against the fake server: counting against acks and history, report, exit."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from client.cli import main
from client.context import Environment, ExitStatus
from client.loadtest import LoadConfig, LoadRun, run_load
from tests.unit.client_fake_server import SECRET, TIMEOUT, Stream, fake_token, running_fake


def config(url: str, **changes: Any) -> LoadConfig:
    base: dict[str, Any] = dict(
        url=url,
        connections=6,
        rooms=2,
        senders=2,
        rate=40.0,
        duration=0.25,
        drain=TIMEOUT / 5,
        late_window=TIMEOUT / 5,
    )
    base.update(changes)
    return LoadConfig(**base)


def tokens(i: int) -> str:
    return fake_token(f"u{i}")


async def test_every_acked_message_reaches_every_member() -> None:
    async with running_fake() as (_, url):
        result = await run_load(config(url), tokens)
    assert (result.connected, result.sent, result.acked, result.stored) == (6, 10, 10, 10)
    assert result.expected == 10 * 3  # three members per room
    assert (result.delivered, result.lost, result.duplicates, result.out_of_order) == (30, 0, 0, 0)
    assert (result.late, result.undelivered, result.missed, result.unverified) == (0, 0, 0, 0)
    assert len(result.latency_ms) == 30 and all(ms >= 0 for ms in result.latency_ms)


async def test_batched_frames_are_counted_and_lose_nothing() -> None:
    async with running_fake() as (server, url):
        server.batch_window = TIMEOUT / 50  # each room's messages come a few at a time
        result = await run_load(config(url), tokens)
    assert (result.delivered, result.lost, result.undelivered, result.duplicates) == (30, 0, 0, 0)
    assert result.out_of_order == 0
    assert result.batched_frames > 0 and result.batched_messages > result.batched_frames
    assert result.summary()["client"]["batched_messages"] == result.batched_messages


async def test_a_delivery_that_never_comes_is_undelivered_not_lost() -> None:
    async with running_fake() as (server, url):
        server.duplicate_delivery = True
        # u1 never gets the last message of its room: no later message reveals the gap.
        server.skip_delivery = lambda conn, event: conn.user == "u1" and event["seq"] == 5
        result = await run_load(config(url, drain=TIMEOUT / 20, late_window=TIMEOUT / 20), tokens)
    assert (result.undelivered, result.lost, result.late) == (1, 0, 0)
    assert result.duplicates == 0  # the client dropped them...
    assert result.wire_duplicates == 29  # ...and says how many it dropped


async def test_an_acked_message_that_was_not_stored_is_lost() -> None:
    async with running_fake() as (server, url):
        lost: list[str] = []

        def lose_one(conn: Any, frame: dict[str, Any]) -> bool:
            if not lost and frame.get("action") == "send":
                lost.append(frame["ref"])
                return True
            return False

        server.lose_send = lose_one
        result = await run_load(config(url, drain=TIMEOUT / 20), tokens)
    assert (result.acked, result.stored, result.lost) == (10, 9, 1)
    assert (result.undelivered, result.late) == (0, 0)  # nothing stored is missing anywhere
    assert result.delivered == 27


async def test_a_delivery_after_the_drain_window_is_late() -> None:
    async with running_fake() as (server, url):
        held: list[dict[str, Any]] = []

        def hold(conn: Any, event: dict[str, Any]) -> bool:
            if conn.user == "u1" and event["seq"] == 5:
                held.append(event)
                return True
            return False

        server.skip_delivery = hold
        run = LoadRun(config(url, drain=TIMEOUT / 20), tokens)
        task = asyncio.create_task(run.run())
        # The load tester reads history only once the drain window is over: deliver it then.
        await server.wait_for(lambda: bool(server.actions("history")))
        await server.push("u1", held[0])
        result = await asyncio.wait_for(task, TIMEOUT)
    assert (result.late, result.undelivered, result.lost, result.delivered) == (1, 0, 0, 29)


async def test_cli_loadtest_reports_and_exits_non_zero_on_loss(tmp_path: Path) -> None:
    async with running_fake() as (server, url):
        server.skip_delivery = lambda conn, event: conn.user.endswith("-1") and event["seq"] == 5
        stderr = Stream(tty=True)
        env = Environment(stdout=Stream(), stderr=stderr, environ={}, cwd=tmp_path)
        argv = ["loadtest", "-n", "6", "-r", "2", "-s", "2", "--rate", "40", "-d", "0.25"]
        argv += ["--drain", str(TIMEOUT / 20), "--late-window", str(TIMEOUT / 20)]
        argv += ["--url", url, "--user", "lt", "--secret", SECRET]
        argv += ["--json", str(tmp_path / "r.json"), "--plot", str(tmp_path / "r.png")]
        status = await asyncio.to_thread(main, argv, env=env)
    assert status == ExitStatus.LOSS
    table = env.stdout.getvalue()  # type: ignore[attr-defined]
    assert "6/6 connections over 2 rooms" in table
    assert "end-to-end" in table and "p99" in table
    for label in ("lost (acked, not stored)", "undelivered", "late", "gap fills / reconnects"):
        assert label in table
    assert "chat loadtest: 1 deliveries never arrived (allowed 0)" in stderr.getvalue()
    assert "connect" in stderr.getvalue()  # the progress bar, shown because stderr is a TTY
    data = json.loads((tmp_path / "r.json").read_text())
    assert (data["messages"]["undelivered"], data["messages"]["lost"]) == (1, 0)
    assert (data["messages"]["late"], data["messages"]["stored"]) == (0, 10)
    assert data["client"]["gap_fills"] == 0 and data["client"]["reconnects"] == 0
    assert (tmp_path / "r.png").stat().st_size > 0

    async with running_fake() as (server, url):
        server.skip_delivery = lambda conn, event: conn.user.endswith("-1") and event["seq"] == 5
        env = Environment(stdout=Stream(), stderr=Stream(), environ={}, cwd=tmp_path)
        argv[argv.index("--url") + 1] = url
        status = await asyncio.to_thread(main, [*argv, "--max-loss", "1"], env=env)
    assert status == ExitStatus.OK


async def test_cli_loadtest_fails_on_a_lost_message_whatever_max_loss_allows(
    tmp_path: Path,
) -> None:
    async with running_fake() as (server, url):
        server.lose_send = lambda conn, frame: frame.get("text", "").find('"n":0,') > 0
        env = Environment(stdout=Stream(), stderr=Stream(), environ={}, cwd=tmp_path)
        argv = ["loadtest", "-n", "4", "-r", "2", "-s", "2", "--rate", "40", "-d", "0.1"]
        argv += ["--drain", str(TIMEOUT / 20), "--max-loss", "1000"]
        argv += ["--url", url, "--user", "lt", "--secret", SECRET]
        status = await asyncio.to_thread(main, argv, env=env)
    assert status == ExitStatus.LOSS
    assert "chat loadtest: 2 acked messages are not in their room's history (lost)" in (
        env.stderr.getvalue()  # type: ignore[attr-defined]
    )


async def test_unreadable_history_is_reported_unverified_and_fails(tmp_path: Path) -> None:
    async with running_fake() as (server, url):
        server.history_error = "forbidden"
        env = Environment(stdout=Stream(), stderr=Stream(), environ={}, cwd=tmp_path)
        argv = ["loadtest", "-n", "4", "-r", "2", "-s", "2", "--rate", "40", "-d", "0.1"]
        argv += [
            "--url",
            url,
            "--user",
            "lt",
            "--secret",
            SECRET,
            "--json",
            str(tmp_path / "r.json"),
        ]
        status = await asyncio.to_thread(main, argv, env=env)
    assert status == ExitStatus.LOSS
    data = json.loads((tmp_path / "r.json").read_text())
    assert (data["messages"]["unverified"], data["messages"]["lost"]) == (4, 0)
    assert data["errors"] == {"history:forbidden": 2}
    assert "unverified (history unreadable)" in env.stdout.getvalue()  # type: ignore[attr-defined]
    assert "4 acked messages could not be checked against history" in (
        env.stderr.getvalue()  # type: ignore[attr-defined]
    )
