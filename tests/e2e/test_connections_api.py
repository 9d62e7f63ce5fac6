"""The core's lean @connections client against the local stack's real @connections API.

It must behave like boto3's ``apigatewaymanagementapi`` client wherever the fan-out can tell:
a delivered post, ``GoneException`` (410) for an unknown id, ``PayloadTooLargeException`` (413),
over HTTP and over HTTPS verified with ``AWS_CA_BUNDLE``.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from websockets.exceptions import ConnectionClosed

from chatcore.connections_api import ConnectionsApi
from chatcore.gateway import Gateway, Outcome
from tests.e2e.harness import TIMEOUT

# Some server-side sockets of the stack's @connections API (aiohttp, after this client's
# keep-alive connections and a refused 413 body) are only reclaimed by the garbage collector once
# the module's stack has stopped; reclaim them here, under these tests' filter, not in a later
# module's test.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.fixture(scope="module", autouse=True)
def reclaim_sockets() -> Iterator[None]:
    yield
    gc.collect()


def open_connection(chat_stack: Any, user: str) -> tuple[Any, str]:
    before = set(chat_stack.stack.gateway.connections)
    ws = chat_stack.connect(token=chat_stack.dev_token(user))
    [connection_id] = set(chat_stack.stack.gateway.connections) - before
    return ws, connection_id


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_posts_arrive_and_errors_read_like_boto3(
    chat_stack: Any, scheme: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CA_BUNDLE", str(chat_stack.stack.ca_bundle))
    url = chat_stack.stack.management_url
    if scheme == "https":
        url = chat_stack.stack.management_https_url
    api = ConnectionsApi(url, region="us-east-1")
    ws, connection_id = open_connection(chat_stack, f"lean-{scheme}")
    with ws, contextlib.closing(api):
        api.post_to_connection(ConnectionId=connection_id, Data=b'{"type":"hello"}')
        assert ws.receive_json(timeout=TIMEOUT) == {"type": "hello"}

        with pytest.raises(ClientError) as gone:
            api.post_to_connection(ConnectionId="AAAAAAAAAAAAAAA=", Data=b"{}")
        assert gone.value.response["Error"]["Code"] == "GoneException"
        assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410

        with pytest.raises(ClientError) as too_big:
            api.post_to_connection(ConnectionId=connection_id, Data=b"x" * (128 * 1024 + 1))
        assert too_big.value.response["Error"]["Code"] == "PayloadTooLargeException"

        # The fan-out reads these outcomes exactly as it reads boto3's.
        outcomes = Gateway(api).post_many([connection_id, "AAAAAAAAAAAAAAA="], b'{"n":1}')
        assert outcomes == {connection_id: Outcome.DELIVERED, "AAAAAAAAAAAAAAA=": Outcome.GONE}
        assert ws.receive_json(timeout=TIMEOUT) == {"n": 1}


def test_delete_closes_the_socket_and_a_second_delete_reads_gone(
    chat_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the HTTP API's user disconnect does for each of the user's connections.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    api = ConnectionsApi(chat_stack.stack.management_url, region="us-east-1")
    ws, connection_id = open_connection(chat_stack, "lean-delete")
    with ws, contextlib.closing(api):
        answer = api.delete_connection(ConnectionId=connection_id)
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
        with pytest.raises(ConnectionClosed):
            ws.receive(timeout=TIMEOUT)
        assert ws.close_code == 1000
        with pytest.raises(ClientError) as gone:
            api.delete_connection(ConnectionId=connection_id)
        assert gone.value.response["Error"]["Code"] == "GoneException"
