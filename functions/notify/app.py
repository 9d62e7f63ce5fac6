"""SNS NotificationsTopic -> ``notification`` events to the targets' connections.

A message that does not follow the schema is logged (reason only, never its content) and dropped:
raising would make Lambda retry an input that can never succeed.
"""

from __future__ import annotations

from typing import Any

from chatcore import wiring
from chatcore.config import Config
from chatcore.dispatch import deliver_notification
from chatcore.notify import InvalidNotification, parse_notification
from chatcore.observability import count, instrument, logger, record_fanout

__all__ = ["handler"]


@instrument
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = Config.from_env()
    store = wiring.connection_store(config)
    delivery = wiring.delivery(config, config.management_endpoint, store=store)
    delivered = dropped = 0
    for record in event.get("Records") or []:
        sns = record.get("Sns") or {}
        try:
            notification = parse_notification(sns.get("Message", ""))
            result = deliver_notification(notification, store=store, delivery=delivery)
        except InvalidNotification as exc:
            dropped += 1
            count("DroppedNotifications")
            logger.warning(
                "notification dropped",
                extra={"reason": str(exc), "snsMessageId": sns.get("MessageId")},
            )
            continue
        record_fanout(result)
        delivered += result.delivered
        logger.info("notification delivered", extra={"id": notification.id, **result.as_dict()})
    return {"delivered": delivered, "dropped": dropped}
