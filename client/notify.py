"""Publish a notification to the NotificationsTopic (local stack or AWS).

The SNS message is ``{"targets": {"users": [...], "rooms": [...], "all": bool}, "payload": ...}``
(see ``docs/architecture.md``); the notify function delivers it to the targets' connections.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)

__all__ = [
    "LocalTarget",
    "NotifyError",
    "build_message",
    "discover_local",
    "find_topic",
    "parse_payload",
    "publish",
]

TOPIC_MARKER = "NotificationsTopic"


class NotifyError(Exception):
    """Publishing failed; ``kind`` is "config", "unreachable" or "error"."""

    def __init__(self, message: str, *, kind: str = "error") -> None:
        self.kind = kind
        super().__init__(message)


@dataclass(frozen=True)
class LocalTarget:
    """Where a local stack's notifications go: its embedded AWS and its topic."""

    endpoint_url: str
    topic_arn: str | None
    region: str | None


def discover_local(ws_url: str, *, timeout: float = 3.0) -> LocalTarget:
    """Ask the local stack serving ``ws_url`` for its AWS endpoint and NotificationsTopic.

    The stack's gateway answers ``GET /_local/config`` with both, so `chat notify` works against
    `make run` with no flags, although the embedded AWS listens on a port chosen at start-up.
    """
    parts = urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    url = f"{scheme}://{parts.netloc}/_local/config"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            config = json.load(reply)
    except (urllib.error.URLError, OSError, ValueError):
        raise NotifyError(
            f"no local stack answers at {scheme}://{parts.netloc} (start it with `make run`); "
            "to publish on AWS pass --topic-arn (and --region)",
            kind="unreachable",
        ) from None
    endpoint = config.get("awsEndpoint") if isinstance(config, dict) else None
    if not endpoint:
        raise NotifyError(
            f"the stack at {parts.netloc} runs on real AWS; pass --topic-arn (and --region)",
            kind="config",
        )
    outputs = config.get("outputs") or {}
    topic = outputs.get(f"{TOPIC_MARKER}Arn") if isinstance(outputs, dict) else None
    return LocalTarget(str(endpoint), str(topic) if topic else None, config.get("region"))


def parse_payload(text: str) -> Any:
    """A JSON value as given, or plain text wrapped as ``{"text": ...}``."""
    try:
        return json.loads(text)
    except ValueError:
        return {"text": text}


def build_message(
    *,
    users: Sequence[str] = (),
    rooms: Sequence[str] = (),
    everyone: bool = False,
    payload: Any,
    message_id: str | None = None,
) -> dict[str, Any]:
    return {
        "targets": {"users": list(users), "rooms": list(rooms), "all": everyone},
        "payload": payload,
        "id": message_id or uuid.uuid4().hex,
    }


def _sns(*, endpoint_url: str | None, region: str | None, environ: Mapping[str, str]) -> Any:
    region = region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    kwargs: dict[str, Any] = {"region_name": region}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
        if not environ.get("AWS_ACCESS_KEY_ID"):
            # The local stack's embedded AWS accepts any key; do not demand a real one for it.
            kwargs["aws_access_key_id"] = "local"
            kwargs["aws_secret_access_key"] = "local"
    return boto3.session.Session().client("sns", **kwargs)


def find_topic(sns: Any) -> str:
    arns: list[str] = []
    for page in sns.get_paginator("list_topics").paginate():
        for topic in page.get("Topics", []):
            arn = topic.get("TopicArn", "")
            if TOPIC_MARKER in arn.rsplit(":", 1)[-1]:
                arns.append(arn)
    if not arns:
        raise NotifyError(
            f"no SNS topic named like {TOPIC_MARKER}; pass --topic-arn", kind="config"
        )
    if len(arns) > 1:
        raise NotifyError(
            f"{len(arns)} topics named like {TOPIC_MARKER}; pass --topic-arn", kind="config"
        )
    return arns[0]


def publish(
    message: Mapping[str, Any],
    *,
    topic_arn: str | None,
    endpoint_url: str | None,
    region: str | None,
    environ: Mapping[str, str],
) -> tuple[str, str]:
    """Publish and return ``(topic_arn, sns_message_id)``. Blocking: run it in a thread."""
    try:
        sns = _sns(endpoint_url=endpoint_url, region=region, environ=environ)
        arn = topic_arn or find_topic(sns)
        reply = sns.publish(TopicArn=arn, Message=json.dumps(message, ensure_ascii=False))
    except EndpointConnectionError as exc:
        raise NotifyError(
            f"cannot reach {exc.kwargs.get('endpoint_url', 'the AWS endpoint')}", kind="unreachable"
        ) from None
    except NoCredentialsError:
        raise NotifyError(
            "no AWS credentials (set AWS_PROFILE or AWS_ACCESS_KEY_ID)", kind="config"
        ) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise NotifyError(
            f"SNS refused the message: {error.get('Code')}: {error.get('Message')}"
        ) from None
    except BotoCoreError as exc:
        raise NotifyError(f"SNS publish failed: {exc}") from None
    return arn, str(reply.get("MessageId", ""))
