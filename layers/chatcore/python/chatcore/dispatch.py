"""What the asynchronous functions do with one record: a stored message, a notification, a chunk.

Kept out of the handlers so each handler is only "parse the batch, call this, report failures".
"""

from __future__ import annotations

import time
from typing import Any

from chatcore.delivery import Delivery
from chatcore.fanout import MAX_PAYLOAD_BYTES, FanoutResult, parse_chunk
from chatcore.notify import InvalidNotification, Notification
from chatcore.protocol import encode, notification_event
from chatcore.recipients import message_from_image, notification_recipients, room_recipients
from chatcore.store import ConnectionStore

__all__ = ["broadcast_image", "deliver_chunk", "deliver_notification"]


def broadcast_image(
    image: dict[str, Any], *, store: ConnectionStore, delivery: Delivery
) -> FanoutResult:
    """Post a newly stored message to its room (or to both users of a DM room)."""
    message = message_from_image(image)
    if message is None:
        return FanoutResult()
    ids = room_recipients(store, message["room"])
    return delivery.deliver(encode(message), ids)


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
