"""Every environment variable the functions read, in one frozen dataclass.

``Config.from_env()`` reads ``os.environ``; keyword arguments beat the variables, so tests and the
local stack can set one value without touching the process environment. A value that cannot be
used (``MAX_TEXT_LENGTH=abc``, ``JWT_ALGORITHM=none``) raises :class:`ConfigError` naming the
variable, at cold start rather than on the first unlucky request.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from chatcore.attachments import DEFAULT_TYPES

__all__ = ["ALGORITHMS", "MAX_TEXT_LENGTH_LIMIT", "Config", "ConfigError"]

MAX_TEXT_LENGTH_LIMIT = 32_000

# Pinned: anything else (including "none") is refused at start-up.
ALGORITHMS = ("HS256", "RS256")


class ConfigError(ValueError):
    """An environment variable holds a value the functions cannot use."""


def _text(value: str) -> str:
    return value.strip()


def _origins(value: str) -> tuple[str, ...]:
    return tuple(part.strip().rstrip("/") for part in value.split(",") if part.strip())


def _types(value: str) -> tuple[str, ...]:
    return tuple(part.strip().lower() for part in value.split(",") if part.strip())


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError("must be a positive integer")
    return number


def _algorithm(value: str) -> str:
    algorithm = value.strip().upper()
    if algorithm not in ALGORITHMS:
        raise ValueError(f"must be one of {', '.join(ALGORITHMS)}")
    return algorithm


@dataclass(frozen=True, kw_only=True)
class Config:
    connections_table: str = ""
    messages_table: str = ""
    fanout_queue_url: str = ""
    management_endpoint: str = ""
    jwt_algorithm: str = "HS256"
    jwt_secret_parameter: str = ""
    jwt_secret: str = ""
    jwt_jwks_url: str = ""
    jwt_issuer: str = ""
    jwt_audience: str = ""
    allowed_origins: tuple[str, ...] = ()
    message_retention_days: int = 30
    connection_ttl_seconds: int = 7200
    max_text_length: int = 4000
    max_room_length: int = 64
    history_page_limit: int = 100
    send_rate_per_second: int = 20
    fanout_concurrency: int = 32
    fanout_chunk_size: int = 500
    presence_room_limit: int = 100
    # Attachments (see chatcore.attachments): the bucket, the largest file, the allowed types,
    # how long a pre-signed upload (POST) and download (GET) stay valid.
    attachments_bucket: str = ""
    max_attachment_bytes: int = 25 * 1024 * 1024
    attachment_types: tuple[str, ...] = DEFAULT_TYPES
    upload_url_seconds: int = 600
    download_url_seconds: int = 300
    service_name: str = "chat"
    metrics_namespace: str = "ServerlessChat"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        env = os.environ if environ is None else environ
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown config option(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for name, (variable, parse) in _VARIABLES.items():
            if name in overrides:
                values[name] = overrides[name]
                continue
            raw = env.get(variable)
            if raw is None or raw.strip() == "":
                continue
            try:
                values[name] = parse(raw)
            except ValueError as exc:
                raise ConfigError(f"{variable}={raw!r} is invalid: {exc}") from None
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        if self.jwt_algorithm not in ALGORITHMS:
            raise ConfigError(f"JWT_ALGORITHM must be one of {', '.join(ALGORITHMS)}")
        for name in (
            "message_retention_days",
            "connection_ttl_seconds",
            "max_text_length",
            "max_room_length",
            "history_page_limit",
            "send_rate_per_second",
            "fanout_concurrency",
            "fanout_chunk_size",
            "presence_room_limit",
            "max_attachment_bytes",
            "upload_url_seconds",
            "download_url_seconds",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{_VARIABLES[name][0]} must be a positive integer")
        if self.max_text_length > MAX_TEXT_LENGTH_LIMIT:
            # 4 UTF-8 bytes per character must still fit API Gateway's 128 KB post.
            raise ConfigError(f"MAX_TEXT_LENGTH must be at most {MAX_TEXT_LENGTH_LIMIT}")


_VARIABLES: dict[str, tuple[str, Callable[[str], Any]]] = {
    "connections_table": ("CONNECTIONS_TABLE", _text),
    "messages_table": ("MESSAGES_TABLE", _text),
    "fanout_queue_url": ("FANOUT_QUEUE_URL", _text),
    "management_endpoint": ("MANAGEMENT_ENDPOINT", lambda v: v.strip().rstrip("/")),
    "jwt_algorithm": ("JWT_ALGORITHM", _algorithm),
    "jwt_secret_parameter": ("JWT_SECRET_PARAMETER", _text),
    # Not stripped: a secret is used byte for byte.
    "jwt_secret": ("JWT_SECRET", str),
    "jwt_jwks_url": ("JWT_JWKS_URL", _text),
    "jwt_issuer": ("JWT_ISSUER", _text),
    "jwt_audience": ("JWT_AUDIENCE", _text),
    "allowed_origins": ("ALLOWED_ORIGINS", _origins),
    "message_retention_days": ("MESSAGE_RETENTION_DAYS", _positive_int),
    "connection_ttl_seconds": ("CONNECTION_TTL_SECONDS", _positive_int),
    "max_text_length": ("MAX_TEXT_LENGTH", _positive_int),
    "max_room_length": ("MAX_ROOM_LENGTH", _positive_int),
    "history_page_limit": ("HISTORY_PAGE_LIMIT", _positive_int),
    "send_rate_per_second": ("SEND_RATE_PER_SECOND", _positive_int),
    "fanout_concurrency": ("FANOUT_CONCURRENCY", _positive_int),
    "fanout_chunk_size": ("FANOUT_CHUNK_SIZE", _positive_int),
    "presence_room_limit": ("PRESENCE_ROOM_LIMIT", _positive_int),
    "attachments_bucket": ("ATTACHMENTS_BUCKET", _text),
    "max_attachment_bytes": ("MAX_ATTACHMENT_BYTES", _positive_int),
    "attachment_types": ("ATTACHMENT_TYPES", _types),
    "upload_url_seconds": ("UPLOAD_URL_SECONDS", _positive_int),
    "download_url_seconds": ("DOWNLOAD_URL_SECONDS", _positive_int),
    "service_name": ("POWERTOOLS_SERVICE_NAME", _text),
    "metrics_namespace": ("POWERTOOLS_METRICS_NAMESPACE", _text),
}
