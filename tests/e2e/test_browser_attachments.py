"""Files on the browser page, in Debian's Chromium against the whole local stack.

A Python user uploads through the template's AttachmentsFunction (invoked in the local runtime)
and the local S3, then sends; the page shows the file's chip with its name and size. One page
attaches an image through the HTTP API and the local S3, and another shows its preview. The
page's own checks (too big, type not allowed) run in the browser before any upload could start.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from client.attachments import multipart_form
from local.testing import StackThread
from tests.e2e.browser_support import (
    ChatPage,
    LibraryUser,
    RunningStack,
    unique,
)
from tests.e2e.harness import TIMEOUT
from tests.support.attachment_events import declare_event
from tests.support.images import image_bytes

pytestmark = pytest.mark.browser


def upload_image(chat_stack: StackThread, room: str, user: str, data: bytes) -> str:
    """Declare through the function, POST the form to the local S3, wait for the check."""
    event = declare_event(
        room, {"name": "pic.png", "type": "image/png", "size": len(data)}, user=user
    )
    result = chat_stack.call(
        chat_stack.stack.runtime.invoke("AttachmentsFunction", event), 3 * TIMEOUT
    )
    declared: dict[str, Any] = json.loads(result.payload["body"])
    upload = declared["upload"]
    head, tail, form_type = multipart_form(
        upload["fields"], filename="pic.png", content_type="image/png"
    )
    request = urllib.request.Request(
        upload["url"], data=head + data + tail, method="POST", headers={"Content-Type": form_type}
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        assert response.status == 204
    table = chat_stack.stack.stack.resources["MessagesTable"].physical_id
    dynamodb = chat_stack.stack.aws.client("dynamodb")
    key = {"pk": {"S": f"ATT#{declared['id']}"}, "seq": {"N": "0"}}
    deadline = time.monotonic() + 3 * TIMEOUT
    while dynamodb.get_item(TableName=table, Key=key)["Item"]["status"]["S"] != "ready":
        assert time.monotonic() < deadline, "the ObjectCreated check never marked it ready"
        time.sleep(0.05)
    return str(declared["id"])


def test_a_message_with_a_file_shows_its_chip_with_name_and_size(
    stack: RunningStack, chat_stack: StackThread, new_page: Callable[[], ChatPage]
) -> None:
    room, bob = unique("files"), unique("bob")
    page = new_page()
    page.sign_in(unique("Ada"))
    page.join(room)
    sender = LibraryUser(chat_stack, stack.ws_url, stack.dev_token(bob, "Bob"))
    try:
        sender.join(room)
        data = image_bytes("image/png", 640, 480)
        attachment_id = upload_image(chat_stack, room, bob, data)
        sender._call(sender.client.send(room, "a picture", attachments=[attachment_id]))
    finally:
        sender.close()
    message = page.message("a picture")
    chip = message.get_by_test_id("file-chip")
    expect(chip).to_have_attribute("data-id", attachment_id)
    expect(chip).to_contain_text("pic.png")
    expect(chip).to_contain_text(f"{len(data) / 1024:.1f} KB")


def test_the_page_refuses_too_big_or_disallowed_files_before_uploading(
    new_page: Callable[[], ChatPage],
) -> None:
    page = new_page()
    page.sign_in(unique("Ada"))
    reasons = page.page.evaluate(
        """async () => {
            const { refusal } = await import("./attachments.js");
            const config = await (await fetch("/_local/config")).json();
            const limits = config.attachments;
            const big = limits.maxBytes * 1.2;
            return [
              refusal({ name: "big.zip", size: big, type: "application/zip" }, limits),
              refusal({ name: "run.exe", size: 10, type: "application/x-msdownload" }, limits),
              refusal({ name: "ok.png", size: 10, type: "image/png" }, limits),
            ];
        }"""
    )
    assert reasons[0] == "big.zip is 30.0 MB; files can be at most 25.0 MB."
    assert reasons[1] == "run.exe: files of type application/x-msdownload are not allowed here."
    assert reasons[2] is None


def test_an_image_attached_on_one_page_shows_its_preview_on_another(
    new_page: Callable[[], ChatPage], tmp_path: Path
) -> None:
    room = unique("pics")
    sender, receiver = new_page(), new_page()
    receiver.sign_in(unique("Bob"))
    receiver.join(room)
    sender.sign_in(unique("Ada"))
    sender.join(room)
    # The page found the HTTP API in /_local/config (httpUrl): files can be attached.
    expect(sender.by("attach-button")).to_be_visible()
    expect(sender.by("attach-button")).to_be_enabled()
    picture = tmp_path / "sunset.png"
    picture.write_bytes(image_bytes("image/png", 120, 80))
    sender.by("file-input").set_input_files(str(picture))
    tray_chip = sender.by("attachment-tray").get_by_test_id("file-chip")
    expect(tray_chip).to_have_attribute("data-state", "ready", timeout=3 * TIMEOUT * 1000)
    sender.send("look at this")

    message = receiver.message("look at this")
    expect(message.get_by_test_id("file-chip")).to_contain_text("sunset.png")
    preview = message.get_by_test_id("image-preview")
    expect(preview).to_have_attribute("alt", "sunset.png")
    # The pre-signed download from the local S3 loaded: the browser decoded the image.
    receiver.page.wait_for_function(
        "img => img.complete && img.naturalWidth === 120 && img.naturalHeight === 80",
        arg=preview.element_handle(),
        timeout=3 * TIMEOUT * 1000,
    )
