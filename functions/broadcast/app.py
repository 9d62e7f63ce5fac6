"""MessagesTable stream -> every member of the message's room (FanoutQueue for big rooms).

Several messages of one room in one batch reach each member as one ``messages`` frame (under
the 32 KB metering unit). Partial batch responses: a record that fails is reported with the
others of its frame; the rest of the batch, its own room's later messages included, is still
delivered. Rooms are posted in parallel, each in order.
"""

from __future__ import annotations

from typing import Any

from chatcore import wiring
from chatcore.config import Config
from chatcore.dispatch import broadcast_batch
from chatcore.dynamodb_types import TypeDeserializer
from chatcore.observability import (
    instrument,
    logger,
    record_batching,
    record_delivery_latency,
    record_fanout,
)

__all__ = ["handler"]

# Records read straight from the event (not Powertools' data class, an import every cold start
# would pay for two fields).
_deserializer = TypeDeserializer()


@instrument
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = Config.from_env()
    store = wiring.connection_store(config)
    delivery = wiring.delivery(config, config.management_endpoint, store=store)
    records = [
        (
            str(change["SequenceNumber"]),
            {k: _deserializer.deserialize(v) for k, v in (change.get("NewImage") or {}).items()},
        )
        for change in (record.get("dynamodb") for record in event.get("Records") or [])
        if change is not None
    ]
    outcome = broadcast_batch(records, store=store, delivery=delivery)
    record_fanout(outcome.result)
    record_batching(
        batched_frames=outcome.batched_frames, batched_messages=outcome.batched_messages
    )
    record_delivery_latency(records, failed=outcome.failed)
    logger.info(
        "broadcast",
        extra={
            **outcome.result.as_dict(),
            "records": len(records),
            "failed": len(outcome.failed),
            "messages": outcome.messages,
            "frames": outcome.frames,
        },
    )
    return {"batchItemFailures": [{"itemIdentifier": seq} for seq in outcome.failed]}
