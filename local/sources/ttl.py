"""The TTL sweeper: moto never expires items, so something has to.

Every ``interval`` seconds each table with TTL enabled is scanned for items whose TTL attribute
(epoch seconds) is in the past, and those are deleted, each under a condition that it is still
expired (so an item refreshed meanwhile survives). The deletes produce REMOVE stream records,
as AWS's TTL process does. AWS also marks those records with
``userIdentity = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}``; moto cannot, so
the sweeper notes what it deleted in :class:`TtlDeletions` and the stream poller adds the
identity to the matching REMOVE records it builds. A scan is fine here: this is housekeeping, not
a per-message path, and AWS's own TTL process reads the whole table too.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

from local.logs import Log
from local.sources.common import Blocking

__all__ = ["TtlDeletions", "TtlSweeper"]


class TtlDeletions:
    """Keys the sweeper deleted, so their REMOVE records can carry the TTL identity."""

    # Entries are kept a day (a stream's retention), so every poller of a stream can see them.
    KEEP_SECONDS = 24 * 3600.0

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(table: str, keys: dict[str, Any]) -> tuple[str, str]:
        return table, json.dumps(keys, sort_keys=True)

    def note(self, table: str, keys: dict[str, Any]) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._keys) > 10_000:
                cutoff = now - self.KEEP_SECONDS
                self._keys = {k: t for k, t in self._keys.items() if t >= cutoff}
            self._keys[self._key(table, keys)] = now

    def forget(self, table: str, keys: dict[str, Any]) -> None:
        with self._lock:
            self._keys.pop(self._key(table, keys), None)

    def seen(self, table: str, keys: dict[str, Any]) -> bool:
        """True for a REMOVE the sweeper caused."""
        with self._lock:
            return self._key(table, keys) in self._keys


class TtlSweeper:
    """Deletes expired items from every table whose TTL is enabled."""

    def __init__(
        self,
        ddb: Any,
        *,
        blocking: Blocking,
        log: Log,
        interval: float,
        deletions: TtlDeletions,
    ) -> None:
        self.ddb = ddb
        self.blocking = blocking
        self.log = log
        self.interval = interval
        self.deletions = deletions
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.interval > 0:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sweep()
            except Exception as exc:
                self.log.warning("ttl", f"sweep failed: {exc}")

    async def sweep(self, now: float | None = None) -> int:
        """One pass over every table; returns how many items it deleted."""
        return await self.blocking(self._sweep, time.time() if now is None else now)

    def _sweep(self, now: float) -> int:
        deleted = 0
        for table in self._tables():
            ttl = self.ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
            if ttl.get("TimeToLiveStatus") != "ENABLED":
                continue
            attr = ttl["AttributeName"]
            schema = self.ddb.describe_table(TableName=table)["Table"]["KeySchema"]
            key_names = [k["AttributeName"] for k in schema]
            for item in self._expired(table, attr, key_names, now):
                keys = {k: item[k] for k in key_names}
                self.deletions.note(table, keys)
                try:
                    self.ddb.delete_item(
                        TableName=table,
                        Key=keys,
                        ConditionExpression="#ttl < :now",
                        ExpressionAttributeNames={"#ttl": attr},
                        ExpressionAttributeValues={":now": {"N": str(int(now))}},
                    )
                except self.ddb.exceptions.ConditionalCheckFailedException:
                    self.deletions.forget(table, keys)  # refreshed or gone meanwhile
                    continue
                deleted += 1
            if deleted:
                self.log.debug("ttl", f"{table}: deleted {deleted} expired item(s)")
        return deleted

    def _tables(self) -> list[str]:
        names: list[str] = []
        kwargs: dict[str, Any] = {}
        while True:
            page = self.ddb.list_tables(**kwargs)
            names.extend(page.get("TableNames", []))
            if not page.get("LastEvaluatedTableName"):
                return names
            kwargs["ExclusiveStartTableName"] = page["LastEvaluatedTableName"]

    def _expired(
        self, table: str, attr: str, key_names: list[str], now: float
    ) -> list[dict[str, Any]]:
        names = {"#ttl": attr, **{f"#k{i}": k for i, k in enumerate(key_names)}}
        projection = ", ".join(["#ttl", *(f"#k{i}" for i in range(len(key_names)))])
        kwargs: dict[str, Any] = {
            "TableName": table,
            # A TTL attribute that is not a number is ignored by DynamoDB, and so here.
            "FilterExpression": "#ttl < :now",
            "ProjectionExpression": projection,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {":now": {"N": str(int(now))}},
        }
        items: list[dict[str, Any]] = []
        while True:
            page = self.ddb.scan(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
