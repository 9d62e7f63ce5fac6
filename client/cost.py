"""What a workload would cost on AWS: counted traffic -> billed usage -> dollars (pure).

Three steps, each a plain function over dataclasses, so the load tester, the benchmarks and the
README's figures share one model:

1. :class:`Traffic` is what a run counted: connections and how long they stayed, joins, acked
   sends, deliveries, presence events, notifications, the members per message and the frame size.
2. :func:`usage_for` turns it into what AWS meters (:class:`Usage`): API Gateway messages in
   32 KB units (both directions) and connection-minutes, Lambda requests and GB-seconds (per
   function: invocations x duration rounded up to the millisecond x configured memory),
   DynamoDB read/write units, SQS and SNS requests. Per-operation units are the constants below,
   read off the code paths in ``chatcore`` (what each route reads and writes); durations are
   measured ones when the caller has them (the local stack's ``/_local/stats``) and otherwise
   the warm arm64 figures in :data:`ASSUMED_MS`.
3. :func:`estimate` prices the usage with :data:`client.prices.PRICES`.

``python -m client.cost`` prints the two reference workloads the README quotes.
"""

from __future__ import annotations

import json
import math
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from client.prices import PRICES, Prices

__all__ = [
    "ASSUMED_MS",
    "MEMORY_MB",
    "WORKLOADS",
    "Estimate",
    "Line",
    "Traffic",
    "Usage",
    "Workload",
    "estimate",
    "for_load",
    "local_durations",
    "rows",
    "title",
    "traffic_from_load",
    "usage_for",
    "websocket_units",
]

# MemorySize of each function in template.yaml (a test keeps the two equal).
MEMORY_MB = {
    "AuthorizerFunction": 256,
    "ConnectFunction": 256,
    "DisconnectFunction": 256,
    "ChatFunction": 256,
    "BroadcastFunction": 512,
    "NotifyFunction": 512,
    "FanoutFunction": 512,
}

# Warm durations on Lambda arm64 when nothing was measured (ms). Posting is parallel (32 at a
# time, ~12 ms per @connections call), hence ~0.4 ms per recipient for the posting functions.
ASSUMED_MS = {
    "AuthorizerFunction": 3.0,
    "ConnectFunction": 8.0,
    "DisconnectFunction": 15.0,
    "ChatFunction": 15.0,
    "BroadcastFunction": 10.0,
    "NotifyFunction": 10.0,
    "FanoutFunction": 10.0,
}
PER_RECIPIENT_MS = 0.4

# DynamoDB units per operation (on-demand; items under 1 KB; transactions count twice).
CONNECT_WRITES = 2.0  # the connection item, and its copy in the ByUser index
JOIN_WRITES, JOIN_READS = 3.0, 1.0  # membership item, connection's room list (+ index); seq read
SEND_WRITES, SEND_READS = 6.0, 2.0  # counter + message + ref in one transaction; member + counter
DISCONNECT_WRITES, DISCONNECT_READS = 3.0, 1.0  # connection (+ index) and membership deletes
MEMBER_ITEM_BYTES = 150  # one membership item in the Query that lists a room
DM_READS = 1.0  # the ByUser index of both users (eventually consistent)

FANOUT_CHUNK = 250  # FANOUT_CHUNK_SIZE in template.yaml: bigger rooms go through SQS
SQS_REQUESTS_PER_CHUNK = 3.0  # SendMessage, Lambda's ReceiveMessage and DeleteMessage
PRESENCE_ROOM_LIMIT = 100  # presence events only in rooms up to this size
WEBSOCKET_UNIT = 32 * 1024


def websocket_units(frame_bytes: int) -> int:
    """API Gateway meters a WebSocket message in 32 KB units (a 33 KB frame is two)."""
    return max(1, math.ceil(frame_bytes / WEBSOCKET_UNIT))


