"""Cached boto3 client factories: the one place the core builds AWS clients.

Nothing is created at import time, so ``AWS_ENDPOINT_URL`` (set by the local stack and the tests
before the first request) decides where each client points. ``reset()`` forgets every cached
client, which tests call when they start a fresh moto server.

``management_factory`` is the documented seam for the ``@connections`` client: tests and
benchmarks assign a callable ``(endpoint_url, max_pool_connections) -> client`` to it (and put
``None`` back afterwards) to capture what the functions post or to answer ``410 Gone``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

__all__ = [
    "ManagementFactory",
    "dynamodb",
    "management",
    "management_factory",
    "reset",
    "s3",
    "secretsmanager",
    "sqs",
    "ssm",
]

ManagementFactory = Callable[[str, int], Any]

# Set by tests to replace the real @connections client; None means boto3.
management_factory: ManagementFactory | None = None

# Small, bounded retries for DynamoDB/SQS; the @connections client does its own (see gateway).
_DEFAULT = BotoConfig(retries={"max_attempts": 3, "mode": "standard"})


@functools.cache
def dynamodb() -> Any:
    return boto3.client("dynamodb", config=_DEFAULT)


@functools.cache
def sqs() -> Any:
    return boto3.client("sqs", config=_DEFAULT)


@functools.cache
def s3() -> Any:
    # SigV4 everywhere (pre-signed POSTs and GETs included). Path-style addressing when an
    # endpoint is configured (the local stack's S3 is one host, 127.0.0.1:port), virtual-hosted
    # on AWS, where path-style URLs are deprecated.
    custom = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    config = _DEFAULT.merge(
        BotoConfig(
            signature_version="s3v4",
            s3={"addressing_style": "path" if custom else "virtual"},
        )
    )
    return boto3.client("s3", config=config)


@functools.cache
def ssm() -> Any:
    return boto3.client("ssm", config=_DEFAULT)


@functools.cache
def secretsmanager() -> Any:
    return boto3.client("secretsmanager", config=_DEFAULT)


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

    return ConnectionsApi(endpoint_url, max_pool_connections=max_pool_connections)


def reset() -> None:
    """Forget every cached client (a new endpoint or fresh credentials take effect)."""
    for factory in (dynamodb, sqs, s3, ssm, secretsmanager, _boto_management):
        factory.cache_clear()
