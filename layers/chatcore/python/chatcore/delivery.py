"""Deliver one encoded event to many connections: post, clean up stale ones, queue big rooms.

``Delivery`` joins the pure plan (``fanout``) to the adapters: the ``Gateway`` posts, the
``ConnectionStore`` deletes a connection that answered 410 (that one only, never the sender's),
and an injected SQS client puts chunks of a big room on FanoutQueue.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chatcore.fanout import (
    FanoutResult,
    batch_entries,
    chunk_body,
    plan_fanout,
)
from chatcore.gateway import Gateway, Outcome
from chatcore.store import ConnectionStore

__all__ = ["Delivery"]


class Delivery:
    def __init__(
        self,
        *,
        gateway: Gateway,
        store: ConnectionStore,
        sqs_client: Any = None,
        queue_url: str = "",
        chunk_size: int = 500,
    ) -> None:
        self._gateway = gateway
        self._store = store
        self._sqs = sqs_client
        self._queue_url = queue_url
        self._chunk_size = chunk_size

    @property
    def gateway(self) -> Gateway:
        return self._gateway

    def deliver(
        self,
        data: bytes,
        connection_ids: Iterable[str],
        *,
        exclude: Iterable[str] = (),
        allow_queue: bool = True,
        events: int = 1,
    ) -> FanoutResult:
        """Post ``data`` to every id (minus ``exclude``); chunks go to FanoutQueue when allowed
        and configured, else everything is posted here. ``events``: how many events ``data``
        carries (a ``messages`` frame: its messages), for the metrics."""
        chunk_size = self._chunk_size
        if not (allow_queue and self._sqs is not None and self._queue_url):
            chunk_size = 1 << 30
        plan = plan_fanout(connection_ids, chunk_size=chunk_size, exclude=exclude)
        result = self.post(data, plan.direct, events=events)
        if plan.chunks:
            bodies = [chunk_body(data, chunk) for chunk in plan.chunks]
            result.queued_chunks += self._enqueue(bodies)
        return result

    def post(self, data: bytes, connection_ids: Iterable[str], *, events: int = 1) -> FanoutResult:
        """Post directly to every id; delete the ones that answered 410."""
        result = FanoutResult()
        for cid, outcome in self._gateway.post_many(connection_ids, data).items():
            if outcome is Outcome.DELIVERED:
                result.delivered += 1
            elif outcome is Outcome.GONE:
                result.gone += 1
                result.gone_ids.append(cid)
                self._store.delete_connection(cid)
            elif outcome is Outcome.THROTTLED:
                result.throttled += 1
            else:
                result.failed += 1
        result.events_delivered = result.delivered * events
        return result

    def _enqueue(self, bodies: list[str]) -> int:
        sent = 0
        for batch in batch_entries(bodies):
            answer = self._sqs.send_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(batch)],
            )
            failed = answer.get("Failed") or []
            if failed:
                # Raising makes the stream batch item fail and be retried; posts are idempotent
                # for clients, which de-duplicate messages by id.
                raise RuntimeError(f"{len(failed)} fan-out chunk(s) were refused by SQS")
            sent += len(batch)
        return sent
