"""MessagesTable stream -> every member of the message's room (FanoutQueue for big rooms).

Partial batch responses: a record that fails is reported alone and retried alone.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from chatcore import wiring
from chatcore.config import Config
from chatcore.dispatch import broadcast_image
from chatcore.observability import instrument, logger, record_fanout

__all__ = ["handler"]

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@instrument
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = Config.from_env()
    store = wiring.connection_store(config)
    delivery = wiring.delivery(config, config.management_endpoint, store=store)

    def record_handler(record: DynamoDBRecord) -> None:
        image = record.dynamodb.new_image if record.dynamodb else {}
        result = broadcast_image(dict(image or {}), store=store, delivery=delivery)
        record_fanout(result)
        logger.info("broadcast", extra=result.as_dict())

    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
