"""The S3 + DynamoDB adapter for attachments: declare, check an upload, keep, download.

Attachment items live in MessagesTable as their own item kind (``pk = ATT#{id}``, ``seq = 0``):
no table to create, provision or grant, one more TTL'd item beside the messages that reference
it, and the broadcast stream's filter (``kind = message``) already keeps them out of fan-out.

| status    | when                                         | expiresAt (TTL)                  |
| --------- | -------------------------------------------- | -------------------------------- |
| pending   | declared; the pre-signed POST is out         | a day after the declaration      |
| ready     | uploaded, checked against the declaration    | a day, then retention once used  |
| rejected  | uploaded, did not match; the object is gone  | a day                            |

Objects are tagged ``referenced=false`` when they become ready, and ``referenced=true`` once a
stored message names them; the bucket's lifecycle expires the unreferenced ones after a day and
everything after ``MessageRetentionDays``. The claim itself is part of the send path: the items
are read and kept in the message's own requests (``chatcore.publisher``); only the tagging is
here (``keep_objects``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from chatcore import attachments, clients
from chatcore.attachments import PENDING, READY, REJECTED, Declaration
from chatcore.config import Config
from chatcore.dynamodb_types import TypeDeserializer, TypeSerializer

__all__ = ["AttachmentStore", "CheckOutcome", "attachment_key"]

_DAY = 86400

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def attachment_key(attachment_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"ATT#{attachment_id}"}, "seq": {"N": "0"}}


def _to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in values.items() if v is not None}


def _from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class CheckOutcome:
    """What the ObjectCreated check did with one object: ready, rejected or ignored (+ why)."""

    status: str
    reason: str = ""
    attachment_id: str | None = None


class AttachmentStore:
    def __init__(
        self,
        *,
        dynamodb: Any,
        s3: Any | Callable[[], Any],
        table: str,
        bucket: str,
        upload_seconds: int = 600,
        download_seconds: int = 300,
    ) -> None:
        if not table or not bucket:
            raise ValueError("AttachmentStore needs MESSAGES_TABLE and ATTACHMENTS_BUCKET")
        self._dynamodb = dynamodb
        # A client, or a factory for one: the chat function builds an S3 client only for the
        # few sends that name attachments.
        self._s3_source = s3
        self._s3_client: Any = None
        self._table = table
        self._bucket = bucket
        self._upload_seconds = upload_seconds
        self._download_seconds = download_seconds

    @property
    def _s3(self) -> Any:
        if self._s3_client is None:
            source = self._s3_source
            self._s3_client = source() if callable(source) else source
        return self._s3_client

    @classmethod
    def from_config(cls, config: Config) -> AttachmentStore:
        """The store the functions use, with clients from the cached factories."""
        return cls(
            dynamodb=clients.dynamodb(),
            s3=clients.s3,
            table=config.messages_table,
            bucket=config.attachments_bucket,
            upload_seconds=config.upload_url_seconds,
            download_seconds=config.download_url_seconds,
        )

    # ---- declare ------------------------------------------------------------------------

    def declare(
        self, declaration: Declaration, *, room: str, user_id: str, now: int | None = None
    ) -> dict[str, Any]:
        """Store a pending attachment; return ``{id, upload: {url, fields}, expires}``.

        The POST policy pins the key, the Content-Type and the exact length, so S3 itself
        refuses any other upload (400 EntityTooLarge / EntityTooSmall, 403 on the policy).
        """
        now = int(time.time()) if now is None else now
        attachment_id = uuid.uuid4().hex
        key = attachments.object_key(room, attachment_id, declaration.name)
        expires = now + self._upload_seconds
        self._dynamodb.put_item(
            TableName=self._table,
            Item={
                **attachment_key(attachment_id),
                **_to_item(
                    {
                        "kind": "attachment",
                        "id": attachment_id,
                        "status": PENDING,
                        "ownerId": user_id,
                        "room": room,
                        "name": declaration.name,
                        "type": declaration.type,
                        "size": declaration.size,
                        "key": key,
                        "createdAt": now,
                        "uploadExpiresAt": expires,
                        "expiresAt": now + _DAY,
                    }
                ),
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
        post = self._s3.generate_presigned_post(
            Bucket=self._bucket,
            Key=key,
            Fields={"Content-Type": declaration.type},
            Conditions=[
                {"Content-Type": declaration.type},
                ["content-length-range", declaration.size, declaration.size],
            ],
            ExpiresIn=self._upload_seconds,
        )
        return {
            "id": attachment_id,
            "upload": {"url": post["url"], "fields": post["fields"]},
            "expires": _iso(expires),
        }

    # ---- read ---------------------------------------------------------------------------

    def get(self, attachment_id: str) -> dict[str, Any] | None:
        answer = self._dynamodb.get_item(
            TableName=self._table, Key=attachment_key(attachment_id), ConsistentRead=True
        )
        item = answer.get("Item")
        return _from_item(item) if item else None

    # ---- the send path ------------------------------------------------------------------

    def keep_objects(self, keys: Sequence[str]) -> None:
        """A message is about to name these objects: tag them so the lifecycle keeps them as
        long as messages. ``Publisher`` keeps the items in the message's own transaction."""
        for key in keys:
            self._tag(key, referenced=True)

    def _tag(self, key: str, *, referenced: bool) -> None:
        self._s3.put_object_tagging(
            Bucket=self._bucket,
            Key=key,
            Tagging={"TagSet": [{"Key": "referenced", "Value": str(referenced).lower()}]},
        )

    # ---- download -----------------------------------------------------------------------

    def download_url(self, item: dict[str, Any]) -> str:
        """A short-lived pre-signed GET; images open inline, anything else downloads."""
        name = str(item["name"]).replace('"', "")
        inline = str(item["type"]).startswith("image/") and item.get("width") is not None
        disposition = "inline" if inline else "attachment"
        url: str = self._s3.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self._bucket,
                "Key": str(item["key"]),
                "ResponseContentType": str(item["type"]),
                "ResponseContentDisposition": (
                    f'{disposition}; filename="{attachments.safe_name(name)}"'
                ),
            },
            ExpiresIn=self._download_seconds,
        )
        return url

    # ---- the ObjectCreated check --------------------------------------------------------

    def check_upload(self, key: str, *, now: int | None = None) -> CheckOutcome:
        """Compare the object at ``key`` with its declaration: mark it ready, or delete it."""
        now = int(time.time()) if now is None else now
        parsed = attachments.parse_key(key)
        if parsed is None:
            self._delete_object(key)
            return CheckOutcome("rejected", "not an attachment key")
        room, attachment_id = parsed
        item = self.get(attachment_id)
        if item is None or str(item.get("key")) != key or str(item.get("room")) != room:
            self._delete_object(key)
            return CheckOutcome("rejected", "no declaration for this key", attachment_id)
        status = item.get("status")
        if status == REJECTED:
            # Final: whatever is written under a rejected key later goes too.
            self._delete_object(key)
            return CheckOutcome("rejected", "already rejected", attachment_id)
        try:
            head = self._s3.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return CheckOutcome("ignored", "the object is gone", attachment_id)
            raise
        etag = str(head.get("ETag", "")).strip('"')
        if status == READY:
            # S3 delivers events at least once: the checked object again changes nothing. Other
            # bytes under the same key (the POST policy is still valid for minutes) would swap
            # a checked file for an unchecked one: one upload per attachment, so it goes.
            if item.get("etag") == etag:
                return CheckOutcome("ignored", "already ready", attachment_id)
            self._delete_object(key)
            self._set_status(
                attachment_id,
                REJECTED,
                now=now,
                reason="uploaded again after its check",
                expected=READY,
            )
            return CheckOutcome("rejected", "uploaded again after its check", attachment_id)
        size = int(head["ContentLength"])
        first = b""
        if size:
            body = self._s3.get_object(
                Bucket=self._bucket, Key=key, Range=f"bytes=0-{attachments.HEAD_BYTES - 1}"
            )["Body"]
            first = body.read()
        declared = Declaration(
            name=str(item["name"]), type=str(item["type"]), size=int(item["size"])
        )
        verdict = attachments.check_object(
            declared, size=size, content_type=str(head.get("ContentType", "")), head=first
        )
        if not verdict.ok:
            self._delete_object(key)
            self._set_status(attachment_id, REJECTED, now=now, reason=verdict.reason)
            return CheckOutcome("rejected", verdict.reason, attachment_id)
        self._tag(key, referenced=False)
        self._set_status(
            attachment_id, READY, now=now, width=verdict.width, height=verdict.height, etag=etag
        )
        return CheckOutcome("ready", "", attachment_id)

    def _set_status(
        self,
        attachment_id: str,
        status: str,
        *,
        now: int,
        reason: str | None = None,
        width: int | None = None,
        height: int | None = None,
        etag: str | None = None,
        expected: str = PENDING,
    ) -> None:
        values = {
            ":s": status,
            ":expected": expected,
            ":etag": etag,
            ":exp": now + _DAY,
            ":at": now,
            ":reason": reason,
            ":w": width,
            ":h": height,
        }
        sets = ["#s = :s", "expiresAt = :exp", "checkedAt = :at"]
        sets += [
            f"{name} = {ref}"
            for name, ref in (
                ("reason", ":reason"),
                ("width", ":w"),
                ("height", ":h"),
                ("etag", ":etag"),
            )
            if values[ref] is not None
        ]
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=attachment_key(attachment_id),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="#s = :expected",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=_to_item(values),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def _delete_object(self, key: str) -> None:
        self._s3.delete_object(Bucket=self._bucket, Key=key)
