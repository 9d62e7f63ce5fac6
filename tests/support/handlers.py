"""Load ``functions/<name>/app.py`` handlers, a Lambda-like context, and the ``@connections``
fake that functional tests install through ``chatcore.clients.management_factory``.

moto's ``apigatewaymanagementapi`` accepts every id and never answers 410, so the fake records
what each connection was sent and answers 410/429 for the ids a test names.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

from botocore.exceptions import ClientError

__all__ = ["FUNCTIONS_DIR", "FakeManagementApi", "LambdaContext", "load_handler"]

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"


@cache
def _module(name: str) -> ModuleType:
    path = FUNCTIONS_DIR / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"functions_{name}_app", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_handler(name: str) -> Any:
    """The ``handler`` of ``functions/{name}/app.py`` (each function's ``app`` module is loaded
    under its own name, since all of them are called ``app``)."""
    return _module(name).handler


@dataclass
class LambdaContext:
    function_name: str = "chat-function"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:chat-function"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/chat-function"
    log_stream_name: str = "2026/11/26/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


class _Gone(ClientError):
    pass


class _LimitExceeded(ClientError):
    pass


def _error(cls: type[ClientError], code: str, status: int) -> ClientError:
    return cls(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PostToConnection",
    )


class FakeManagementApi:
    """An in-memory ``@connections``: records posts, answers 410 for ``gone`` ids and 429 for
    the next ``throttle[id]`` posts to an id."""

    exceptions = SimpleNamespace(GoneException=_Gone, LimitExceededException=_LimitExceeded)

    def __init__(self) -> None:
        self.posted: dict[str, list[bytes]] = defaultdict(list)
        self.gone: set[str] = set()
        self.throttle: dict[str, int] = {}
        self.endpoints: list[str] = []
        self.attempts: dict[str, int] = defaultdict(int)
        self.deleted: list[str] = []
        self._lock = threading.Lock()

    def factory(self, endpoint_url: str, max_pool_connections: int) -> FakeManagementApi:
        self.endpoints.append(endpoint_url)
        return self

    def post_to_connection(self, *, ConnectionId: str, Data: bytes) -> dict[str, Any]:
        with self._lock:
            self.attempts[ConnectionId] += 1
            if ConnectionId in self.gone:
                raise _error(_Gone, "GoneException", 410)
            if self.throttle.get(ConnectionId, 0) > 0:
                self.throttle[ConnectionId] -= 1
                raise _error(_LimitExceeded, "LimitExceededException", 429)
            self.posted[ConnectionId].append(bytes(Data))
        return {"ResponseMetadata": {"HTTPStatusCode": 200}}

    def delete_connection(self, *, ConnectionId: str) -> dict[str, Any]:
        """``DELETE @connections/{id}``: recorded in ``deleted``; 410 for ``gone`` ids."""
        with self._lock:
            if ConnectionId in self.gone:
                raise _error(_Gone, "GoneException", 410)
            self.deleted.append(ConnectionId)
        return {"ResponseMetadata": {"HTTPStatusCode": 204}}

    def events(self, connection_id: str) -> list[dict[str, Any]]:
        """Every event posted to one connection, decoded, oldest first."""
        return [json.loads(data) for data in self.posted.get(connection_id, [])]

    def messages(self, connection_id: str) -> list[dict[str, Any]]:
        """The ``message`` events one connection got, a ``messages`` frame read as its messages."""
        found: list[dict[str, Any]] = []
        for event in self.events(connection_id):
            if event["type"] == "message":
                found.append(event)
            elif event["type"] == "messages":
                found.extend(event["messages"])
        return found

    def last(self, connection_id: str) -> dict[str, Any]:
        events = self.events(connection_id)
        assert events, f"nothing was posted to {connection_id}"
        return events[-1]

    def clear(self) -> None:
        self.posted.clear()
        self.attempts.clear()
