"""Attachments: what may be uploaded, where it lives, whether the stored object is as declared.

No I/O. The flow (see ``docs/attachments.md``): a user *declares* a file (name, type, size) and
gets a pre-signed S3 POST for the key :func:`object_key` builds; S3 stores the bytes; the check
function compares the stored object with the declaration (:func:`check_object`) and marks the
attachment ready; a ``send``/``dm`` may then name it (:func:`check_claim`), and the message carries
:func:`descriptor` of each one: ``{id, name, type, size, width?, height?}``, never the bytes.

Images are checked by their magic bytes (PNG, JPEG, GIF, WebP), and their width and height are read
from the header bytes, so no image library is needed in the layer.
"""

from __future__ import annotations

import re
import struct
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chatcore.errors import (
    AttachmentExpired,
    AttachmentNotFound,
    AttachmentNotReady,
    BadRequest,
    Forbidden,
    TooLarge,
)

__all__ = [
    "DEFAULT_TYPES",
    "HEAD_BYTES",
    "MAX_ATTACHMENTS_PER_MESSAGE",
    "MAX_NAME_LENGTH",
    "PENDING",
    "READY",
    "REJECTED",
    "Declaration",
    "ObjectCheck",
    "check_claim",
    "check_object",
    "descriptor",
    "descriptors_from_item",
    "image_size",
    "object_key",
    "parse_attachment_ids",
    "parse_declaration",
    "parse_key",
    "safe_name",
    "sniff_type",
    "type_allowed",
]

PENDING = "pending"
READY = "ready"
REJECTED = "rejected"

MAX_NAME_LENGTH = 255
MAX_ATTACHMENTS_PER_MESSAGE = 10
# JPEG puts its frame header after EXIF/ICC segments, which can reach 64 KB each; 128 KB covers
# real photos and is still a cheap ranged GET.
HEAD_BYTES = 128 * 1024

DEFAULT_TYPES: tuple[str, ...] = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "application/zip",
    "application/octet-stream",
)

_TYPE_PATTERN = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, kw_only=True)
class Declaration:
    """What the uploader said about the file, before any byte is sent."""

    name: str
    type: str
    size: int


# ---- declaring ---------------------------------------------------------------------------------


def type_allowed(content_type: str, allowed: Collection[str]) -> bool:
    """``allowed`` holds exact types (``image/png``) or whole families (``image/*``)."""
    family = content_type.split("/", 1)[0] + "/*"
    return content_type in allowed or family in allowed


def parse_declaration(body: Any, *, max_bytes: int, allowed_types: Collection[str]) -> Declaration:
    """Validate ``{name, type, size}``; raise ``BadRequest`` or ``TooLarge`` saying what to fix."""
    if not isinstance(body, Mapping):
        raise BadRequest("send a JSON object {name, type, size}")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("'name' must be the file's name, a non-empty string")
    if len(name) > MAX_NAME_LENGTH:
        raise BadRequest(f"'name' is longer than {MAX_NAME_LENGTH} characters")
    if "/" in name or "\\" in name:
        raise BadRequest("'name' is a file name, not a path: leave out the folders")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise BadRequest("'name' must not contain control characters")
    raw_type = body.get("type")
    if not isinstance(raw_type, str) or not _TYPE_PATTERN.fullmatch(raw_type.strip().lower()):
        raise BadRequest("'type' must be a media type such as image/png")
    content_type = raw_type.strip().lower()
    if not type_allowed(content_type, allowed_types):
        raise BadRequest(
            f"files of type {content_type} are not allowed here; allowed: "
            + ", ".join(sorted(allowed_types))
        )
    size = body.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise BadRequest("'size' must be the file's size in bytes, a positive integer")
    if size > max_bytes:
        raise TooLarge(f"the file is {size} bytes; the largest allowed is {max_bytes} bytes")
    return Declaration(name=name.strip(), type=content_type, size=size)


def safe_name(name: str) -> str:
    """The file name as it goes into the S3 key: ASCII letters, digits, ``.``, ``_``, ``-``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    cleaned = _UNSAFE.sub("_", ascii_name).strip("._")[:100]
    return cleaned or "file"


def object_key(room: str, attachment_id: str, name: str) -> str:
    """``rooms/{room}/{id}/{safe name}``: the room first, so one prefix holds a room's files."""
    return f"rooms/{room}/{attachment_id}/{safe_name(name)}"


def parse_key(key: str) -> tuple[str, str] | None:
    """``(room, id)`` of a key :func:`object_key` built, else None (not one of ours)."""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] != "rooms" or not _ID_PATTERN.fullmatch(parts[2]):
        return None
    return parts[1], parts[2]


# ---- checking what S3 stored -------------------------------------------------------------------


def _png(head: bytes) -> tuple[int, int] | None:
    if head[12:16] != b"IHDR" or len(head) < 24:
        return None
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


def _gif(head: bytes) -> tuple[int, int] | None:
    if len(head) < 10:
        return None
    width, height = struct.unpack("<HH", head[6:10])
    return int(width), int(height)


def _webp(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8 " and len(head) >= 30 and head[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", head[26:30])
        return int(width & 0x3FFF), int(height & 0x3FFF)
    if chunk == b"VP8L" and len(head) >= 25 and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(head) >= 30:
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return width, height
    return None


