"""Every message route (join, leave, send, dm, history, typing, who, ping, $default).

The reply goes back to the caller through ``@connections``; the Lambda result is only a status.
Before a frame is handled, the connection's token lifetime is checked (``chatcore.sessions``):
a socket whose token has expired is told ``token_expired`` and closed; one whose token ends
soon gets ``reauth_required`` before its reply.
"""

from __future__ import annotations

from typing import Any

from chatcore import clients, wiring
from chatcore.actions import reauth_required_event
from chatcore.attachment_store import AttachmentStore
from chatcore.auth import AuthError
from chatcore.chat import ChatService
from chatcore.config import Config
from chatcore.delivery import Delivery
from chatcore.keys import verifier_for
from chatcore.observability import count, instrument, logger
from chatcore.protocol import encode, error_event
from chatcore.requests import WebSocketRequest
from chatcore.routes import reply_to_frame
from chatcore.sessions import is_reauth

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
        verifier=lambda: verifier_for(config),
    )
    if not is_reauth(request.body) and not _session_open(request, service, delivery):
        return {"statusCode": 200}
    reply = reply_to_frame(request, service=service, limits=wiring.limits(config))
    if reply is not None:
        # A caller that answers 410 has gone: Delivery deletes its connection like any other.
        result = delivery.post(encode(reply), [request.connection_id])
        if result.gone:
            logger.info("caller left before its reply")
    return {"statusCode": 200}


def _session_open(request: WebSocketRequest, service: ChatService, delivery: Delivery) -> bool:
    """False when the token has expired (the socket is told, then closed)."""
    try:
        identity = request.identity()
    except AuthError:
        return True  # reply_to_frame answers a missing identity
    verdict, exp = service.actions.sessions.check(request.connection_id, identity)
    if verdict == "expired":
        message = "your token has expired; reconnect with a new one"
        delivery.post(
            encode(error_event(code="token_expired", message=message)), [request.connection_id]
        )
        delivery.gateway.close(request.connection_id)
        count("ConnectionsExpired")
        logger.info("token expired: connection closed")
        return False
    if verdict == "warn" and exp is not None:
        delivery.post(encode(reauth_required_event(exp=exp)), [request.connection_id])
    return True
