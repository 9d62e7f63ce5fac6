"""Cached AWS client factories: the one place the core builds AWS clients.

Clients come from one botocore session per container, created on first use: nothing is created
(or even imported) at import time, so ``AWS_ENDPOINT_URL`` (set by the local stack and the tests
before the first request) decides where each client points, and a handler's cold start does not
pay for botocore until it talks to AWS. botocore rather than boto3: the core only needs low-level
clients, and importing boto3 adds its resource layer and s3transfer on top of botocore.
``reset()`` forgets every cached client, which tests call when they start a fresh moto server.

``management_factory`` is the documented seam for the ``@connections`` client: tests and
benchmarks assign a callable ``(endpoint_url, max_pool_connections) -> client`` to it (and put
``None`` back afterwards) to capture what the functions post or to answer ``410 Gone``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

__all__ = [
    "ManagementFactory",
    "dynamodb",
    "management",
    "management_factory",
    "reset",
    "s3",
    "secretsmanager",
    "session",
    "sqs",
    "ssm",
    "warm",
    "warm_if_provisioned",
]

ManagementFactory = Callable[[str, int], Any]

# Set by tests to replace the real @connections client; None means the lean client.
management_factory: ManagementFactory | None = None


@functools.cache
def session() -> Any:
    """The container's botocore session (credentials chain, region, endpoint settings)."""
    import botocore.session

    return botocore.session.get_session()


@functools.cache
def _config() -> Any:
    from botocore.config import Config

    # Small, bounded retries for DynamoDB/SQS; the @connections client does its own (gateway).
    return Config(retries={"max_attempts": 3, "mode": "standard"})


def _client(service: str) -> Any:
    return session().create_client(service, config=_config())


@functools.cache
def dynamodb() -> Any:
    return _client("dynamodb")


@functools.cache
def sqs() -> Any:
    return _client("sqs")


@functools.cache
def s3() -> Any:
    from botocore.config import Config

    # SigV4 everywhere (pre-signed POSTs and GETs included). Path-style addressing when an
    # endpoint is configured (the local stack's S3 is one host, 127.0.0.1:port), virtual-hosted
    # on AWS, where path-style URLs are deprecated. botocore's S3 client has
    # generate_presigned_post too, so boto3 stays unloaded here as well.
    custom = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    config = _config().merge(
        Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if custom else "virtual"},
        )
    )
    return session().create_client("s3", config=config)


@functools.cache
def ssm() -> Any:
    return _client("ssm")


@functools.cache
def secretsmanager() -> Any:
    return _client("secretsmanager")


def management(endpoint_url: str, *, max_pool_connections: int = 32) -> Any:
    """The ``@connections`` client for one ``https://{domain}/{stage}`` endpoint."""
    if management_factory is not None:
        return management_factory(endpoint_url, max_pool_connections)
    return _boto_management(endpoint_url, max_pool_connections)


@functools.cache
def _boto_management(endpoint_url: str, max_pool_connections: int) -> Any:
    # Not boto3's apigatewaymanagementapi client: the same signed request at a third of the CPU
    # (see chatcore.connections_api). One pooled connection per parallel post; throttling is
    # retried by the gateway with jitter, so the client itself never retries.
    from chatcore.connections_api import ConnectionsApi

    return ConnectionsApi(
        endpoint_url, max_pool_connections=max_pool_connections, session=session()
    )


def warm(*factories: Callable[[], Any]) -> None:
    """Create clients now rather than on the first request.

    Only worth it where initialisation is off the user's path: with provisioned concurrency
    Lambda runs the init phase ahead of traffic (``AWS_LAMBDA_INITIALIZATION_TYPE`` is then
    ``provisioned-concurrency``); see :func:`warm_if_provisioned`.
    """
    for factory in factories:
        factory()


def warm_if_provisioned(*factories: Callable[[], Any], environ: Any = None) -> bool:
    import os

    env = os.environ if environ is None else environ
    if env.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "provisioned-concurrency":
        return False
    warm(*factories)
    return True


def reset() -> None:
    """Forget every cached client (a new endpoint or fresh credentials take effect)."""
    for factory in (dynamodb, sqs, s3, ssm, secretsmanager, _boto_management, session, _config):
        factory.cache_clear()
