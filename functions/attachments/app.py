"""HTTP API: declare an attachment (pre-signed S3 POST) and download one (pre-signed GET).

``POST /rooms/{room}/attachments`` and ``GET /attachments/{id}``; see chatcore.attachment_routes.
The bytes never pass through here: clients upload to and download from S3 directly.
"""

from __future__ import annotations

from typing import Any

from chatcore.attachment_routes import handle
from chatcore.attachment_store import AttachmentStore
from chatcore.config import Config
from chatcore.httpapi import HttpRequest
from chatcore.observability import instrument, logger

__all__ = ["handler"]


@instrument
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = Config.from_env()
    request = HttpRequest.from_event(event)
    logger.append_keys(route=request.route_key)
    logger.set_correlation_id(request.request_id)
    return handle(request, store=AttachmentStore.from_config(config), config=config)