@dataclass(frozen=True, kw_only=True)
class Traffic:
    """What a run (or a workload) did, as a client or the README's assumptions count it."""

    connections: int
    connected_seconds: float  # how long each connection stayed open, on average
    joins: int
    sends: int  # acked chat messages: the "messages" of the per-million figure
    deliveries: int  # message events posted to members (senders' own connections included)
    members_per_message: float  # recipients of one message (2 for a one-to-one DM)
    presence_events: int = 0
    notifications: int = 0
    dm_share: float = 0.0  # fraction of sends that are DMs (read the user index, no room Query)
    frame_bytes: int = 400  # a typical event on the wire (message JSON with its metadata)


@dataclass(frozen=True, kw_only=True)
class Usage:
    """What AWS bills for, before prices."""

    websocket_messages: float
    connection_minutes: float
    lambda_requests: dict[str, float]
    lambda_gb_seconds: dict[str, float]
    dynamodb_write_units: float
    dynamodb_read_units: float
    sqs_requests: float = 0.0
    sns_requests: float = 0.0
    durations_ms: dict[str, float] = field(default_factory=dict)
    measured: bool = False  # durations measured (local stack) rather than assumed


def _chunks(members: float) -> int:
    return math.ceil(members / FANOUT_CHUNK) if members > FANOUT_CHUNK else 0


def usage_for(
    traffic: Traffic,
    *,
    durations_ms: Mapping[str, float] | None = None,
    memory_mb: Mapping[str, int] = MEMORY_MB,
) -> Usage:
    """Billed usage of ``traffic``; ``durations_ms`` (measured, per function) beat the assumed."""
    t = traffic
    members = t.members_per_message
    chunks = _chunks(members)
    direct = 0.0 if chunks else members  # recipients the broadcaster posts to itself
    requests = {
        "AuthorizerFunction": float(t.connections),
        "ConnectFunction": float(t.connections),
        "DisconnectFunction": float(t.connections),
        "ChatFunction": float(t.joins + t.sends),
        # One stream record per message; Lambda batches them, so this is the upper bound.
        "BroadcastFunction": float(t.sends),
        "NotifyFunction": float(t.notifications),
        "FanoutFunction": float(t.sends * chunks),
    }
    assumed = dict(ASSUMED_MS)
    assumed["BroadcastFunction"] += PER_RECIPIENT_MS * direct
    assumed["FanoutFunction"] += PER_RECIPIENT_MS * min(members, FANOUT_CHUNK)
    durations = {**assumed, **dict(durations_ms or {})}
    gb_seconds = {
        fn: n * math.ceil(durations[fn]) / 1000 * memory_mb[fn] / 1024 for fn, n in requests.items()
    }
    room_query = math.ceil(members * MEMBER_ITEM_BYTES / 4096)
    rooms_share = 1.0 - t.dm_share
    reads = (
        t.joins * JOIN_READS
        + t.sends * SEND_READS
        + t.sends * (rooms_share * room_query + t.dm_share * DM_READS)
        + t.connections * DISCONNECT_READS
    )
    writes = (
        t.connections * (CONNECT_WRITES + DISCONNECT_WRITES)
        + t.joins * JOIN_WRITES
        + t.sends * SEND_WRITES
    )
    unit = websocket_units(t.frame_bytes)
    # In: joins and sends. Out: joined replies, acks, deliveries, presence, notifications.
    frames = 2 * t.joins + 2 * t.sends + t.deliveries + t.presence_events + t.notifications
    # Connection-minutes are metered per started minute of each connection.
    minutes = t.connections * max(1, math.ceil(t.connected_seconds / 60))
    return Usage(
        websocket_messages=float(frames * unit),
        connection_minutes=float(minutes),
        lambda_requests=requests,
        lambda_gb_seconds=gb_seconds,
        dynamodb_write_units=writes,
        dynamodb_read_units=reads,
        sqs_requests=t.sends * chunks * SQS_REQUESTS_PER_CHUNK,
        sns_requests=float(t.notifications),
        durations_ms=durations,
        measured=bool(durations_ms),
    )


