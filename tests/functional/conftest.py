"""Handlers on moto: one in-process moto server per session, the template's resources per test.

Fixtures:

- ``aws_endpoint``: the moto server's URL, reset and provisioned from ``template.yaml`` for this
  test (tables with streams/TTL/GSI, topic, queues with redrive). ``AWS_ENDPOINT_URL``, fake
  credentials and ``us-east-1`` are set for the whole session, so plain ``boto3.client(...)``
  reaches moto.
- ``stack``: the loaded template (``local.model.Stack``); queue URLs point at moto.
- ``stack_resources``: logical id -> physical id (table name, queue URL, topic ARN).
- ``function_env``: ``function_env("ChatFunction")`` applies that function's environment from
  the template (plus ``JWT_SECRET``) with monkeypatch and returns it. ``MANAGEMENT_ENDPOINT``
  points at moto's ``@connections`` stub (accepts every id, never answers 410) instead of AWS,
  so nothing leaves the machine.
- ``jwt_secret``: the HS256 key the authorizer is given in ``function_env``.
- ``chat``: a ``tests.support.chat.ChatHarness`` that runs each handler with its own environment
  and records what they post to ``@connections``.
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from local.model import Stack
from local.provision import provision
from local.template import api_endpoint_mapping, load_stack, rewrite_endpoints
from tests.support.chat import ChatHarness, harness

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
JWT_SECRET = "functional-tests-hs256-key-of-at-least-32-bytes"

_SESSION_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    # botocore >= 1.44.4 sends DynamoDB Streams to an account-id host moto does not route.
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}


@pytest.fixture(scope="session")
def _moto_endpoint() -> Iterator[str]:
    # One access-log line per AWS call would drown every failing test's output.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**_SESSION_ENV, "AWS_ENDPOINT_URL": endpoint}.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        yield endpoint
    server.stop()


@pytest.fixture(scope="session")
def stack(_moto_endpoint: str) -> Stack:
    # Function folders are not checked: provisioning needs none, and a missing handler should
    # fail its own tests, not every test.
    return load_stack(TEMPLATE, sqs_endpoint=_moto_endpoint, check_code=False)


@pytest.fixture(scope="session")
def _clients(_moto_endpoint: str) -> dict[str, Any]:
    # Building a boto3 client costs ~0.1 s; the provisioner gets the same ones for every test.
    session = boto3.Session(region_name="us-east-1")
    return {
        service: session.client(service, endpoint_url=_moto_endpoint)
        for service in ("dynamodb", "sqs", "sns", "ssm", "s3")
    }


@pytest.fixture
def _provisioned(_moto_endpoint: str, stack: Stack, _clients: dict[str, Any]) -> dict[str, str]:
    request = urllib.request.Request(f"{_moto_endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    return provision(stack, clients=_clients).physical_ids


@pytest.fixture
def aws_endpoint(_moto_endpoint: str, _provisioned: dict[str, str]) -> str:
    return _moto_endpoint


@pytest.fixture
def stack_resources(stack: Stack, _provisioned: dict[str, str]) -> dict[str, str]:
    ids = {logical_id: r.physical_id for logical_id, r in stack.resources.items()}
    ids.update(_provisioned)  # what moto actually answered (queue URLs)
    return ids


@pytest.fixture
def jwt_secret() -> str:
    return JWT_SECRET


@pytest.fixture
def function_env(
    stack: Stack, aws_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], dict[str, str]]:
    # moto serves its @connections stub at the root (no stage), so the stage goes too.
    mapping = {}
    for api in stack.websocket_apis:
        for aws_base in api_endpoint_mapping(stack, api, https_base="", wss_base=""):
            mapping[f"{aws_base}/{api.stage}"] = aws_endpoint
    local = rewrite_endpoints(stack, mapping)

    def apply(logical_id: str) -> dict[str, str]:
        if logical_id not in local.functions:
            known = ", ".join(local.functions)
            raise KeyError(f"{logical_id} is not a function of template.yaml (it has: {known})")
        env = {**local.functions[logical_id].environment, "JWT_SECRET": JWT_SECRET}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return env

    return apply


@pytest.fixture
def chat(
    function_env: Callable[[str], dict[str, str]], stack: Stack, stack_resources: dict[str, str]
) -> Iterator[ChatHarness]:
    with harness(function_env, stack=stack, resources=stack_resources) as h:
        yield h
