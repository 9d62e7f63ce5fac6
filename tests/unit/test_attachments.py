"""chatcore.attachments: declarations, keys, image magic bytes and sizes, claims (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest

from chatcore.attachments import (
    DEFAULT_TYPES,
    Declaration,
    check_claim,
    check_object,
    descriptors_from_item,
    image_size,
    object_key,
    parse_attachment_ids,
    parse_declaration,
    parse_key,
    safe_name,
    sniff_type,
    type_allowed,
)
from chatcore.errors import (
    AttachmentExpired,
    AttachmentNotFound,
    AttachmentNotReady,
    BadRequest,
    ChatError,
    Forbidden,
    TooLarge,
)
from tests.support.images import image_bytes

MAX = 25 * 1024 * 1024
ID = "0123456789abcdef0123456789abcdef"


def declare(**body: Any) -> Declaration:
    return parse_declaration(
        {"name": "cat.png", "type": "image/png", "size": 1000, **body},
        max_bytes=MAX,
        allowed_types=DEFAULT_TYPES,
    )


# ---- declarations -------------------------------------------------------------------------------


def test_a_valid_declaration_is_normalised() -> None:
    assert declare(type="Image/PNG ", name=" cat.png ") == Declaration(
        name="cat.png", type="image/png", size=1000
    )


def test_a_file_over_the_maximum_is_too_large_and_says_the_limit() -> None:
    with pytest.raises(TooLarge, match=str(MAX)) as caught:
        declare(size=MAX + 1)
    assert caught.value.code == "too_large"
    assert declare(size=MAX).size == MAX


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"type": "application/x-msdownload"}, "not allowed here"),
        ({"type": "png"}, "media type"),
        ({"name": ""}, "'name'"),
        ({"name": "../etc/passwd"}, "not a path"),
        ({"name": "a\x00b"}, "control characters"),
        ({"name": "x" * 256}, "longer than 255"),
        ({"size": 0}, "positive integer"),
        ({"size": "10"}, "positive integer"),
        ({"size": True}, "positive integer"),
    ],
)
def test_bad_declarations_are_bad_requests_that_say_what_to_fix(
    body: dict[str, Any], message: str
) -> None:
    with pytest.raises(BadRequest, match=message) as caught:
        declare(**body)
    assert caught.value.code == "bad_request"


def test_not_an_object_is_a_bad_request() -> None:
    with pytest.raises(BadRequest):
        parse_declaration([1, 2], max_bytes=MAX, allowed_types=DEFAULT_TYPES)


def test_type_families_are_allowed_with_a_star() -> None:
    assert type_allowed("image/avif", ("image/*",))
    assert not type_allowed("video/mp4", ("image/*", "text/plain"))
    assert type_allowed("text/plain", ("image/*", "text/plain"))


# ---- keys ---------------------------------------------------------------------------------------


def test_keys_put_the_room_first_and_a_safe_name_last() -> None:
    key = object_key("lobby", ID, "Résumé (final) v2.pdf")
    assert key == f"rooms/lobby/{ID}/Resume_final_v2.pdf"
    assert parse_key(key) == ("lobby", ID)
    assert parse_key(object_key("dm:alice:bob", ID, "x")) == ("dm:alice:bob", ID)


@pytest.mark.parametrize("name", ["...", "////", "漢字", ".hidden", "a b"])
def test_safe_names_are_never_empty_or_hidden(name: str) -> None:
    cleaned = safe_name(name)
    assert cleaned and not cleaned.startswith(".")
    assert all(c.isalnum() or c in "._-" for c in cleaned)


@pytest.mark.parametrize(
    "key", ["rooms/lobby/notanid/x", "other/lobby/" + ID + "/x", f"rooms/lobby/{ID}", "x"]
)
def test_keys_we_did_not_build_are_not_parsed(key: str) -> None:
    assert parse_key(key) is None


# ---- magic bytes and sizes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "options"),
    [
        ("image/png", {}),
        ("image/jpeg", {}),
        ("image/jpeg", {"progressive": True}),
        ("image/gif", {}),
        ("image/webp", {}),  # lossy: VP8
        ("image/webp", {"lossless": True}),  # VP8L
    ],
)
def test_image_type_and_size_come_from_the_header_bytes(
    content_type: str, options: dict[str, Any]
) -> None:
    data = image_bytes(content_type, 321, 123, **options)
    assert sniff_type(data) == content_type
    assert image_size(data) == (321, 123)


def test_jpeg_size_is_found_after_a_big_exif_segment() -> None:
    from PIL import Image

    exif = Image.Exif()
    exif[0x010E] = "x" * 30_000  # ImageDescription: pushes the frame header back
    data = image_bytes("image/jpeg", 64, 48, exif=exif.tobytes())
    assert data.index(b"\xff\xc0") > 30_000
    assert image_size(data) == (64, 48)


def test_extended_webp_reads_the_canvas_size() -> None:
    # VP8X: 24-bit little-endian width-1 and height-1 at bytes 24 and 27.
    header = b"RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x10\x00\x00\x00"
    data = header + (999).to_bytes(3, "little") + (499).to_bytes(3, "little")
    assert image_size(data) == (1000, 500)


def test_truncated_or_foreign_bytes_have_no_size() -> None:
    png = image_bytes("image/png", 10, 10)
    assert image_size(png[:20]) is None
    assert image_size(b"%PDF-1.7") is None
    assert sniff_type(b"") is None


# ---- checking the stored object -----------------------------------------------------------------


def test_a_stored_image_that_matches_is_ok_with_its_size() -> None:
    data = image_bytes("image/gif", 40, 30)
    declared = Declaration(name="a.gif", type="image/gif", size=len(data))
    verdict = check_object(declared, size=len(data), content_type="image/gif", head=data)
    assert (verdict.ok, verdict.width, verdict.height) == (True, 40, 30)


@pytest.mark.parametrize(
    ("declared_type", "stored_type", "size_delta", "head", "reason"),
    [
        ("image/png", "image/png", 1, None, "bytes stored"),
        ("image/png", "image/gif", 0, None, "stored as image/gif"),
        ("image/png", "image/png", 0, b"GIF89a\x01\x00\x01\x00", "bytes are image/gif"),
        ("image/png", "image/png", 0, b"MZ\x90\x00 an executable", "not an image"),
        ("application/pdf", "application/pdf", 0, b"MZ\x90\x00", "not application/pdf"),
        ("text/plain", "text/plain", 0, b"ab\x00cd", "NUL"),
    ],
)
def test_a_stored_object_that_differs_from_its_declaration_is_refused(
    declared_type: str, stored_type: str, size_delta: int, head: bytes | None, reason: str
) -> None:
    data = head if head is not None else image_bytes("image/png", 5, 5)
    declared = Declaration(name="f", type=declared_type, size=len(data))
    verdict = check_object(
        declared, size=len(data) + size_delta, content_type=stored_type, head=data
    )
    assert not verdict.ok
    assert reason in verdict.reason


def test_types_without_a_signature_are_taken_as_declared() -> None:
    declared = Declaration(name="f.bin", type="application/octet-stream", size=3)
    verdict = check_object(declared, size=3, content_type="application/octet-stream", head=b"\0")
    assert verdict.ok and verdict.width is None


# ---- claims from send / dm ----------------------------------------------------------------------


def test_attachment_ids_are_a_short_list_of_ids() -> None:
    assert parse_attachment_ids(None) == ()
    assert parse_attachment_ids([ID, ID]) == (ID,)
    for bad in ("x", [1], ["nope"], [ID.upper()], [f"{i:032x}" for i in range(11)]):
        with pytest.raises(BadRequest):
            parse_attachment_ids(bad)


def item(**overrides: Any) -> dict[str, Any]:
    return {
        "id": ID,
        "ownerId": "alice",
        "room": "lobby",
        "status": "ready",
        "name": "cat.png",
        "type": "image/png",
        "size": 1000,
        "width": 10,
        "height": 20,
        "uploadExpiresAt": 2_000,
        **overrides,
    }


def claim(**overrides: Any) -> list[dict[str, Any]]:
    return check_claim([ID], {ID: item(**overrides)}, user_id="alice", room="lobby", now=1_000)


def test_the_senders_own_ready_file_for_the_room_becomes_a_descriptor() -> None:
    assert claim() == [
        {"id": ID, "name": "cat.png", "type": "image/png", "size": 1000, "width": 10, "height": 20}
    ]
    assert "width" not in claim(width=None, height=None)[0]


@pytest.mark.parametrize(
    ("overrides", "error", "code"),
    [
        ({"ownerId": "mallory"}, Forbidden, "forbidden"),
        ({"room": "other"}, Forbidden, "forbidden"),
        ({"status": "pending"}, AttachmentNotReady, "attachment_not_ready"),
        ({"status": "pending", "uploadExpiresAt": 999}, AttachmentExpired, "attachment_expired"),
        (
            {"status": "rejected", "reason": "5 bytes stored"},
            AttachmentNotFound,
            "attachment_not_found",
        ),
    ],
)
def test_every_refusal_has_its_stable_code(
    overrides: dict[str, Any], error: type[ChatError], code: str
) -> None:
    with pytest.raises(error) as caught:
        claim(**overrides)
    assert caught.value.code == code


def test_an_unknown_id_is_not_found() -> None:
    with pytest.raises(AttachmentNotFound):
        check_claim([ID], {}, user_id="alice", room="lobby", now=0)


def test_stored_descriptors_come_back_as_plain_ints() -> None:
    from decimal import Decimal

    stored = [{"id": ID, "name": "a", "type": "text/plain", "size": Decimal("3")}]
    assert descriptors_from_item(stored) == [
        {"id": ID, "name": "a", "type": "text/plain", "size": 3}
    ]
    assert descriptors_from_item(None) == []
