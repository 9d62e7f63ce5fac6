"""The local S3 on the running stack: what real S3 enforces on pre-signed requests, and the
bucket notification that runs the template's AttachmentCheckFunction.

Pre-signed POSTs and GETs are made by real boto3 against the stack's S3 URL (or by the
template's AttachmentsFunction, invoked in the local runtime with an HTTP API 2.0 event) and sent
over real sockets, as a browser would send them.
"""

from __future__ import annotations

import datetime
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from client.attachments import multipart_form
from client.cli import main
from client.context import Environment, ExitStatus
from local.testing import HttpAnswer
from tests.e2e.conftest import ROOT
from tests.e2e.harness import TIMEOUT
from tests.support.attachment_events import declare_event, download_event
from tests.support.images import image_bytes
from tests.unit.client_fake_server import Stream


def s3_client(url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


@pytest.fixture(scope="module")
def s3(chat_stack: Any) -> Any:
    return s3_client(chat_stack.s3_url)


@pytest.fixture(scope="module")
def bucket(chat_stack: Any) -> str:
    return str(chat_stack.stack.stack.resources["AttachmentsBucket"].physical_id)


def post_form(upload: dict[str, Any], data: bytes, *, content_type: str) -> tuple[int, bytes]:
    head, tail, form_type = multipart_form(
        upload["fields"], filename="f.bin", content_type=content_type
    )
    request = urllib.request.Request(
        upload["url"], data=head + data + tail, method="POST", headers={"Content-Type": form_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def presign(s3: Any, bucket: str, key: str, size: int, expires: int = 60) -> dict[str, Any]:
    post: dict[str, Any] = s3.generate_presigned_post(
        bucket,
        key,
        Fields={"Content-Type": "application/octet-stream"},
        Conditions=[
            {"Content-Type": "application/octet-stream"},
            ["content-length-range", size, size],
        ],
        ExpiresIn=expires,
    )
    return post


def signed_an_hour_ago(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 signs as a client whose clock says an hour ago: what it signs has expired."""
    past = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(hours=1)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: past)
    monkeypatch.setattr("botocore.signers.get_current_datetime", lambda: past)


def wait_until(check: Callable[[], Any], what: str, timeout: float = 3 * TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def key(prefix: str = "checks") -> str:
    # Outside rooms/: no bucket notification, only what S3 itself enforces.
    return f"{prefix}/{uuid.uuid4().hex}/f.bin"


# ---- what S3 enforces --------------------------------------------------------------------------


def test_a_presigned_post_stores_exactly_the_declared_bytes(s3: Any, bucket: str) -> None:
    name = key()
    status, _ = post_form(
        presign(s3, bucket, name, 10), b"0123456789", content_type="application/octet-stream"
    )
    assert status == 204
    stored = s3.get_object(Bucket=bucket, Key=name)
    assert stored["Body"].read() == b"0123456789"
    assert stored["ContentType"] == "application/octet-stream"


def test_a_file_larger_than_declared_is_refused_with_entity_too_large(s3: Any, bucket: str) -> None:
    name = key()
    status, body = post_form(
        presign(s3, bucket, name, 10), b"0123456789!", content_type="application/octet-stream"
    )
    assert status == 400
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert b"<Code>EntityTooLarge</Code>" in body and b"<MaxSizeAllowed>10</MaxSizeAllowed>" in body
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=name)


def test_an_expired_or_forged_post_is_access_denied(
    s3: Any, bucket: str, chat_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    forged = presign(s3, bucket, key(), 4)
    forged["fields"]["key"] = "rooms/lobby/elsewhere.html"
    with monkeypatch.context() as patch:
        signed_an_hour_ago(patch)
        expired = presign(s3, bucket, key(), 4, expires=60)
    wrong_secret = boto3.client(
        "s3",
        endpoint_url=chat_stack.s3_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="not-the-secret",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    badly_signed = presign(wrong_secret, bucket, key(), 4)
    for upload, why in (
        (forged, b"Policy Condition failed"),
        (expired, b"Policy expired"),
        (badly_signed, b"signature"),
    ):
        status, body = post_form(upload, b"abcd", content_type="application/octet-stream")
        assert status == 403, body
        assert b"<Code>AccessDenied</Code>" in body and why in body


def test_presigned_gets_are_checked_for_expiry_and_signature(
    s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = key()
    s3.put_object(Bucket=bucket, Key=name, Body=b"payload")
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": name}, ExpiresIn=60
    )
    assert get(url) == (200, b"payload")
    status, body = get(url.replace(name, name.replace("f.bin", "g.bin")))
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body
    with monkeypatch.context() as patch:
        signed_an_hour_ago(patch)
        old = s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": name}, ExpiresIn=60
        )
    status, body = get(old)
    assert status == 403 and b"<Message>Request has expired</Message>" in body


# ---- the template's attachment flow on the local stack -------------------------------------------


def invoke(chat_stack: Any, logical_id: str, event: dict[str, Any]) -> dict[str, Any]:
    result = chat_stack.call(chat_stack.runtime.invoke(logical_id, event), 3 * TIMEOUT)
    assert result.error is None, result.error
    payload: dict[str, Any] = result.payload
    return payload


def attachment_status(chat_stack: Any, attachment_id: str) -> str | None:
    table = chat_stack.stack.stack.resources["MessagesTable"].physical_id
    item = (
        chat_stack.aws.client("dynamodb")
        .get_item(TableName=table, Key={"pk": {"S": f"ATT#{attachment_id}"}, "seq": {"N": "0"}})
        .get("Item")
    )
    return item["status"]["S"] if item else None


def declare(
    chat_stack: Any, room: str, user: str, name: str, type_: str, size: int
) -> dict[str, Any]:
    answer = invoke(
        chat_stack,
        "AttachmentsFunction",
        declare_event(room, {"name": name, "type": type_, "size": size}, user=user),
    )
    assert answer["statusCode"] == 201, answer
    declared: dict[str, Any] = json.loads(answer["body"])
    return declared


def test_an_upload_runs_the_check_and_members_get_the_file_byte_identical(
    chat_stack: Any,
) -> None:
    room = f"files-{uuid.uuid4().hex[:6]}"
    ada, bob = f"ada-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    data = image_bytes("image/png", 300, 200)
    big = bytes(range(256)) * 1200  # 300 KB: far over a WebSocket frame
    image = declare(chat_stack, room, ada, "pic.png", "image/png", len(data))
    blob = declare(chat_stack, room, ada, "blob.bin", "application/octet-stream", len(big))
    # The pre-signed POST the function made points at the local S3, not at moto.
    assert image["upload"]["url"].startswith(chat_stack.s3_url)
    assert post_form(image["upload"], data, content_type="image/png")[0] == 204
    assert post_form(blob["upload"], big, content_type="application/octet-stream")[0] == 204
    for declared in (image, blob):
        wait_until(
            lambda d=declared: attachment_status(chat_stack, d["id"]) == "ready",
            "the ObjectCreated check to mark the upload ready",
        )

    with (
        chat_stack.connect(token=chat_stack.dev_token(ada, "Ada")) as a,
        chat_stack.connect(token=chat_stack.dev_token(bob, "Bob")) as b,
    ):
        for ws in (a, b):
            ws.send_json({"action": "join", "room": room})
            ws.receive_until(lambda f: f.get("type") == "joined", timeout=3 * TIMEOUT)
        a.send_json(
            {
                "action": "send",
                "room": room,
                "text": "files",
                "attachments": [image["id"], blob["id"]],
                "ref": "f1",
            }
        )
        a.receive_until(lambda f: f.get("type") == "ack", timeout=3 * TIMEOUT)
        message, _ = b.receive_until(lambda f: f.get("type") == "message", timeout=3 * TIMEOUT)
    assert message["attachments"] == [
        {
            "id": image["id"],
            "name": "pic.png",
            "type": "image/png",
            "size": len(data),
            "width": 300,
            "height": 200,
        },
        {
            "id": blob["id"],
            "name": "blob.bin",
            "type": "application/octet-stream",
            "size": len(big),
        },
    ]
    answer = invoke(
        chat_stack,
        "AttachmentsFunction",
        download_event(blob["id"], user=bob, accept="application/json"),
    )
    url = json.loads(answer["body"])["url"]
    assert get(url) == (200, big)


def test_an_upload_that_lies_about_its_type_is_deleted_by_the_check(chat_stack: Any) -> None:
    room = f"files-{uuid.uuid4().hex[:6]}"
    fake = b"MZ\x90\x00" + b"\0" * 60  # an executable declared as a PNG
    declared = declare(chat_stack, room, "ada", "pic.png", "image/png", len(fake))
    assert post_form(declared["upload"], fake, content_type="image/png")[0] == 204
    wait_until(
        lambda: attachment_status(chat_stack, declared["id"]) == "rejected",
        "the check to reject the upload",
    )
    bucket = chat_stack.stack.stack.resources["AttachmentsBucket"].physical_id
    listed = chat_stack.aws.client("s3").list_objects_v2(Bucket=bucket, Prefix=f"rooms/{room}/")
    assert "Contents" not in listed


def test_browsers_get_cors_answers_from_the_bucket_s_rules(chat_stack: Any, bucket: str) -> None:
    preflight = urllib.request.Request(
        f"{chat_stack.s3_url}/{bucket}",
        method="OPTIONS",
        headers={
            "Origin": "http://127.0.0.1:9999",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    with urllib.request.urlopen(preflight, timeout=TIMEOUT) as response:
        assert response.status == 200
        # local.yaml leaves AllowedOrigins empty: any origin, as the template says.
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
    refused = urllib.request.Request(
        f"{chat_stack.s3_url}/{bucket}",
        method="OPTIONS",
        headers={"Origin": "http://127.0.0.1:9999", "Access-Control-Request-Method": "DELETE"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(refused, timeout=TIMEOUT)
    with caught.value as error:
        assert error.code == 403
        assert b"<Code>AccessForbidden</Code>" in error.read()


def test_success_action_status_201_answers_s3_s_post_response(s3: Any, bucket: str) -> None:
    name = key()
    upload = s3.generate_presigned_post(
        bucket,
        name,
        Fields={"success_action_status": "201"},
        Conditions=[{"success_action_status": "201"}, ["content-length-range", 1, 100]],
        ExpiresIn=60,
    )
    status, body = post_form(upload, b"hello", content_type="text/plain")
    assert status == 201
    assert f"<Key>{name}</Key>".encode() in body and f"<Bucket>{bucket}</Bucket>".encode() in body
    # A field the policy does not name is refused, as S3 does.
    upload["fields"]["acl"] = "public-read"
    status, body = post_form(upload, b"hello", content_type="text/plain")
    assert status == 403 and b"Extra input fields: acl" in body


def test_a_put_under_rooms_runs_the_check_too(chat_stack: Any, s3: Any, bucket: str) -> None:
    # Nobody declared this key: the check deletes it, whichever way it was written.
    stray = f"rooms/lobby/{uuid.uuid4().hex}/stray.png"
    s3.put_object(Bucket=bucket, Key=stray, Body=b"not declared", ContentType="image/png")
    wait_until(
        lambda: "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=stray),
        "the check to delete an undeclared object",
    )


# ---- the whole flow over the HTTP API ----------------------------------------------------------


def declare_over_http(
    chat_stack: Any, room: str, token: str, name: str, type_: str, size: int
) -> HttpAnswer:
    return chat_stack.request(
        "POST",
        f"/rooms/{room}/attachments",
        token=token,
        json_body={"name": name, "type": type_, "size": size},
        timeout=3 * TIMEOUT,
    )


def download_over_http(chat_stack: Any, attachment_id: str, token: str, **headers: str) -> Any:
    return chat_stack.request(
        "GET", f"/attachments/{attachment_id}", token=token, headers=headers, timeout=3 * TIMEOUT
    )


def ready_over_http(chat_stack: Any, attachment_id: str, token: str) -> bool:
    answer = download_over_http(chat_stack, attachment_id, token, Accept="application/json")
    # 409 attachment_not_ready until the ObjectCreated check has run.
    assert answer.status in (200, 409), answer
    return bool(answer.status == 200)


def test_declare_upload_send_and_download_over_http_and_the_websocket(chat_stack: Any) -> None:
    room = f"files-{uuid.uuid4().hex[:6]}"
    ada, bob = f"ada-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    ada_token, bob_token = chat_stack.dev_token(ada, "Ada"), chat_stack.dev_token(bob, "Bob")
    data = bytes(range(256)) * 1200  # 300 KB
    declared = declare_over_http(
        chat_stack, room, ada_token, "data.bin", "application/octet-stream", len(data)
    )
    assert declared.status == 201, declared
    upload = declared.json()
    assert upload["upload"]["url"].startswith(chat_stack.s3_url)
    assert not ready_over_http(chat_stack, upload["id"], ada_token)
    assert post_form(upload["upload"], data, content_type="application/octet-stream")[0] == 204
    wait_until(
        lambda: ready_over_http(chat_stack, upload["id"], ada_token),
        "the ObjectCreated check to mark the upload ready",
    )

    with (
        chat_stack.connect(token=ada_token) as a,
        chat_stack.connect(token=bob_token) as b,
    ):
        for ws in (a, b):
            ws.send_json({"action": "join", "room": room})
            ws.receive_until(lambda f: f.get("type") == "joined", timeout=3 * TIMEOUT)
        a.send_json(
            {"action": "send", "room": room, "text": "", "attachments": [upload["id"]], "ref": "1"}
        )
        a.receive_until(lambda f: f.get("type") == "ack", timeout=3 * TIMEOUT)
        message, _ = b.receive_until(lambda f: f.get("type") == "message", timeout=3 * TIMEOUT)
    assert message["attachments"] == [
        {
            "id": upload["id"],
            "name": "data.bin",
            "type": "application/octet-stream",
            "size": len(data),
        }
    ]

    redirect = download_over_http(chat_stack, upload["id"], bob_token)
    assert redirect.status == 302, redirect
    location = dict(redirect.headers)["location"]
    assert location.startswith(chat_stack.s3_url)
    assert get(location) == (200, data)
    as_json = download_over_http(chat_stack, upload["id"], bob_token, Accept="application/json")
    assert as_json.status == 200
    assert get(as_json.json()["url"]) == (200, data)


def test_an_http_publish_carries_an_uploaded_file_to_the_room(chat_stack: Any) -> None:
    room = f"files-{uuid.uuid4().hex[:6]}"
    ada, bob = f"ada-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    ada_token = chat_stack.dev_token(ada, "Ada")
    data = image_bytes("image/png", 40, 30)
    upload = declare_over_http(chat_stack, room, ada_token, "p.png", "image/png", len(data)).json()
    assert post_form(upload["upload"], data, content_type="image/png")[0] == 204
    wait_until(lambda: ready_over_http(chat_stack, upload["id"], ada_token), "the check")
    with chat_stack.connect(token=chat_stack.dev_token(bob, "Bob")) as b:
        b.send_json({"action": "join", "room": room})
        b.receive_until(lambda f: f.get("type") == "joined", timeout=3 * TIMEOUT)
        published = chat_stack.request(
            "POST",
            f"/rooms/{room}/messages",
            token=ada_token,
            json_body={"text": "a picture", "attachments": [upload["id"]]},
            timeout=3 * TIMEOUT,
        )
        assert published.status == 201, published
        message, _ = b.receive_until(lambda f: f.get("type") == "message", timeout=3 * TIMEOUT)
    assert message["text"] == "a picture"
    assert message["attachments"][0] | {"width": 40, "height": 30} == message["attachments"][0]


def test_refusals_over_http_say_what_was_wrong(chat_stack: Any) -> None:
    room = f"files-{uuid.uuid4().hex[:6]}"
    ada, eve = f"ada-{uuid.uuid4().hex[:6]}", f"eve-{uuid.uuid4().hex[:6]}"
    ada_token, eve_token = chat_stack.dev_token(ada, "Ada"), chat_stack.dev_token(eve, "Eve")
    limit = int(chat_stack.stack.stack.parameters["MaxAttachmentBytes"])

    too_big = declare_over_http(
        chat_stack, room, ada_token, "big.bin", "application/zip", limit + 1
    )
    assert (too_big.status, too_big.json()["code"]) == (413, "too_large")
    wrong_type = declare_over_http(
        chat_stack, room, ada_token, "x.exe", "application/x-msdownload", 9
    )
    assert (wrong_type.status, wrong_type.json()["code"]) == (400, "bad_request")
    assert "application/x-msdownload" in wrong_type.json()["message"]
    # The gateway's authorizer refuses before the function runs, with API Gateway's bodies.
    forged = declare_over_http(chat_stack, room, "not-a-token", "a.txt", "text/plain", 1)
    assert (forged.status, forged.json()) == (403, {"message": "Forbidden"})
    anonymous = chat_stack.request(
        "POST",
        f"/rooms/{room}/attachments",
        json_body={"name": "a", "type": "text/plain", "size": 1},
    )
    assert (anonymous.status, anonymous.json()) == (401, {"message": "Unauthorized"})

    # Eve's file, uploaded and ready; Ada's, declared and never uploaded.
    data = b"eve's notes"
    theirs = declare_over_http(chat_stack, room, eve_token, "e.txt", "text/plain", len(data)).json()
    assert post_form(theirs["upload"], data, content_type="text/plain")[0] == 204
    wait_until(lambda: ready_over_http(chat_stack, theirs["id"], eve_token), "the check")
    pending = declare_over_http(chat_stack, room, ada_token, "a.txt", "text/plain", 5).json()

    def publish(ids: list[str]) -> Any:
        return chat_stack.request(
            "POST",
            f"/rooms/{room}/messages",
            token=ada_token,
            json_body={"text": "x", "attachments": ids},
            timeout=3 * TIMEOUT,
        )

    for ids, status, code in (
        ([theirs["id"]], 403, "forbidden"),
        ([pending["id"]], 409, "attachment_not_ready"),
        ([uuid.uuid4().hex], 404, "attachment_not_found"),
    ):
        answer = publish(ids)
        assert (answer.status, answer.json()["code"]) == (status, code), answer
    # Nothing was stored by any of them.
    history = chat_stack.request("GET", f"/rooms/{room}/messages", token=ada_token)
    assert (history.status, history.json()["code"]) == (404, "not_found")
    not_ready = download_over_http(chat_stack, pending["id"], ada_token)
    assert (not_ready.status, not_ready.json()["code"]) == (409, "attachment_not_ready")
    unknown = download_over_http(chat_stack, uuid.uuid4().hex, ada_token)
    assert (unknown.status, unknown.json()["code"]) == (404, "attachment_not_found")


# ---- the CLI -------------------------------------------------------------------------------------


def cli_env() -> Environment:
    # From the project root, so `--user` mints with the stack's own local.yaml settings.
    return Environment(stdin=Stream(), stdout=Stream(), stderr=Stream(), environ={}, cwd=ROOT)


def test_a_5_mb_file_goes_from_chat_send_to_another_client_and_back_out_of_chat_download(
    chat_stack: Any, tmp_path: Path
) -> None:
    room = f"files-{uuid.uuid4().hex[:6]}"
    ada, bob = f"ada-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    data = uuid.uuid4().bytes * (5 * 1024 * 1024 // 16)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    url = ["--url", chat_stack.ws_url]
    with chat_stack.connect(token=chat_stack.dev_token(bob, "Bob")) as b:
        b.send_json({"action": "join", "room": room})
        b.receive_until(lambda f: f.get("type") == "joined", timeout=3 * TIMEOUT)
        env = cli_env()
        argv = ["send", "--room", room, "the build", "--file", str(source), *url, "--user", ada]
        assert main(argv, env=env) == ExitStatus.OK, env.stderr.getvalue()
        assert "100%" in env.stderr.getvalue()  # the progress bar
        message, _ = b.receive_until(lambda f: f.get("type") == "message", timeout=3 * TIMEOUT)
    [file] = message["attachments"]
    assert (message["text"], file["name"], file["size"]) == ("the build", "big.bin", len(data))

    out = tmp_path / "out"
    out.mkdir()
    env = cli_env()
    assert main(["download", file["id"], "-o", str(out), *url, "--user", bob], env=env) == 0
    assert (out / "big.bin").read_bytes() == data
    assert f"saved {out / 'big.bin'}" in env.stdout.getvalue()
