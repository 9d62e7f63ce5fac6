"""FanoutQueue -> post each chunk of a big room; failed messages are reported one by one.

A chunk's payload is the frame the broadcaster would have posted (a ``message`` event, a
``messages`` frame of several, a notification), posted unchanged to the chunk's connections.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chatcore import wiring
from chatcore.config import Config
from chatcore.dispatch import deliver_chunk
from chatcore.observability import instrument, logger, record_fanout

__all__ = ["handler"]

processor = BatchProcessor(event_type=EventType.SQS)


@instrument
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = Config.from_env()
    store = wiring.connection_store(config)
    delivery = wiring.delivery(config, config.management_endpoint, store=store)

    def record_handler(record: SQSRecord) -> None:
        result = deliver_chunk(record.body, delivery=delivery)
        record_fanout(result)
        logger.info("chunk posted", extra=result.as_dict())

    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
