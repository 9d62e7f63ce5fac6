"""Every error a client can receive, in one tree.

::

    ChatError                 code            when
    ├── BadRequest            bad_request     malformed frame, missing or invalid field
    ├── UnknownAction         unknown_action  ``action`` names no route
    ├── NotMember             not_member      the connection has not joined that room
    ├── Forbidden             forbidden       the user may not use that room
    ├── TooLarge              too_large       text or payload over its limit
    ├── RateLimited           rate_limited    too many sends in the current second
    ├── NotFound              not_found       the room has no stored messages, or no such message
    ├── AttachmentNotFound    attachment_not_found  no such attachment (or it was deleted)
    ├── AttachmentNotReady    attachment_not_ready  declared, not uploaded and checked yet
    ├── AttachmentExpired     attachment_expired    declared, never uploaded, upload expired
    ├── InvalidToken          invalid_token   a ``reauth`` token that does not verify
    ├── TokenExpired          token_expired   the connection's token has expired: it is closed
    └── InternalError         internal        anything unexpected (details stay in the log)

``code`` is stable and part of the wire protocol; ``message`` is for humans and may change.
The HTTP routes answer each with its status (``chatcore.httpapi.STATUS_BY_CODE``).
"""

from __future__ import annotations

__all__ = [
    "CODES",
    "AttachmentExpired",
    "AttachmentNotFound",
    "AttachmentNotReady",
    "BadRequest",
    "ChatError",
    "Forbidden",
    "InternalError",
    "InvalidToken",
    "NotFound",
    "NotMember",
    "RateLimited",
    "TokenExpired",
    "TooLarge",
    "UnknownAction",
]


class ChatError(Exception):
    """Base of every error that becomes an ``error`` event for the client."""

    code = "internal"

    def __init__(self, message: str, *, code: str | None = None, ref: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # The client's ``ref`` when the failing frame carried a valid one, echoed on the error.
        self.ref = ref
        if code is not None:
            self.code = code


class BadRequest(ChatError):
    code = "bad_request"


class UnknownAction(ChatError):
    code = "unknown_action"


class NotMember(ChatError):
    code = "not_member"


class Forbidden(ChatError):
    code = "forbidden"


class TooLarge(ChatError):
    code = "too_large"


class RateLimited(ChatError):
    code = "rate_limited"


class NotFound(ChatError):
    code = "not_found"


class AttachmentNotFound(ChatError):
    code = "attachment_not_found"


class AttachmentNotReady(ChatError):
    code = "attachment_not_ready"


class AttachmentExpired(ChatError):
    code = "attachment_expired"


class InvalidToken(ChatError):
    code = "invalid_token"


class TokenExpired(ChatError):
    code = "token_expired"


class InternalError(ChatError):
    code = "internal"


CODES: tuple[str, ...] = tuple(
    cls.code
    for cls in (
        BadRequest,
        UnknownAction,
        NotMember,
        Forbidden,
        TooLarge,
        RateLimited,
        NotFound,
        AttachmentNotFound,
        AttachmentNotReady,
        AttachmentExpired,
        InvalidToken,
        TokenExpired,
        InternalError,
    )
)
