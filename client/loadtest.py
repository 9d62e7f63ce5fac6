"""``chat loadtest``: many connections, a steady send rate, and an exact account of deliveries.

N connections are spread over R rooms (connection ``i`` joins room ``i % R``), opened at a ramp
rate. Once all of them have joined, S of them send at a total RATE for DURATION seconds. Each text
is JSON carrying the send time (``time.perf_counter_ns``, one process, one clock), so every
delivery gives an end-to-end latency. Every acked message must reach every member of its room
(all joined before the first send). After the drain window each room's ``history`` is read, so
the report can tell data loss (acked, not stored) from a delivery that never came (stored, not
pushed) and from one that was only late (see ``client.ledger``). The client library
de-duplicates and orders; what it had to drop, fill from history or received batched is
reported as well.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from client.chat import ChatClient, State
from client.context import Environment, ExitStatus
from client.errors import ChatError, ServerError
from client.events import Message, MessageUpdated
from client.ledger import Ledger

__all__ = [
    "LoadConfig",
    "LoadResult",
    "LoadRun",
    "Percentiles",
    "add_arguments",
    "command",
    "exit_status",
    "percentiles",
    "run_load",
]


@dataclass(frozen=True)
class LoadConfig:
    url: str
    connections: int = 20
    rooms: int = 4
    senders: int = 4
    rate: float = 20.0  # messages per second, all senders together
    duration: float = 5.0  # seconds of sending
    size: int = 100  # characters of message text
    ramp: float = 200.0  # connections opened per second
    drain: float = 10.0  # seconds to wait for deliveries after the last ack
    late_window: float = 5.0  # after reading history: how long stored messages may still come
    timeout: float = 10.0  # per request
    room_prefix: str = "load"
    history_page: int = 100  # messages per history request when checking what was stored
    # Edit every Nth acked message (0: none): edits travel the same stream as messages, so a
    # run with edits in the mix must still lose, duplicate and reorder nothing.
    edit_every: int = 0


@dataclass(frozen=True)
class Percentiles:
    count: int
    p50: float
    p95: float
    p99: float
    max: float
    mean: float


def percentiles(values: list[float]) -> Percentiles | None:
    if not values:
        return None
    if len(values) == 1:
        v = values[0]
        return Percentiles(1, v, v, v, v, v)
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return Percentiles(
        count=len(values),
        p50=cuts[49],
        p95=cuts[94],
        p99=cuts[98],
        max=max(values),
        mean=statistics.fmean(values),
    )


@dataclass
class LoadResult:
    config: LoadConfig
    connected: int = 0
    connect_ms: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    sent: int = 0
    acked: int = 0
    expected: int = 0  # acked messages x members of their room
    delivered: int = 0  # of those, deliveries that arrived within the drain window
    late: int = 0  # deliveries that arrived after the drain window
    undelivered: int = 0  # stored, never reached a member connected throughout
    missed: int = 0  # stored, never reached a member whose connection was interrupted
    lost: int = 0  # acked messages not in their room's history: data loss
    unverified: int = 0  # acked messages of rooms whose history could not be read
    stored: int = 0  # the run's messages found in history
    stored_unacked: int = 0  # of those, sends that never got their ack
    duplicates: int = 0  # same message twice to the same connection, after the client's dedupe
    out_of_order: int = 0  # a room's seq going backwards at a connection, after the client
    unacked_deliveries: int = 0  # deliveries of sends that failed or timed out
    wire_duplicates: int = 0  # dropped by the client library (same id or seq twice on the wire)
    wire_reordered: int = 0  # arrived out of seq order on the wire (the client reordered them)
    gap_fills: int = 0  # history requests the clients made to fill gaps
    filled: int = 0  # messages the clients got from those history requests
    reconnects: int = 0
    batched_frames: int = 0  # `messages` frames the clients received
    batched_messages: int = 0  # the messages those frames carried
    edited: int = 0  # edits the senders made (``edit_every``)
    updates: int = 0  # ``message_updated`` events the members received
    errors: Counter[str] = field(default_factory=Counter)
    send_seconds: float = 0.0
    total_seconds: float = 0.0
    sent_at: list[float] = field(default_factory=list)  # seconds since the first send
    delivered_at: list[float] = field(default_factory=list)

    @property
    def throughput(self) -> dict[str, float]:
        seconds = self.send_seconds or 1.0
        return {"sent_per_s": self.acked / seconds, "delivered_per_s": self.delivered / seconds}

    def timeline(self) -> list[dict[str, float]]:
        """Acked sends and deliveries per whole second since the first send."""
        last = int(max([0.0, *self.sent_at, *self.delivered_at]))
        sent = Counter(int(t) for t in self.sent_at)
        delivered = Counter(int(t) for t in self.delivered_at)
        return [
            {"second": s, "sent": sent.get(s, 0), "delivered": delivered.get(s, 0)}
            for s in range(last + 1)
        ]

    def summary(self) -> dict[str, Any]:
        def stats(values: list[float]) -> dict[str, float] | None:
            p = percentiles(values)
            return None if p is None else asdict(p)

        return {
            "config": asdict(self.config),
            "connections": {"requested": self.config.connections, "connected": self.connected},
            "connect_ms": stats(self.connect_ms),
            "latency_ms": stats(self.latency_ms),
            "messages": {
                "sent": self.sent,
                "acked": self.acked,
                "expected_deliveries": self.expected,
                "delivered": self.delivered,
                "late": self.late,
                "undelivered": self.undelivered,
                "missed_after_interruption": self.missed,
                "lost": self.lost,
                "unverified": self.unverified,
                "stored": self.stored,
                "stored_unacked": self.stored_unacked,
                "duplicates": self.duplicates,
                "out_of_order": self.out_of_order,
                "unacked_deliveries": self.unacked_deliveries,
                "edited": self.edited,
                "updates_received": self.updates,
            },
            "client": {
                "wire_duplicates_dropped": self.wire_duplicates,
                "wire_reordered": self.wire_reordered,
                "gap_fills": self.gap_fills,
                "filled_from_history": self.filled,
                "reconnects": self.reconnects,
                "batched_frames": self.batched_frames,
                "batched_messages": self.batched_messages,
            },
            "errors": dict(sorted(self.errors.items())),
            "throughput": self.throughput,
            "seconds": {"sending": self.send_seconds, "total": self.total_seconds},
            "timeline": self.timeline(),
        }


class _Member:
    def __init__(self, index: int, room: str) -> None:
        self.index = index
        self.room = room
        self.client: ChatClient | None = None
        self.last_seq = 0


class LoadRun:
    """One load test; its counters are live, so a progress bar can read them while it runs."""

    def __init__(self, config: LoadConfig, token_for: Callable[[int], str]) -> None:
        if config.connections < 1 or config.rooms < 1:
            raise ValueError("need at least one connection and one room")
        if not 0 <= config.senders <= config.connections:
            raise ValueError("senders must be between 0 and the number of connections")
        self.config = config
        self.token_for = token_for
        self.run_id = uuid.uuid4().hex[:8]
        self.result = LoadResult(config)
        self.phase = "connect"
        self.attempted = 0
        self.ledger = Ledger()
        self._members: list[_Member] = []
        self._room_members: Counter[str] = Counter()
        self._acked_room: dict[str, str] = {}  # message id -> room
        self._received: Counter[str] = Counter()  # message id -> connections that got it
        self._matched = 0
        self._sending_done = False
        self._drained = asyncio.Event()
        self._caught_up = asyncio.Event()  # after history: nothing stored is still to come
        self._first_error: ChatError | None = None
        self._t0 = 0  # perf_counter_ns of the first send

    def room(self, index: int) -> str:
        return f"{self.config.room_prefix}-{self.run_id}-{index % self.config.rooms}"

    # -- phases --------------------------------------------------------------------------------

    async def run(self) -> LoadResult:
        started = time.perf_counter()
        members = [_Member(i, self.room(i)) for i in range(self.config.connections)]
        try:
            await self._connect_all(members)
            self._members = [m for m in members if m.client is not None]
            self.result.connected = len(self._members)
            if not self._members:
                assert self._first_error is not None
                raise self._first_error
            for member in self._members:
                self._room_members[member.room] += 1
                self.ledger.member(member.index, member.room)
            readers = [asyncio.create_task(self._read(m)) for m in self._members]
            self.phase = "send"
            self._t0 = time.perf_counter_ns()
            senders = [m for m in self._members if m.index < self.config.senders]
            await asyncio.gather(*(self._send(m) for m in senders))
            self.result.send_seconds = (time.perf_counter_ns() - self._t0) / 1e9
            self.phase = "drain"
            self._sending_done = True
            self._check_drained()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), self.config.drain)
            # Readers go on: whatever arrives from now on is late, not lost.
            self.ledger.drain_ended(self._now())
            self.phase = "history"
            await self._read_history()
            self.ledger.watch()
            if self.ledger.outstanding():
                self.phase = "late"
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._caught_up.wait(), self.config.late_window)
            for task in readers:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
            for member in self._members:
                assert member.client is not None
                if member.client.stats.reconnects or member.client.state is not State.OPEN:
                    self.ledger.interrupted(member.index)
        finally:
            await asyncio.gather(
                *(m.client.close() for m in members if m.client is not None),
                return_exceptions=True,
            )
        self._account()
        self.phase = "done"
        self.result.total_seconds = time.perf_counter() - started
        return self.result

    async def _connect_all(self, members: list[_Member]) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()

        async def one(member: _Member) -> None:
            # Open at the ramp rate: connection i starts i/ramp seconds in.
            await asyncio.sleep(max(0.0, start + member.index / self.config.ramp - loop.time()))
            self.attempted += 1
            client = ChatClient(
                self.config.url,
                self.token_for(member.index),
                request_timeout=self.config.timeout,
                open_timeout=self.config.timeout,
            )
            begun = time.perf_counter_ns()
            try:
                await client.connect()
                self.result.connect_ms.append((time.perf_counter_ns() - begun) / 1e6)
                await client.join(member.room)
            except ChatError as exc:
                self.result.errors[f"connect:{exc.code}"] += 1
                self._first_error = self._first_error or exc
                await client.close()
                return
            member.client = client

        await asyncio.gather(*(one(m) for m in members))

    async def _send(self, member: _Member) -> None:
        assert member.client is not None
        client = member.client
        interval = self.config.senders / self.config.rate
        # The total is rate x duration, shared out so the senders' counts differ by at most one.
        total = round(self.config.rate * self.config.duration)
        count = total // self.config.senders + (member.index < total % self.config.senders)
        # Stagger the senders over one interval so the total rate is smooth, not bursts.
        offset = interval * member.index / max(1, self.config.senders)
        start = time.perf_counter()
        tasks: list[asyncio.Task[None]] = []
        for n in range(count):
            await asyncio.sleep(max(0.0, start + offset + n * interval - time.perf_counter()))
            tasks.append(asyncio.create_task(self._send_one(client, member, n)))
        await asyncio.gather(*tasks)

    async def _send_one(self, client: ChatClient, member: _Member, n: int) -> None:
        sent_ns = time.perf_counter_ns()
        body = {"lt": self.run_id, "s": member.index, "n": n, "t": sent_ns, "p": ""}
        pad = self.config.size - len(json.dumps(body, separators=(",", ":")))
        body["p"] = "x" * max(0, pad)
        self.result.sent += 1
        try:
            ack = await client.send(member.room, json.dumps(body, separators=(",", ":")))
        except ChatError as exc:
            self.result.errors[f"send:{exc.code}"] += 1
            return
        self.result.acked += 1
        self.result.sent_at.append((time.perf_counter_ns() - self._t0) / 1e9)
        self._acked_room[ack.id] = ack.room
        self.ledger.acked(ack.id, ack.room)
        self.result.expected += self._room_members[ack.room]
        self._matched += self._received.get(ack.id, 0)
        self._check_drained()
        every = self.config.edit_every
        if every and n % every == 0:
            # The same body, marked edited: history still shows one of this run's messages.
            body["e"] = 1
            try:
                await client.edit(ack.room, ack.id, json.dumps(body, separators=(",", ":")))
                self.result.edited += 1
            except ChatError as exc:
                self.result.errors[f"edit:{exc.code}"] += 1

    def _ours(self, message: Message) -> dict[str, Any] | None:
        """The decoded body of one of this run's messages, None for anything else."""
        try:
            body = json.loads(message.text)
        except ValueError:
            return None
        if not isinstance(body, dict) or body.get("lt") != self.run_id:
            return None
        return body

    def _now(self) -> float:
        return (time.perf_counter_ns() - self._t0) / 1e9

    async def _read(self, member: _Member) -> None:
        assert member.client is not None
        async for event in member.client.events():
            if isinstance(event, MessageUpdated):
                self.result.updates += 1
                continue
            if not isinstance(event, Message):
                continue
            now = time.perf_counter_ns()
            body = self._ours(event)
            if body is None:
                continue
            if event.seq <= member.last_seq:
                self.result.out_of_order += 1
            member.last_seq = max(member.last_seq, event.seq)
            if not self.ledger.received(member.index, event.id, (now - self._t0) / 1e9):
                self.result.duplicates += 1
                continue
            self.result.latency_ms.append((now - int(body.get("t", now))) / 1e6)
            self.result.delivered_at.append((now - self._t0) / 1e9)
            self._received[event.id] += 1
            if event.id in self._acked_room:
                self._matched += 1
                self._check_drained()
            if self.phase == "late" and not self.ledger.outstanding():
                self._caught_up.set()

    async def _read_history(self) -> None:
        """Read every room's stored messages of this run into the ledger, rooms in parallel."""
        readers: dict[str, ChatClient] = {}
        for member in self._members:
            client = member.client
            if client is not None and client.state is State.OPEN:
                readers.setdefault(member.room, client)
        rooms = sorted({m.room for m in self._members} | set(self._acked_room.values()))
        bound = asyncio.Semaphore(8)

        async def one(room: str) -> None:
            client = readers.get(room)
            if client is None:
                self.result.errors["history:no_open_connection"] += 1
                self.ledger.unreadable(room)
                return
            async with bound:
                try:
                    ids = await self._stored_ids(client, room)
                except ChatError as exc:
                    self.result.errors[f"history:{exc.code}"] += 1
                    self.ledger.unreadable(room)
                    return
            self.result.stored += len(ids)
            self.ledger.stored(room, ids)

        await asyncio.gather(*(one(room) for room in rooms))

    async def _stored_ids(self, client: ChatClient, room: str) -> list[str]:
        ids: list[str] = []
        after = 0
        while True:
            try:
                page = await client.history(room, after=after, limit=self.config.history_page)
            except ServerError as exc:
                if exc.code == "not_found":  # nothing was ever stored in the room
                    return ids
                raise
            ids.extend(m.id for m in page.messages if self._ours(m) is not None)
            if len(page.messages) < self.config.history_page:
                return ids
            after = max(m.seq for m in page.messages)

    def _check_drained(self) -> None:
        if self._sending_done and self._matched >= self.result.expected:
            self._drained.set()

    def _account(self) -> None:
        result = self.result
        books = self.ledger.account()
        result.delivered = books.delivered
        result.late = books.late
        result.undelivered = books.undelivered
        result.missed = books.missed
        result.lost = books.lost
        result.unverified = books.unverified
        result.stored_unacked = books.stored_unacked
        for member in self._members:
            if member.client is not None:
                stats = member.client.tracker.stats
                result.wire_duplicates += stats.duplicates
                result.wire_reordered += stats.reordered
                result.filled += stats.filled
                result.gap_fills += member.client.stats.gap_fills
                result.reconnects += member.client.stats.reconnects
                result.batched_frames += member.client.stats.batched_frames
                result.batched_messages += member.client.stats.batched_messages
        result.unacked_deliveries = sum(
            count for mid, count in self._received.items() if mid not in self._acked_room
        )


