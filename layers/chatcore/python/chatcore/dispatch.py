"""What the asynchronous functions do: a stream batch of messages, a notification, a chunk.

Kept out of the handlers so each handler is only "parse the batch, call this, report failures".
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from chatcore.changes import change_event
from chatcore.delivery import Delivery
from chatcore.fanout import MAX_PAYLOAD_BYTES, FanoutResult, parse_chunk
from chatcore.frames import FRAME_UNIT_BYTES, Frame, messages_in, plan_frames
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
    """What a stream batch did: the fan-out totals and the records to report as failed.

    ``frames`` counts the frames posted (to a room's member set, not per member);
    ``batched_frames`` of them were ``messages`` frames carrying ``batched_messages`` messages.
    """

    result: FanoutResult = field(default_factory=FanoutResult)
    failed: list[str] = field(default_factory=list)  # sequence numbers, in stream order
    messages: int = 0
    frames: int = 0
    batched_frames: int = 0
    batched_messages: int = 0

    def add(self, other: BatchOutcome) -> None:
        self.result = self.result.merge(other.result)
        self.failed.extend(other.failed)
        self.messages += other.messages
        self.frames += other.frames
        self.batched_frames += other.batched_frames
        self.batched_messages += other.batched_messages


def broadcast_batch(
    records: Sequence[tuple[str, dict[str, Any]]],
    *,
    store: ConnectionStore,
    delivery: Delivery,
    rooms_in_parallel: int = 8,
    frame_bytes: int = FRAME_UNIT_BYTES,
) -> BatchOutcome:
    """Post a stream batch's messages: rooms in parallel, each room's frames in seq order.

    ``records`` are ``(sequence number, new image)`` in stream order. Several messages of one
    room go out as ``messages`` frames of at most ``frame_bytes`` (see ``frames``): one POST per
    member per frame instead of one per message. One record at a time would make every message
    wait for all the posts of the messages before it, whatever their room; here a busy room
    holds up only itself. A room's members are read once per batch (minus the connections that
    answered 410 on the way). A malformed image is reported alone; a frame whose delivery fails
    (a read or a queue write that fails) reports every record it carried, and the rest of its
    room goes on, as one record at a time would.
    """
    outcome = BatchOutcome()
    messages: list[tuple[str, dict[str, Any]]] = []
    changed: list[tuple[str, dict[str, Any]]] = []
    for sequence_number, image in records:
        try:
            # An edit, delete or reaction (a MODIFY with a ``change``) or a new message.
            change = change_event(image)
            message = None if change is not None else message_from_image(image)
        except (KeyError, TypeError, ValueError):
            logger.exception("malformed message image", extra={"sequence_number": sequence_number})
            outcome.failed.append(sequence_number)
            continue
        if change is not None:
            changed.append((sequence_number, change))
        elif message is not None:
            messages.append((sequence_number, message))
    plan = plan_frames(messages, max_bytes=frame_bytes)
    # A room's changes go after its new messages (a change is always of a message stored
    # before it), each as its own event, in stream order.
    for sequence_number, event in changed:
        data = encode(event)
        frame = Frame(room=str(event["room"]), data=data, records=(sequence_number,), messages=1)
        plan.setdefault(frame.room, []).append(frame)

    def post_room(room: str) -> BatchOutcome:
        done = BatchOutcome()
        members: list[str] | None = None
        for frame in plan[room]:
            try:
                if members is None:
                    members = room_recipients(store, room)
                result = delivery.deliver(frame.data, members, events=frame.messages)
            except Exception:
                logger.exception(
                    "broadcast failed",
                    extra={"sequence_numbers": list(frame.records), "messages": frame.messages},
                )
                done.failed.extend(frame.records)
                continue
            if result.gone_ids:
                gone = set(result.gone_ids)
                members = [m for m in members if m not in gone]
            done.result = done.result.merge(result)
            done.messages += frame.messages
            done.frames += 1
            if frame.batched:
                done.batched_frames += 1
                done.batched_messages += frame.messages
        return done

    rooms = list(plan)
    if len(rooms) <= 1:
        parts = [post_room(room) for room in rooms]
    else:
        with ThreadPoolExecutor(max_workers=min(rooms_in_parallel, len(rooms))) as pool:
            parts = list(pool.map(post_room, rooms))
    for part in parts:
        outcome.add(part)
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
    return delivery.post(payload, ids, events=messages_in(payload))
