"""client.attachments and the CLI's --file / download, against an in-process fake HTTP API + S3.

The fake answers like the backend (declare -> pre-signed POST, download -> URL) and like S3
(multipart form, XML errors), over real sockets; the real pair is in tests/e2e.
"""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from client.attachments import (
    AttachmentError,
    Attachments,
    multipart_form,
    s3_error_code,
)
from client.cli import main
from client.context import Environment, ExitStatus
from client.progress import ProgressBar, human_size
from tests.unit.client_fake_server import SECRET, Stream, running_fake

MAX = 1000


class FakeFiles:
    """POST /dev/rooms/{room}/attachments, GET /dev/attachments/{id}, and an S3 bucket."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[str, bytes]] = {}  # key -> (content type, bytes)
        self.declared: dict[str, dict[str, Any]] = {}
        self.tokens: list[str] = []
        self.base = ""
        # The ObjectCreated check runs after S3 answers: this many downloads of a freshly
        # uploaded file answer 409 attachment_not_ready first.
        self.check_delay = 1
        self.not_ready_answers = 0
        self._unchecked: dict[str, int] = {}

    def app(self) -> web.Application:
        app = web.Application(client_max_size=10 * MAX)
        app.router.add_post("/dev/rooms/{room}/attachments", self.declare)
        app.router.add_get("/dev/attachments/{id}", self.download)
        app.router.add_post("/bucket", self.s3_post)
        app.router.add_get("/bucket/{key:.*}", self.s3_get)
        return app

    async def declare(self, request: web.Request) -> web.Response:
        self.tokens.append(request.headers.get("Authorization", ""))
        body = await request.json()
        if body["size"] > MAX:
            return web.json_response({"code": "too_large", "message": "over 1000"}, status=413)
        attachment_id = uuid.uuid4().hex
        key = f"rooms/{request.match_info['room']}/{attachment_id}/{body['name']}"
        self.declared[attachment_id] = {**body, "key": key}
        fields = {"key": key, "Content-Type": body["type"], "policy": "e30="}
        upload = {"url": f"{self.base}/bucket", "fields": fields}
        return web.json_response(
            {"id": attachment_id, "upload": upload, "expires": "x"}, status=201
        )

    async def download(self, request: web.Request) -> web.Response:
        declared = self.declared.get(request.match_info["id"])
        if declared is None:
            return web.json_response({"code": "attachment_not_found", "message": "no"}, status=404)
        attachment_id = request.match_info["id"]
        if declared["key"] not in self.objects or self._unchecked.get(attachment_id, 0) > 0:
            self._unchecked[attachment_id] = self._unchecked.get(attachment_id, 1) - 1
            self.not_ready_answers += 1
            body = {"code": "attachment_not_ready", "message": "not checked yet"}
            return web.json_response(body, status=409)
        return web.json_response({"url": f"{self.base}/bucket/{declared['key']}"})

    async def s3_post(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form["file"]
        assert isinstance(upload, web.FileField)
        data = upload.file.read()
        declared = next(d for d in self.declared.values() if d["key"] == form["key"])
        if len(data) > declared["size"]:
            body = b"<Error><Code>EntityTooLarge</Code><Message>too big</Message></Error>"
            return web.Response(status=400, body=body, content_type="application/xml")
        self.objects[str(form["key"])] = (str(form["Content-Type"]), data)
        attachment_id = next(i for i, d in self.declared.items() if d["key"] == form["key"])
        self._unchecked[attachment_id] = self.check_delay
        return web.Response(status=204)

    async def s3_get(self, request: web.Request) -> web.Response:
        content_type, data = self.objects[request.match_info["key"]]
        name = request.match_info["key"].rsplit("/", 1)[-1]
        return web.Response(
            body=data,
            content_type=content_type,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )


@pytest.fixture
async def files() -> AsyncIterator[FakeFiles]:
    fake = FakeFiles()
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.base = f"http://127.0.0.1:{port}"
    yield fake
    await runner.cleanup()


async def test_upload_declares_posts_the_form_and_reports_progress(
    files: FakeFiles, tmp_path: Path
) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"x" * 700)
    seen: list[tuple[int, int]] = []
    async with Attachments(f"{files.base}/dev", "tok") as client:
        uploaded = await client.upload("lobby", path, progress=lambda s, t: seen.append((s, t)))
    assert (uploaded.name, uploaded.type, uploaded.size) == ("notes.txt", "text/plain", 700)
    key = files.declared[uploaded.id]["key"]
    assert files.objects[key] == ("text/plain", b"x" * 700)
    assert seen[-1] == (700, 700)
    assert files.tokens == ["Bearer tok"]


async def test_refusals_keep_their_codes(files: FakeFiles, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"0" * (MAX + 1))
    async with Attachments(f"{files.base}/dev", "tok") as client:
        with pytest.raises(AttachmentError) as caught:
            await client.upload("lobby", big)
        assert (caught.value.code, caught.value.status) == ("too_large", 413)
        # The storage's own refusal: a file that grew after it was declared.
        declared = await client.declare("lobby", name="a.bin", type="text/plain", size=3)
        lying = tmp_path / "a.bin"
        lying.write_bytes(b"four")
        with pytest.raises(AttachmentError) as caught:
            await client.post_file(declared["upload"], lying, content_type="text/plain")
        assert caught.value.code == "EntityTooLarge"
        with pytest.raises(AttachmentError) as caught:
            await client.download("f" * 32, tmp_path)
        assert caught.value.code == "attachment_not_found"


async def test_download_writes_the_bytes_under_the_server_s_name(
    files: FakeFiles, tmp_path: Path
) -> None:
    source = tmp_path / "photo.png"
    source.write_bytes(bytes(range(256)) * 3)
    async with Attachments(f"{files.base}/dev", "tok") as client:
        uploaded = await client.upload("lobby", source)
        out = tmp_path / "out"
        out.mkdir()
        saved = await client.download(uploaded.id, out)
    assert saved == out / "photo.png"
    assert saved.read_bytes() == source.read_bytes()
    assert not list(out.glob("*.part"))


async def test_cli_send_file_uploads_then_sends_the_ids(files: FakeFiles, tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF-1.7 tiny")
    async with running_fake() as (fake, url):
        env = Environment(
            stdin=Stream(), stdout=Stream(), stderr=Stream(), environ={}, cwd=tmp_path
        )
        argv = [
            "send",
            "--room",
            "lobby",
            "see this",
            "--file",
            str(path),
            "--http",
            f"{files.base}/dev",
            "--url",
            url,
            "--user",
            "alice",
            "--secret",
            SECRET,
        ]
        assert await asyncio.to_thread(main, argv, env=env) == 0
        frames = [frame for _, frame in fake.frames if frame.get("action") == "send"]
    [attachment_id] = files.declared
    assert frames[0]["attachments"] == [attachment_id]
    assert frames[0]["text"] == "see this"
    assert "uploading" in env.stderr.getvalue()  # type: ignore[attr-defined]
    assert "100%" in env.stderr.getvalue()  # type: ignore[attr-defined]


def test_cli_download_needs_an_api_url(tmp_path: Path) -> None:
    env = Environment(stdin=Stream(), stdout=Stream(), stderr=Stream(), environ={}, cwd=tmp_path)
    argv = ["download", "f" * 32, "--url", "ws://127.0.0.1:9/dev", "--token", "t"]
    assert main(argv, env=env) == ExitStatus.CONFIG
    assert "pass --http" in env.stderr.getvalue()  # type: ignore[attr-defined]


def test_the_form_puts_fields_first_and_the_file_last() -> None:
    head, tail, content_type = multipart_form(
        {"key": "k", "policy": "p"}, filename="a b.txt", content_type="text/plain"
    )
    boundary = content_type.split("boundary=")[1]
    assert head.index(b'name="key"') < head.index(b'name="file"; filename="a b.txt"')
    assert head.endswith(b"Content-Type: text/plain\r\n\r\n")
    assert tail == f"\r\n--{boundary}--\r\n".encode()


def test_s3_error_bodies_give_code_and_message() -> None:
    body = b'<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Nope</Message></Error>'
    assert s3_error_code(body) == ("AccessDenied", "Nope")


def test_progress_bar_draws_once_on_a_pipe_and_in_place_on_a_terminal() -> None:
    pipe = io.StringIO()
    bar = ProgressBar("up", pipe, width=10, tty=False)
    for sent in (10, 50, 100):
        bar(sent, 100)
    assert pipe.getvalue() == "up [##########] 100%  100 B / 100 B\n"
    term = io.StringIO()
    ProgressBar("up", term, width=10, tty=True)(50, 100)
    assert term.getvalue() == "\rup [#####.....]  50%  50 B / 100 B"
    assert human_size(5 * 1024 * 1024) == "5.0 MB"


def test_message_lines_show_their_files() -> None:
    from client.events import parse_event
    from client.render import Style, format_event

    raw = {
        "type": "message",
        "id": "m",
        "room": "r",
        "seq": 1,
        "from": "a",
        "name": "A",
        "text": "hi",
        "ts": 0,
        "attachments": [{"id": "abc", "name": "cat.png", "type": "image/png", "size": 2048}],
    }
    line = format_event(parse_event(raw), me=None, style=Style(color=False))
    assert line is not None and line.endswith("[file cat.png 2.0 KB abc]")
    assert json.loads(json.dumps(raw))["attachments"][0]["id"] == "abc"


async def test_upload_in_chat_connect_sends_the_file_to_the_current_room(
    files: FakeFiles, tmp_path: Path
) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"some notes")
    script = "/join lobby\n/upload notes.txt my notes\n/upload missing.txt\n/quit\n"
    async with running_fake() as (fake, url):
        env = Environment(
            stdin=Stream(script), stdout=Stream(), stderr=Stream(), environ={}, cwd=tmp_path
        )
        argv = [
            "connect",
            "--http",
            f"{files.base}/dev",
            "--url",
            url,
            "--user",
            "alice",
            "--secret",
            SECRET,
        ]
        assert await asyncio.to_thread(main, argv, env=env) == ExitStatus.OK
        sends = [frame for _, frame in fake.frames if frame.get("action") == "send"]
    [attachment_id] = files.declared
    assert files.declared[attachment_id]["key"].startswith("rooms/lobby/")
    assert sends[0]["attachments"] == [attachment_id] and sends[0]["text"] == "my notes"
    assert "upload refused" in env.stdout.getvalue() + env.stderr.getvalue()  # type: ignore[attr-defined]


async def test_upload_returns_once_the_check_has_marked_the_file_ready(
    files: FakeFiles, tmp_path: Path
) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"x" * 10)
    files.check_delay = 3
    async with Attachments(f"{files.base}/dev", "tok") as client:
        uploaded = await client.upload("lobby", path)
        # Ready now: a send naming it would not be refused as attachment_not_ready.
        assert (await client.download_url(uploaded.id)).endswith("/notes.txt")
    assert files.not_ready_answers == 3
