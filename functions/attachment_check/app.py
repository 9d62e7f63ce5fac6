"""S3 ObjectCreated -> compare each uploaded object with its declaration.

A match becomes ``ready`` (with width and height for images); anything else is deleted, so a
message can only ever carry a file that is what its sender declared. Keys arrive URL-encoded
(spaces as ``+``), as S3 puts them in the event; S3's ``s3:TestEvent`` has no records.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from chatcore.attachment_store import AttachmentStore
from chatcore.config import Config
from chatcore.observability import count, instrument, logger

__all__ = ["handler"]


@instrument
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = Config.from_env()
    store = AttachmentStore.from_config(config)
    outcomes: dict[str, int] = {}
    for record in event.get("Records") or []:
        if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
            continue
        s3 = record.get("s3") or {}
        if (s3.get("bucket") or {}).get("name") != config.attachments_bucket:
            continue  # not the attachments bucket: nothing of ours to check
        key = unquote_plus(str((s3.get("object") or {}).get("key", "")))
        outcome = store.check_upload(key)
        outcomes[outcome.status] = outcomes.get(outcome.status, 0) + 1
        count(f"Attachments{outcome.status.capitalize()}")
        logger.info(
            "attachment checked",
            extra={
                "attachment": outcome.attachment_id,
                "status": outcome.status,
                "reason": outcome.reason,
            },
        )
    return outcomes
