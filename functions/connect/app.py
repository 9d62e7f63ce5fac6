"""``$connect``: store the connection under the identity the authorizer put in the context."""

from __future__ import annotations

from typing import Any

from chatcore import clients, wiring
from chatcore.auth import AuthError
from chatcore.config import Config
from chatcore.observability import instrument, logger
from chatcore.requests import WebSocketRequest

__all__ = ["handler"]

# With provisioned concurrency the init phase runs ahead of traffic: build the client there.
clients.warm_if_provisioned(clients.dynamodb)


@instrument
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = Config.from_env()
    request = WebSocketRequest.from_event(event)
    logger.append_keys(connection_id=request.connection_id)
    logger.set_correlation_id(request.request_id)
    try:
        identity = request.identity()
    except AuthError as exc:
        # Only reachable when $connect has no authorizer: refuse rather than store a nobody.
        logger.error("connect without an authorizer identity", extra={"reason": exc.reason})
        return {"statusCode": 401}
    wiring.connection_store(config).put_connection(
        request.connection_id, identity, connected_at_ms=request.connected_at
    )
    logger.info("connected", extra={"user": identity.user_id})
    return {"statusCode": 200}
