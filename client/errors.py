"""Errors raised by the chat client.

::

    ChatError
     +-- ConnectError          the server could not be reached (refused, DNS, timeout, 5xx)
     |    +-- AuthError        the upgrade was refused with 401 / 403: the token is not accepted
     |    +-- HandshakeError   the upgrade was refused with another status
     +-- ConnectionLost        the socket closed and the client will not (or may not) reconnect
     +-- RequestTimeout        no reply (ack, joined, history, ...) within the timeout
     +-- SendQueueFull         too many sends already waiting for the connection to come back
     +-- ServerError           the server answered ``error {code, message}``
          +-- HttpError        the HTTP API answered ``{code, message}`` with an error status

Every error carries a short ``code`` so scripts can tell them apart without parsing messages.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "ChatError",
    "ConnectError",
    "ConnectionLost",
    "HandshakeError",
    "HttpError",
    "RequestTimeout",
    "SendQueueFull",
    "ServerError",
]


class ChatError(Exception):
    """Base class of every error the client raises."""

    code = "error"


class ConnectError(ChatError):
    """The WebSocket could not be opened."""

    code = "unreachable"


class HandshakeError(ConnectError):
    """The server answered the upgrade with an HTTP status other than 101."""

    code = "handshake"

    def __init__(self, status: int, message: str | None = None) -> None:
        self.status = status
        super().__init__(message or f"server refused the connection: HTTP {status}")


class AuthError(HandshakeError):
    """The upgrade was refused with 401 or 403: retrying with the same token cannot help."""

    code = "auth"

    def __init__(self, status: int) -> None:
        super().__init__(status, f"token rejected by the server (HTTP {status})")


class ConnectionLost(ChatError):
    """The connection closed while a request was in flight, or the client was closed."""

    code = "closed"


class RequestTimeout(ChatError):
    """No reply arrived in time."""

    code = "timeout"


class SendQueueFull(ChatError):
    """The client is reconnecting and already holds as many queued requests as it may."""

    code = "queue_full"


class ServerError(ChatError):
    """The server replied with an ``error`` event."""

    def __init__(self, code: str, message: str, *, ref: str | None = None) -> None:
        self.code = code
        self.message = message
        self.ref = ref
        super().__init__(f"{code}: {message}" if message else code)


class HttpError(ServerError):
    """The HTTP API answered an error status; ``code`` is the stable one from the body."""

    def __init__(self, code: str, message: str, *, status: int) -> None:
        self.status = status
        super().__init__(code, message)
