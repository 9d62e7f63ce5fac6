"""The HTTP API routes (payload format 2.0): publish, history, members, me, my rooms,
notifications, user disconnects (the attachment routes are the attachments function's).

API Gateway has already matched the route and run the authorizer; the handler dispatches on the
event's ``routeKey`` and answers with the 2.0 response (``statusCode``, headers, JSON body).
"""

from __future__ import annotations

from typing import Any

from chatcore import clients, wiring
from chatcore.attachment_store import AttachmentStore
from chatcore.chat import ChatService
from chatcore.config import Config
from chatcore.httpapi import HttpRequest
from chatcore.httproutes import HttpRoutes
from chatcore.observability import instrument, logger

__all__ = ["handler"]


@instrument
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = Config.from_env()
    request = HttpRequest.from_event(event)
    logger.append_keys(route=request.route_key)
    logger.set_correlation_id(request.request_id)
    store = wiring.connection_store(config)
    log = wiring.message_log(config)
    # @connections is the WebSocket API's: configured, since this event's domain is the HTTP API.
    endpoint = config.management_endpoint

    delivery = wiring.delivery(config, endpoint, store=store)
    # A publish may name attachments; S3 is reached only when one does.
    files = AttachmentStore.from_config(config) if config.attachments_bucket else None
    routes = HttpRoutes(
        chat=ChatService(
            store=store,
            log=log,
            delivery=delivery,
            send_rate_per_second=config.send_rate_per_second,
            presence_room_limit=config.presence_room_limit,
            attachments=files,
        ),
        store=store,
        delivery=delivery,
        # The same cached client as the delivery's: one connection pool per container.
        management=lambda: clients.management(
            endpoint, max_pool_connections=config.fanout_concurrency
        ),
        limits=wiring.limits(config),
    )
    return routes.handle(request)
