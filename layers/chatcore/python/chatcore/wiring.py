"""Build the adapters from a ``Config``, with clients from the cached factories in ``clients``."""

from __future__ import annotations

from chatcore import clients
from chatcore.config import Config
from chatcore.delivery import Delivery
from chatcore.gateway import Gateway
from chatcore.protocol import Limits
from chatcore.store import ConnectionStore, MessageLog

__all__ = ["connection_store", "delivery", "gateway", "limits", "message_log"]


def connection_store(config: Config) -> ConnectionStore:
    return ConnectionStore(
        client=clients.dynamodb(),
        table=config.connections_table,
        ttl_seconds=config.connection_ttl_seconds,
    )


def message_log(config: Config) -> MessageLog:
    return MessageLog(
        client=clients.dynamodb(),
        table=config.messages_table,
        retention_days=config.message_retention_days,
    )


def gateway(config: Config, endpoint: str) -> Gateway:
    client = clients.management(endpoint, max_pool_connections=config.fanout_concurrency)
    return Gateway(client, concurrency=config.fanout_concurrency)


def delivery(config: Config, endpoint: str, *, store: ConnectionStore | None = None) -> Delivery:
    return Delivery(
        gateway=gateway(config, endpoint),
        store=store or connection_store(config),
        sqs_client=clients.sqs() if config.fanout_queue_url else None,
        queue_url=config.fanout_queue_url,
        chunk_size=config.fanout_chunk_size,
    )


def limits(config: Config) -> Limits:
    return Limits(
        max_text_length=config.max_text_length,
        max_room_length=config.max_room_length,
        history_page_limit=config.history_page_limit,
    )