# Start-of-frame markers carry the dimensions; C4 (Huffman tables), C8 and CC are not frames.
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg(head: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 4 <= len(head):
        if head[at] != 0xFF:
            return None
        marker = head[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # no length field
            at += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan: no frame header before it
            return None
        (length,) = struct.unpack(">H", head[at + 2 : at + 4])
        if marker in _JPEG_FRAMES:
            if at + 9 > len(head):
                return None
            height, width = struct.unpack(">HH", head[at + 5 : at + 9])
            return int(width), int(height)
        at += 2 + length
    return None


def sniff_type(head: bytes) -> str | None:
    """The image type the first bytes say, or None when they are no PNG, JPEG, GIF or WebP."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


_SIZE_READERS = {"image/png": _png, "image/jpeg": _jpeg, "image/gif": _gif, "image/webp": _webp}


def image_size(head: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from an image's header bytes, or None when they do not say."""
    kind = sniff_type(head)
    if kind is None:
        return None
    size = _SIZE_READERS[kind](head)
    if size is None or size[0] < 1 or size[1] < 1:
        return None
    return size


# Other types with a signature worth checking; types not listed here are taken as declared.
_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "application/zip": (b"PK\x03\x04", b"PK\x05\x06"),
}


@dataclass(frozen=True, kw_only=True)
class ObjectCheck:
    """The verdict on a stored object: ``ok`` (with the image's size), or ``reason`` why not."""

    ok: bool
    reason: str = ""
    width: int | None = None
    height: int | None = None


def check_object(
    declared: Declaration, *, size: int, content_type: str, head: bytes
) -> ObjectCheck:
    """Does the stored object (its length, Content-Type and first bytes) match the declaration?"""
    if size != declared.size:
        return ObjectCheck(ok=False, reason=f"{size} bytes stored, {declared.size} declared")
    stored_type = content_type.split(";", 1)[0].strip().lower()
    if stored_type != declared.type:
        return ObjectCheck(ok=False, reason=f"stored as {stored_type}, declared {declared.type}")
    if declared.type in _SIZE_READERS:
        sniffed = sniff_type(head)
        if sniffed != declared.type:
            return ObjectCheck(
                ok=False, reason=f"the bytes are {sniffed or 'not an image'}, not {declared.type}"
            )
        dimensions = image_size(head)
        if dimensions is None:
            return ObjectCheck(ok=False, reason="the image header is malformed or truncated")
        return ObjectCheck(ok=True, width=dimensions[0], height=dimensions[1])
    signatures = _SIGNATURES.get(declared.type)
    if signatures and not head.startswith(signatures):
        return ObjectCheck(ok=False, reason=f"the bytes are not {declared.type}")
    if declared.type.startswith("text/") and b"\x00" in head:
        return ObjectCheck(ok=False, reason="a text file with NUL bytes")
    return ObjectCheck(ok=True)


# ---- referencing from a message ----------------------------------------------------------------


def parse_attachment_ids(value: Any) -> tuple[str, ...]:
    """The ``attachments`` field of ``send``/``dm``: a list of attachment ids (maybe absent)."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest("'attachments' must be a list of attachment ids")
    if len(value) > MAX_ATTACHMENTS_PER_MESSAGE:
        raise BadRequest(f"a message carries at most {MAX_ATTACHMENTS_PER_MESSAGE} attachments")
    for attachment_id in value:
        if not _ID_PATTERN.fullmatch(attachment_id):
            raise BadRequest(f"'{attachment_id[:40]}' is not an attachment id")
    return tuple(dict.fromkeys(value))


def descriptor(item: Mapping[str, Any]) -> dict[str, Any]:
    """What a message carries for one attachment: ``{id, name, type, size, width?, height?}``."""
    out: dict[str, Any] = {
        "id": str(item["id"]),
        "name": str(item["name"]),
        "type": str(item["type"]),
        "size": int(item["size"]),
    }
    for key in ("width", "height"):
        if item.get(key) is not None:
            out[key] = int(item[key])
    return out


def descriptors_from_item(value: Any) -> list[dict[str, Any]]:
    """The ``attachments`` attribute of a stored message (DynamoDB numbers are Decimals)."""
    if not value:
        return []
    return [descriptor(entry) for entry in value]


def check_claim(
    ids: Sequence[str],
    items: Mapping[str, Mapping[str, Any]],
    *,
    user_id: str,
    room: str,
    now: int,
) -> list[dict[str, Any]]:
    """The descriptors of ``ids`` when every one is the user's own, ready, for ``room``.

    ``items`` are the stored attachment items by id (missing ids are absent). Raise on the first
    refusal, so nothing is stored: not found, someone else's, another room, expired, not ready.
    """
    out = []
    for attachment_id in ids:
        item = items.get(attachment_id)
        if item is None:
            raise AttachmentNotFound(f"no attachment {attachment_id}; upload the file first")
        if str(item.get("ownerId")) != user_id:
            raise Forbidden(f"attachment {attachment_id} was uploaded by someone else")
        if str(item.get("room")) != room:
            raise Forbidden(
                f"attachment {attachment_id} was uploaded for another room; upload it here"
            )
        if item.get("status") == REJECTED:
            why = item.get("reason") or "it did not match its declaration"
            raise AttachmentNotFound(f"attachment {attachment_id} was deleted: {why}")
        if item.get("status") != READY:
            if int(item.get("uploadExpiresAt", 0)) < now:
                raise AttachmentExpired(
                    f"attachment {attachment_id} was never uploaded and its upload has expired;"
                    " declare it again"
                )
            raise AttachmentNotReady(
                f"attachment {attachment_id} is not uploaded (or not checked) yet; retry shortly"
            )
        out.append(descriptor(item))
    return out
