"""The Python client of the chat backend: an asyncio library, the ``chat`` CLI and a load tester.

::

    from client import ChatClient

    async with ChatClient("ws://127.0.0.1:3001/dev", token) as chat:
        await chat.join("lobby")
        await chat.send("lobby", "hello")
        async for event in chat.events():
            print(event)
"""

from __future__ import annotations

from client.backoff import Backoff
from client.chat import ChatClient, ClientStats, State
from client.errors import (
    AuthError,
    ChatError,
    ConnectError,
    ConnectionLost,
    HandshakeError,
    HttpError,
    RequestTimeout,
    SendQueueFull,
    ServerError,
)
from client.events import (
    Ack,
    ErrorEvent,
    Event,
    History,
    Joined,
    Left,
    Message,
    Messages,
    Notification,
    Pong,
    Presence,
    Typing,
    UnknownEvent,
    User,
    parse_event,
)

__all__ = [
    "Ack",
    "AuthError",
    "Backoff",
    "ChatClient",
    "ChatError",
    "ClientStats",
    "ConnectError",
    "ConnectionLost",
    "ErrorEvent",
    "Event",
    "HandshakeError",
    "History",
    "HttpError",
    "Joined",
    "Left",
    "Message",
    "Messages",
    "Notification",
    "Pong",
    "Presence",
    "RequestTimeout",
    "SendQueueFull",
    "ServerError",
    "State",
    "Typing",
    "UnknownEvent",
    "User",
    "parse_event",
]