@dataclass(frozen=True)
class Line:
    what: str
    quantity: float
    unit: str
    dollars: float


@dataclass(frozen=True)
class Estimate:
    lines: list[Line]
    messages: int
    prices: Prices
    measured: bool

    @property
    def total(self) -> float:
        return sum(line.dollars for line in self.lines)

    @property
    def per_million_messages(self) -> float | None:
        return self.total / self.messages * 1_000_000 if self.messages else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "region": self.prices.region,
            "prices_as_of": self.prices.as_of,
            "durations": "measured" if self.measured else "assumed",
            "messages": self.messages,
            "total_usd": round(self.total, 6),
            "per_million_messages_usd": (
                None if self.per_million_messages is None else round(self.per_million_messages, 2)
            ),
            "lines": [
                {"what": x.what, "quantity": x.quantity, "unit": x.unit, "usd": round(x.dollars, 6)}
                for x in self.lines
            ],
        }


def estimate(usage: Usage, *, messages: int, prices: Prices = PRICES) -> Estimate:
    """Dollars for ``usage``; ``messages`` (acked sends) is what the per-million figure divides."""
    p = prices
    million = 1_000_000
    requests = sum(usage.lambda_requests.values())
    gb_seconds = sum(usage.lambda_gb_seconds.values())
    lines = [
        Line(
            "API Gateway messages",
            usage.websocket_messages,
            "32 KB messages",
            usage.websocket_messages / million * p.websocket_per_million_messages,
        ),
        Line(
            "API Gateway connection time",
            usage.connection_minutes,
            "connection-minutes",
            usage.connection_minutes / million * p.websocket_per_million_connection_minutes,
        ),
        Line(
            "Lambda requests",
            requests,
            "requests",
            requests / million * p.lambda_per_million_requests,
        ),
        Line(
            "Lambda compute",
            gb_seconds,
            "GB-seconds",
            gb_seconds * p.lambda_per_gb_second,
        ),
        Line(
            "DynamoDB writes",
            usage.dynamodb_write_units,
            "write units",
            usage.dynamodb_write_units / million * p.dynamodb_per_million_write_units,
        ),
        Line(
            "DynamoDB reads",
            usage.dynamodb_read_units,
            "read units",
            usage.dynamodb_read_units / million * p.dynamodb_per_million_read_units,
        ),
        Line(
            "SQS",
            usage.sqs_requests,
            "requests",
            usage.sqs_requests / million * p.sqs_per_million_requests,
        ),
        Line(
            "SNS",
            usage.sns_requests,
            "requests",
            usage.sns_requests / million * p.sns_per_million_requests,
        ),
    ]
    return Estimate(lines, messages, prices, usage.measured)


# ---------------------------------------------------------------------------- adapters


def traffic_from_load(summary: Mapping[str, Any]) -> Traffic:
    """A load test's counters (``LoadResult.summary()``) as :class:`Traffic`."""
    config = summary["config"]
    connected = int(summary["connections"]["connected"])
    rooms = max(1, int(config["rooms"]))
    members = connected / rooms
    messages = summary["messages"]
    # Every member joining (and leaving) tells the members already there, in rooms small enough.
    presence = 0
    if members <= PRESENCE_ROOM_LIMIT:
        presence = int(rooms * members * max(0.0, members - 1))
    return Traffic(
        connections=connected,
        connected_seconds=float(summary["seconds"]["total"]),
        joins=connected,
        sends=int(messages["acked"]),
        deliveries=int(messages["delivered"]),
        members_per_message=members,
        presence_events=presence,
        frame_bytes=int(config.get("size", 100)) + 300,
    )


