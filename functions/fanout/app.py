"""FanoutQueue -> post each chunk of a big room; failed messages are reported one by one.

A chunk's payload is the frame the broadcaster would have posted (a ``message`` event, a
``messages`` frame of several, a notification), posted unchanged to the chunk's connections.

A partial batch response by hand rather than Powertools' BatchProcessor: the same
``batchItemFailures`` contract in a loop, without importing the batch utility (and asyncio with
it) into every cold start of the function that posts big rooms.
"""

from __future__ import annotations

from typing import Any

from chatcore import wiring
from chatcore.config import Config
from chatcore.dispatch import deliver_chunk
from chatcore.observability import instrument, logger, record_fanout

__all__ = ["handler"]


@instrument
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = Config.from_env()
    store = wiring.connection_store(config)
    delivery = wiring.delivery(config, config.management_endpoint, store=store)
    failures = []
    for record in event.get("Records") or []:
        try:
            result = deliver_chunk(record["body"], delivery=delivery)
        except Exception:
            # Back to the queue alone (and to the dead-letter queue after 5 receives).
            logger.exception("chunk failed", extra={"message_id": record.get("messageId")})
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        record_fanout(result)
        logger.info("chunk posted", extra=result.as_dict())
    return {"batchItemFailures": failures}
