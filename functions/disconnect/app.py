"""``$disconnect``: delete the connection and its memberships, tell its rooms it left.

Idempotent, and best-effort on AWS: TTL and the 410 path clean up when this never runs.
"""

from __future__ import annotations

from typing import Any

from chatcore import wiring
from chatcore.chat import leave_all
from chatcore.config import Config
from chatcore.observability import instrument, logger
from chatcore.requests import WebSocketRequest

__all__ = ["handler"]


@instrument
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = Config.from_env()
    request = WebSocketRequest.from_event(event)
    logger.append_keys(connection_id=request.connection_id)
    logger.set_correlation_id(request.request_id)
    store = wiring.connection_store(config)
    endpoint = request.management_endpoint(config.management_endpoint)
    delivery = wiring.delivery(config, endpoint, store=store)
    rooms = leave_all(
        request.connection_id,
        store=store,
        delivery=delivery,
        presence_room_limit=config.presence_room_limit,
    )
    logger.info(
        "disconnected",
        extra={"status": request.disconnect_status_code, "rooms": len(rooms)},
    )
    return {"statusCode": 200}
