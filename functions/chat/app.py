"""Every message route (join, leave, send, dm, history, typing, who, ping, $default).

The reply goes back to the caller through ``@connections``; the Lambda result is only a status.
"""

from __future__ import annotations

from typing import Any

from chatcore import clients, wiring
from chatcore.attachment_store import AttachmentStore
from chatcore.chat import ChatService
from chatcore.config import Config
from chatcore.observability import instrument, logger
from chatcore.protocol import encode
from chatcore.requests import WebSocketRequest
from chatcore.routes import reply_to_frame

__all__ = ["handler"]

# With provisioned concurrency the init phase runs ahead of traffic: build the client there.
clients.warm_if_provisioned(clients.dynamodb)


@instrument
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = Config.from_env()
    request = WebSocketRequest.from_event(event)
    logger.append_keys(connection_id=request.connection_id, route=request.route_key)
    logger.set_correlation_id(request.request_id)
    endpoint = request.management_endpoint(config.management_endpoint)
    store = wiring.connection_store(config)
    delivery = wiring.delivery(config, endpoint, store=store)
    service = ChatService(
        store=store,
        log=wiring.message_log(config),
        delivery=delivery,
        send_rate_per_second=config.send_rate_per_second,
        presence_room_limit=config.presence_room_limit,
        attachments=AttachmentStore.from_config(config) if config.attachments_bucket else None,
    )
    reply = reply_to_frame(request, service=service, limits=wiring.limits(config))
    if reply is not None:
        # A caller that answers 410 has gone: Delivery deletes its connection like any other.
        result = delivery.post(encode(reply), [request.connection_id])
        if result.gone:
            logger.info("caller left before its reply")
    return {"statusCode": 200}