async def run_load(config: LoadConfig, token_for: Callable[[int], str]) -> LoadResult:
    return await LoadRun(config, token_for).run()


# -- command line --------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from client.cli import _nonnegative_float, _nonnegative_int, _positive_float, _positive_int

    group = parser.add_argument_group("load")
    group.add_argument(
        "-n", "--connections", type=_positive_int, default=20, help="connections (20)"
    )
    group.add_argument("-r", "--room-count", type=_positive_int, default=4, help="rooms (4)")
    group.add_argument(
        "-s", "--senders", type=_nonnegative_int, default=4, help="sending connections (4)"
    )
    group.add_argument(
        "--rate", type=_positive_float, default=20.0, help="messages/s, all senders (20)"
    )
    group.add_argument(
        "-d", "--duration", type=_positive_float, default=5.0, help="seconds of sending (5)"
    )
    group.add_argument(
        "--size", type=_positive_int, default=100, help="message text characters (100)"
    )
    group.add_argument(
        "--ramp", type=_positive_float, default=200.0, help="connections opened per second (200)"
    )
    group.add_argument(
        "--drain",
        type=_positive_float,
        default=10.0,
        help="seconds to wait for late deliveries (10)",
    )
    group.add_argument(
        "--late-window",
        type=_nonnegative_float,
        default=5.0,
        help="after reading history, seconds more for stored messages still on their way (5)",
    )
    group.add_argument(
        "--max-loss",
        type=_nonnegative_int,
        default=0,
        help="deliveries that never arrived tolerated before a non-zero exit (0); "
        "a lost message (acked, not stored) always fails",
    )
    group.add_argument(
        "--json", dest="json_file", metavar="FILE", help="write the full report as JSON"
    )
    group.add_argument(
        "--plot", metavar="FILE.png", help="latency histogram and throughput timeline"
    )


