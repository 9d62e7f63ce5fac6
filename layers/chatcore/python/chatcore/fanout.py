"""Fan-out planning: who gets a payload directly, what goes to FanoutQueue. No I/O.

A room up to ``chunk_size`` members is posted by the function that saw the message; above it the
recipients are cut into chunks of ``chunk_size`` that become FanoutQueue messages, each posted by a
fanout worker, so one huge room does not hold one Lambda for minutes. Queue bodies are grouped into
SendMessageBatch calls of at most 10 entries and 256 KB.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_BATCH_ENTRIES",
    "MAX_PAYLOAD_BYTES",
    "FanoutPlan",
    "FanoutResult",
    "backoff_delay",
    "batch_entries",
    "chunk_body",
    "parse_chunk",
    "plan_fanout",
]

# API Gateway refuses a @connections post over 128 KB (413); we refuse before posting.
MAX_PAYLOAD_BYTES = 128 * 1024
# SQS SendMessageBatch limits.
MAX_BATCH_ENTRIES = 10
MAX_BATCH_BYTES = 256 * 1024


@dataclass(frozen=True)
class FanoutPlan:
    direct: tuple[str, ...]
    chunks: tuple[tuple[str, ...], ...]


def plan_fanout(
    connection_ids: Iterable[str], *, chunk_size: int, exclude: Iterable[str] = ()
) -> FanoutPlan:
    """Deduplicate (keeping order), drop ``exclude``, then post directly or cut into chunks."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    skip = set(exclude)
    seen: dict[str, None] = {}
    for cid in connection_ids:
        if cid not in skip:
            seen.setdefault(cid, None)
    ids = tuple(seen)
    if len(ids) <= chunk_size:
        return FanoutPlan(direct=ids, chunks=())
    return FanoutPlan(
        direct=(),
        chunks=tuple(ids[i : i + chunk_size] for i in range(0, len(ids), chunk_size)),
    )


def chunk_body(payload: bytes, connection_ids: Sequence[str]) -> str:
    """One FanoutQueue message: the encoded event and the connections to post it to.

    The payload is whatever the broadcaster would have posted itself, a ``messages`` frame of a
    stream batch included, so a big room's members get the same frames as a small room's.
    """
    return json.dumps(
        {"payload": payload.decode("utf-8"), "connectionIds": list(connection_ids)},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def parse_chunk(body: str) -> tuple[bytes, list[str]]:
    """Read a FanoutQueue message back; raise ``ValueError`` when it is not one."""
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("a fan-out chunk is a JSON object")
    payload = data.get("payload")
    ids = data.get("connectionIds")
    if not isinstance(payload, str) or not isinstance(ids, list):
        raise ValueError("a fan-out chunk has a string 'payload' and a list 'connectionIds'")
    if not all(isinstance(i, str) and i for i in ids):
        raise ValueError("'connectionIds' must be non-empty strings")
    return payload.encode("utf-8"), ids


def batch_entries(
    bodies: Sequence[str],
    *,
    max_entries: int = MAX_BATCH_ENTRIES,
    max_bytes: int = MAX_BATCH_BYTES,
) -> list[list[str]]:
    """Group bodies into SendMessageBatch calls within SQS's count and size limits."""
    batches: list[list[str]] = []
    current: list[str] = []
    size = 0
    for body in bodies:
        length = len(body.encode("utf-8"))
        if length > max_bytes:
            raise ValueError("one fan-out chunk is larger than an SQS message may be")
        if current and (len(current) == max_entries or size + length > max_bytes):
            batches.append(current)
            current, size = [], 0
        current.append(body)
        size += length
    if current:
        batches.append(current)
    return batches


def backoff_delay(
    attempt: int,
    *,
    base: float = 0.05,
    cap: float = 1.0,
    rand: Callable[[float, float], float] = random.uniform,
) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**attempt)]."""
    return rand(0.0, min(cap, base * (2**attempt)))


@dataclass
class FanoutResult:
    """What one fan-out did; ``gone_ids`` are the connections deleted as stale.

    ``delivered`` counts posts; ``events_delivered`` the events those posts carried (a
    ``messages`` frame of five delivered to one connection is one post and five events).
    """

    delivered: int = 0
    gone: int = 0
    throttled: int = 0
    failed: int = 0
    queued_chunks: int = 0
    gone_ids: list[str] = field(default_factory=list)
    events_delivered: int = 0

    def merge(self, other: FanoutResult) -> FanoutResult:
        return FanoutResult(
            delivered=self.delivered + other.delivered,
            gone=self.gone + other.gone,
            throttled=self.throttled + other.throttled,
            failed=self.failed + other.failed,
            queued_chunks=self.queued_chunks + other.queued_chunks,
            gone_ids=self.gone_ids + other.gone_ids,
            events_delivered=self.events_delivered + other.events_delivered,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "delivered": self.delivered,
            "gone": self.gone,
            "throttled": self.throttled,
            "failed": self.failed,
            "queuedChunks": self.queued_chunks,
        }
