"""API Gateway's WebSocket side, on ``websockets``: a pure core under a thin asyncio adapter.

Pure: :mod:`lifecycle` (connection states and their one transition table), :mod:`routing`
(``RouteSelectionExpression``), :mod:`events` (Lambda proxy events), :mod:`policy` (authorizer
IAM policies), :mod:`integration` (what an integration's answer means), :mod:`throttle`,
:mod:`pages`. Adapter: :mod:`server`.
"""

from __future__ import annotations

from local.gateway.server import (
    MAX_FRAME_BYTES,
    MAX_MESSAGE_BYTES,
    Gateway,
    GatewayOptions,
    Invoker,
    LiveConnection,
)

__all__ = [
    "MAX_FRAME_BYTES",
    "MAX_MESSAGE_BYTES",
    "Gateway",
    "GatewayOptions",
    "Invoker",
    "LiveConnection",
]