async def command(args: argparse.Namespace, env: Environment) -> int:
    from client.cli import resolve_token, resolve_url
    from client.report import ProgressView, render_table, write_json, write_plot

    if args.senders > args.connections:
        from client.cli import UsageError

        raise UsageError("chat loadtest: --senders cannot exceed --connections")
    config = LoadConfig(
        url=resolve_url(args, env),
        connections=args.connections,
        rooms=args.room_count,
        senders=args.senders,
        rate=args.rate,
        duration=args.duration,
        size=args.size,
        ramp=args.ramp,
        drain=args.drain,
        late_window=args.late_window,
        timeout=args.timeout,
    )
    fixed = args.token or env.environ.get("CHAT_TOKEN")
    prefix = args.user or "load"
    if fixed:
        tokens: Callable[[int], str] = lambda i: str(fixed)  # noqa: E731
    else:
        # Mint once per user, up front: signing is cheap but not free at 10,000 connections.
        minted = [resolve_token(args, env, user=f"{prefix}-{i}") for i in range(args.connections)]
        tokens = minted.__getitem__
    per_sender = config.rate / max(1, config.senders)
    if per_sender > 20:
        env.stderr.write(
            f"note: {per_sender:g} msg/s per sender exceeds the default per-connection budget "
            "(SEND_RATE_PER_SECOND=20); expect rate_limited errors\n"
        )
    run = LoadRun(config, tokens)
    view = ProgressView(run, env) if env.stderr_isatty else None
    if view is not None:
        view.start()
    try:
        result = await run.run()
    finally:
        if view is not None:
            await view.stop()
    render_table(result, env)
    if args.json_file:
        write_json(result, args.json_file)
    if args.plot:
        write_plot(result, args.plot)
    return exit_status(result, max_loss=args.max_loss, env=env)


def exit_status(result: LoadResult, *, max_loss: int, env: Environment) -> int:
    """``LOSS`` for data loss, unverifiable acks, or more missing deliveries than allowed."""
    problems = []
    if result.lost:
        problems.append(f"{result.lost} acked messages are not in their room's history (lost)")
    if result.unverified:
        problems.append(f"{result.unverified} acked messages could not be checked against history")
    missing = result.undelivered + result.missed
    if missing > max_loss:
        problems.append(f"{missing} deliveries never arrived (allowed {max_loss})")
    for problem in problems:
        env.stderr.write(f"chat loadtest: {problem}\n")
    return ExitStatus.LOSS if problems else ExitStatus.OK
