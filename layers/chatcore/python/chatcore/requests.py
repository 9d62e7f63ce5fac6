"""A typed view of the API Gateway WebSocket proxy event (CONNECT, MESSAGE, DISCONNECT).

Lenient on purpose: only the fields the handlers use are read, so an event with extra or missing
optional fields (as API Gateway adds over time) still parses. Identity comes from
``requestContext.authorizer`` only, never from the body.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chatcore.auth import Identity

__all__ = ["AuthorizerRequest", "WebSocketRequest"]


@dataclass(frozen=True, kw_only=True)
class WebSocketRequest:
    connection_id: str
    route_key: str
    event_type: str
    request_id: str
    domain_name: str
    stage: str
    connected_at: int | None
    body: str | None
    authorizer: Mapping[str, Any] = field(default_factory=dict)
    disconnect_status_code: int | None = None

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> WebSocketRequest:
        context = event.get("requestContext") or {}
        connection_id = context.get("connectionId")
        if not isinstance(connection_id, str) or not connection_id:
            raise ValueError("the event has no requestContext.connectionId")
        connected_at = context.get("connectedAt")
        status = context.get("disconnectStatusCode")
        return cls(
            connection_id=connection_id,
            route_key=str(context.get("routeKey", "")),
            event_type=str(context.get("eventType", "")),
            request_id=str(context.get("requestId", "")),
            domain_name=str(context.get("domainName", "")),
            stage=str(context.get("stage", "")),
            connected_at=int(connected_at) if connected_at is not None else None,
            body=event.get("body"),
            authorizer=context.get("authorizer") or {},
            disconnect_status_code=int(status) if status is not None else None,
        )

    def identity(self) -> Identity:
        return Identity.from_context(self.authorizer)

    def management_endpoint(self, configured: str = "") -> str:
        """Where ``@connections`` lives: the configured endpoint, else ``https://{domain}/{stage}``
        as API Gateway's own examples build it."""
        if configured:
            return configured
        return f"https://{self.domain_name}/{self.stage}"


@dataclass(frozen=True, kw_only=True)
class AuthorizerRequest:
    """The REQUEST authorizer's input on ``$connect``; ``token`` must never be logged."""

    method_arn: str
    token: str
    origin: str | None
    connection_id: str

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> AuthorizerRequest:
        query = event.get("queryStringParameters") or {}
        headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
        origin = headers.get("origin")
        context = event.get("requestContext") or {}
        return cls(
            method_arn=str(event.get("methodArn", "")),
            token=str(query.get("token") or ""),
            origin=str(origin) if origin is not None else None,
            connection_id=str(context.get("connectionId", "")),
        )
