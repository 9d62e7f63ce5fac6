"""``@connections`` through boto3's unchanged ``apigatewaymanagementapi`` client."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, SSLError
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.harness import (
    TIMEOUT,
    InProcessRuntime,
    make_api,
    management_client,
    running_gateway,
    running_management,
)


def ok(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200}


def whoami(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": event["requestContext"]["connectionId"]}


API = make_api(
    {"$connect": "Connect", "$disconnect": "Disconnect", "whoami": "WhoAmI"},
    two_way=("whoami",),
)


def runtime() -> InProcessRuntime:
    return InProcessRuntime({"Connect": ok, "Disconnect": ok, "WhoAmI": whoami})


async def connection_id(ws: Any) -> str:
    await ws.send(json.dumps({"action": "whoami"}))
    async with asyncio.timeout(TIMEOUT):
        return str(await ws.recv())


def error_of(call: Any, *args: Any, **kwargs: Any) -> tuple[int, str]:
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    err = info.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"]


async def test_post_get_delete_round_trip(tmp_path: Path) -> None:
    rt = runtime()
    async with (
        running_gateway(API, rt) as gw,
        running_management(gw, tmp_path) as mgmt,
        connect(gw.ws_url, user_agent_header="agent/7") as ws,
    ):
        cid = await connection_id(ws)
        client = management_client(mgmt.url)

        await asyncio.to_thread(client.post_to_connection, ConnectionId=cid, Data=b'{"a":1}')
        async with asyncio.timeout(TIMEOUT):
            assert await ws.recv() == '{"a":1}'

        info = await asyncio.to_thread(client.get_connection, ConnectionId=cid)
        assert info["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "agent/7"}
        assert isinstance(info["ConnectedAt"], dt.datetime)
        assert info["LastActiveAt"] >= info["ConnectedAt"]
        age = dt.datetime.now(dt.UTC) - info["ConnectedAt"]
        assert dt.timedelta(0) <= age < dt.timedelta(seconds=TIMEOUT)

        response = await asyncio.to_thread(client.delete_connection, ConnectionId=cid)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(TIMEOUT):
                await ws.recv()
        assert ws.close_code == 1000
        (event,) = await rt.wait_for("Disconnect")
        assert event["requestContext"]["connectionId"] == cid
        assert event["requestContext"]["disconnectStatusCode"] == 1000

        for call in (client.get_connection, client.delete_connection):
            assert await asyncio.to_thread(error_of, call, ConnectionId=cid) == (
                410,
                "GoneException",
            )
        assert await asyncio.to_thread(
            error_of, client.post_to_connection, ConnectionId=cid, Data=b"x"
        ) == (410, "GoneException")
    assert len(rt.events["Disconnect"]) == 1


async def test_unknown_id_is_gone_and_oversize_is_413(tmp_path: Path) -> None:
    rt = runtime()
    async with (
        running_gateway(API, rt) as gw,
        running_management(gw, tmp_path) as mgmt,
        connect(gw.ws_url) as ws,
    ):
        client = management_client(mgmt.url)
        status = await asyncio.to_thread(
            error_of, client.post_to_connection, ConnectionId="AAAAAAAAAAAAAAA=", Data=b"x"
        )
        assert status == (410, "GoneException")
        cid = await connection_id(ws)
        big = b"x" * (128 * 1024 + 1)
        status = await asyncio.to_thread(
            error_of, client.post_to_connection, ConnectionId=cid, Data=big
        )
        assert status == (413, "PayloadTooLargeException")
        # Exactly 128 KB is allowed, and the connection is still there after the refusal.
        await asyncio.to_thread(client.post_to_connection, ConnectionId=cid, Data=big[:-1])
        async with asyncio.timeout(TIMEOUT):
            assert len(await ws.recv()) == 128 * 1024


async def test_a_client_that_stops_reading_gets_limit_exceeded(tmp_path: Path) -> None:
    rt = runtime()
    chunk = b"z" * (128 * 1024)
    async with running_gateway(API, rt) as gw, running_management(gw, tmp_path) as mgmt:
        # A small receive buffer, and a client that reads one frame and then stops reading.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", gw.port))
        sock.setblocking(False)
        ws = await connect(gw.ws_url, sock=sock, max_queue=1)
        cid = await connection_id(ws)
        client = management_client(mgmt.url)

        def post_until_refused() -> tuple[int, tuple[int, str]]:
            for sent in range(400):  # 50 MB: far past any socket buffer on this machine
                try:
                    client.post_to_connection(ConnectionId=cid, Data=chunk)
                except ClientError as exc:
                    meta = exc.response
                    return sent, (meta["ResponseMetadata"]["HTTPStatusCode"], meta["Error"]["Code"])
            raise AssertionError("400 posts to a client that reads nothing were all accepted")

        try:
            sent, refusal = await asyncio.to_thread(post_until_refused)
        finally:
            ws.transport.abort()  # a client this stuck would never finish a closing handshake
        assert refusal == (429, "LimitExceededException")
        assert sent >= 8  # at least 1 MB went out before the buffer counted as full


async def test_wrong_stage_is_forbidden(tmp_path: Path) -> None:
    rt = runtime()
    async with running_gateway(API, rt) as gw, running_management(gw, tmp_path) as mgmt:
        client = management_client(mgmt.url.replace("/dev", "/prod"))
        status = await asyncio.to_thread(
            error_of, client.get_connection, ConnectionId="AAAAAAAAAAAAAAA="
        )
        assert status == (403, "ForbiddenException")


# CPython 3.11's asyncio leaves the server side of a failed TLS handshake unclosed (its socket is
# only reclaimed by the garbage collector); the refusal below is the point of the test.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_https_endpoint_verifies_against_the_local_ca(tmp_path: Path) -> None:
    rt = runtime()
    async with (
        running_gateway(API, rt) as gw,
        running_management(gw, tmp_path) as mgmt,
        connect(gw.ws_url) as ws,
    ):
        cid = await connection_id(ws)
        # Without the local CA, verification fails: TLS is real, not switched off.
        untrusted = management_client(mgmt.https_url, verify=True)
        with pytest.raises(SSLError):
            await asyncio.to_thread(untrusted.get_connection, ConnectionId=cid)
        trusted = management_client(mgmt.https_url, verify=str(mgmt.tls.ca_cert))
        await asyncio.to_thread(trusted.post_to_connection, ConnectionId=cid, Data=b"over tls")
        async with asyncio.timeout(TIMEOUT):
            assert await ws.recv() == "over tls"
    gc.collect()  # reclaim that socket here, under this test's filter, not in a later test


# --------------------------------------------------------------------------- on the whole stack


def test_handler_builds_its_endpoint_from_domain_name_over_verified_tls(echo_stack: Any) -> None:
    """AWS's example code, unchanged: ``https://{domainName}/{stage}`` with TLS verification on."""
    with echo_stack.connect() as ws:
        ws.send_json({"action": "echo", "text": "round trip"})
        reply = ws.receive_json(timeout=TIMEOUT)
    https_port = echo_stack.stack.management.ports.https_port
    assert reply["echo"] == "round trip"
    assert reply["endpoint"] == f"https://127.0.0.1:{https_port}/test"
    assert reply["sourceIp"] == "127.0.0.1"


def test_delete_from_boto3_closes_the_socket_and_runs_disconnect_once(
    echo_stack: Any, disconnects: Any
) -> None:
    watch = disconnects(echo_stack)
    client = management_client(echo_stack.management_url)
    with echo_stack.connect() as ws:
        ws.send_json({"action": "echo", "text": "who am i"})
        cid = ws.receive_json(timeout=TIMEOUT)["connectionId"]
        assert client.get_connection(ConnectionId=cid)["Identity"]["SourceIp"] == "127.0.0.1"
        client.delete_connection(ConnectionId=cid)
        with pytest.raises(ConnectionClosed):
            ws.receive(timeout=TIMEOUT)
        assert ws.close_code == 1000
    event = watch.wait(cid)
    assert event["requestContext"]["disconnectStatusCode"] == 1000
    assert error_of(client.post_to_connection, ConnectionId=cid, Data=b"x") == (
        410,
        "GoneException",
    )
    assert len(watch.for_connection(cid)) == 1
