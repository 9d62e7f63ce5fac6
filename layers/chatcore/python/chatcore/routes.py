"""One message route, end to end except the I/O of replying: frame in, reply event out.

Every failure becomes an ``error`` event: a ``ChatError`` keeps its code (counted in
``RejectedFrames``), anything unexpected is logged with its stack and answered ``internal``, so a
client is never left waiting on a silent crash.
"""

from __future__ import annotations

from typing import Any

from chatcore import observability
from chatcore.auth import AuthError
from chatcore.chat import Caller, ChatService
from chatcore.errors import ChatError
from chatcore.protocol import Frame, Limits, error_event, parse_frame
from chatcore.requests import WebSocketRequest

__all__ = ["INTERNAL_MESSAGE", "reply_to_frame"]

INTERNAL_MESSAGE = "something went wrong on our side; retry later"


def reply_to_frame(
    request: WebSocketRequest, *, service: ChatService, limits: Limits
) -> dict[str, Any] | None:
    frame: Frame | None = None
    try:
        caller = Caller(request.connection_id, request.identity())
        frame = parse_frame(request.body, limits=limits)
        return service.handle(frame, caller)
    except ChatError as exc:
        if exc.ref is None and frame is not None:
            exc.ref = frame.ref
        observability.rejected(exc.code)
        observability.logger.info("frame rejected", extra={"code": exc.code})
        return error_event(code=exc.code, message=exc.message, ref=exc.ref)
    except AuthError as exc:
        # No authorizer context on a message route: the deployment is wrong, not the client.
        observability.logger.error("no identity on a message route", extra={"reason": exc.reason})
        observability.rejected("forbidden")
        return error_event(code="forbidden", message="no authenticated identity")
    except Exception:
        observability.logger.exception("unexpected failure on a message route")
        observability.rejected("internal")
        return error_event(
            code="internal", message=INTERNAL_MESSAGE, ref=frame.ref if frame else None
        )