def local_durations(ws_url: str, *, timeout: float = 2.0) -> dict[str, float] | None:
    """Mean duration per function from a local stack's ``/_local/stats``; None if it is not one."""
    parts = urlsplit(ws_url)
    # The local stack serves plain ws://; API Gateway only wss://, and is never asked.
    if parts.scheme != "ws" or not parts.netloc:
        return None
    try:
        with urllib.request.urlopen(  # noqa: S310 (the ws:// URL the user gave, made http)
            f"http://{parts.netloc}/_local/stats", timeout=timeout
        ) as reply:
            stats = json.loads(reply.read())
    except (OSError, ValueError):
        return None
    functions = stats.get("functions") if isinstance(stats, dict) else None
    if not isinstance(functions, dict):
        return None
    return {
        name: float(f["meanMs"])
        for name, f in functions.items()
        if name in MEMORY_MB and isinstance(f, dict) and f.get("meanMs") is not None
    }


def rows(estimate_: Estimate) -> list[tuple[str, str, str]]:
    """(item, usage, dollars) lines for a report, the total last."""
    out = [(x.what, f"{x.quantity:,.0f} {x.unit}", f"${x.dollars:,.4f}") for x in estimate_.lines]
    per_million = estimate_.per_million_messages
    out.append(("total", f"{estimate_.messages:,} messages", f"${estimate_.total:,.4f}"))
    if per_million is not None:
        out.append(("per million messages", "", f"${per_million:,.2f}"))
    return out


def title(estimate_: Estimate) -> str:
    durations = "measured on the local stack" if estimate_.measured else "assumed (warm, arm64)"
    return (
        f"estimated AWS cost ({estimate_.prices.region} prices of {estimate_.prices.as_of}; "
        f"Lambda durations {durations})"
    )


def for_load(summary: Mapping[str, Any], ws_url: str | None = None) -> Estimate:
    """The estimate a load test report shows: its counters, durations measured if it can."""
    durations = local_durations(ws_url) if ws_url else None
    traffic = traffic_from_load(summary)
    usage = usage_for(traffic, durations_ms=durations or None)
    return estimate(usage, messages=traffic.sends)


# ---------------------------------------------------------------------------- the README's two


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    traffic: Traffic


def _per_million(
    members: float, *, dm_share: float, connected_hours: float, joins: float
) -> Traffic:
    """A million messages from users who each send 50 a day and stay connected for hours."""
    sends = 1_000_000
    users = sends / 50  # one day of a population sending 50 messages each
    return Traffic(
        connections=int(users),
        connected_seconds=connected_hours * 3600,
        joins=int(users * joins),
        sends=sends,
        deliveries=int(sends * members),
        members_per_message=members,
        presence_events=int(users * joins * min(members, PRESENCE_ROOM_LIMIT) * 2)
        if members <= PRESENCE_ROOM_LIMIT
        else 0,
        dm_share=dm_share,
    )


WORKLOADS = [
    Workload(
        "DM-heavy",
        "one-to-one messages: 20,000 users, one connection each for 8 h, 50 messages a day "
        "each, every message delivered to both users' connections (2 deliveries)",
        _per_million(2, dm_share=1.0, connected_hours=8, joins=0),
    ),
    Workload(
        "big room",
        "one 1,000-member room: 20,000 users (20 such rooms), connected 8 h, 50 messages a day "
        "each, every message delivered to 1,000 members through 4 SQS chunks",
        _per_million(1000, dm_share=0.0, connected_hours=8, joins=1),
    ),
]


def _table(estimate_: Estimate) -> str:
    rows = [
        f"| {x.what} | {x.quantity:,.0f} {x.unit} | ${x.dollars:,.2f} |" for x in estimate_.lines
    ]
    return "\n".join(
        [
            "| item | usage | cost |",
            "| --- | ---: | ---: |",
            *rows,
            f"| **total per million messages** | | **${estimate_.total:,.2f}** |",
        ]
    )


def main() -> None:
    """Print the reference workloads as Markdown (what the README shows)."""
    for workload in WORKLOADS:
        result = estimate(usage_for(workload.traffic), messages=workload.traffic.sends)
        print(f"### {workload.name}\n\n{workload.description}.\n\n{_table(result)}\n")


if __name__ == "__main__":
    main()
