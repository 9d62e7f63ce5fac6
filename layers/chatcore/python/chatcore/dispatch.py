"""What the asynchronous functions do with one record: a stored message, a notification, a chunk.

Kept out of the handlers so each handler is only "parse the batch, call this, report failures".
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from chatcore.delivery import Delivery
from chatcore.fanout import MAX_PAYLOAD_BYTES, FanoutResult, parse_chunk
from chatcore.notify import InvalidNotification, Notification
from chatcore.observability import logger
from chatcore.protocol import encode, notification_event
from chatcore.recipients import message_from_image, notification_recipients, room_recipients
from chatcore.store import ConnectionStore

__all__ = [
    "BatchOutcome",
    "broadcast_batch",
    "deliver_chunk",
    "deliver_notification",
]


@dataclass
class BatchOutcome:
    """What a stream batch did: the fan-out totals and the records to report as failed."""

    result: FanoutResult = field(default_factory=FanoutResult)
    failed: list[str] = field(default_factory=list)  # sequence numbers, in stream order


def broadcast_batch(
    records: Sequence[tuple[str, dict[str, Any]]],
    *,
    store: ConnectionStore,
    delivery: Delivery,
    rooms_in_parallel: int = 8,
) -> BatchOutcome:
    """Post a stream batch's messages: rooms in parallel, each room's messages in seq order.

    ``records`` are ``(sequence number, new image)`` in stream order. One record at a time would
    make every message wait for all the posts of the messages before it, whatever their room;
    here a busy room holds up only itself. A room's members are read once per batch (minus the
    connections that answered 410 on the way). A record that fails (a malformed image, a read
    that fails) is reported and the rest of its room goes on, as one record at a time would.
    """
    by_room: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    outcome = BatchOutcome()
    for sequence_number, image in records:
        try:
            message = message_from_image(image)
        except (KeyError, TypeError, ValueError):
            logger.exception("malformed message image", extra={"sequence_number": sequence_number})
            outcome.failed.append(sequence_number)
            continue
        if message is not None:
            by_room.setdefault(message["room"], []).append((sequence_number, message))

    def post_room(room: str) -> BatchOutcome:
        done = BatchOutcome()
        members: list[str] | None = None
        for sequence_number, message in by_room[room]:
            try:
                if members is None:
                    members = room_recipients(store, room)
                result = delivery.deliver(encode(message), members)
            except Exception:
                logger.exception("broadcast failed", extra={"sequence_number": sequence_number})
                done.failed.append(sequence_number)
                continue
            if result.gone_ids:
                gone = set(result.gone_ids)
                members = [m for m in members if m not in gone]
            done.result = done.result.merge(result)
        return done

    rooms = list(by_room)
    if len(rooms) <= 1:
        parts = [post_room(room) for room in rooms]
    else:
        with ThreadPoolExecutor(max_workers=min(rooms_in_parallel, len(rooms))) as pool:
            parts = list(pool.map(post_room, rooms))
    for part in parts:
        outcome.result = outcome.result.merge(part.result)
        outcome.failed.extend(part.failed)
    order = {seq: i for i, (seq, _) in enumerate(records)}
    outcome.failed.sort(key=lambda seq: order[seq])
    return outcome


def deliver_notification(
    notification: Notification, *, store: ConnectionStore, delivery: Delivery
) -> FanoutResult:
    event = notification_event(
        id=notification.id, payload=notification.payload, ts=int(time.time() * 1000)
    )
    data = encode(event)
    if len(data) > MAX_PAYLOAD_BYTES:
        # Refused here, as a malformed message: a retry could never make it fit.
        raise InvalidNotification(f"the notification event is over {MAX_PAYLOAD_BYTES} bytes")
    return delivery.deliver(data, notification_recipients(store, notification))


def deliver_chunk(body: str, *, delivery: Delivery) -> FanoutResult:
    """Post one FanoutQueue chunk; a body that is not a chunk raises ``ValueError``."""
    payload, ids = parse_chunk(body)
    return delivery.post(payload, ids)
