"""Files through the chat backend: declare on the HTTP API, POST straight to S3, download.

The backend never sees the bytes: ``POST {api}/rooms/{room}/attachments`` answers a pre-signed
S3 POST (``{id, upload: {url, fields}, expires}``), the file goes to ``upload.url`` as a browser
form would send it, and ``GET {api}/attachments/{id}`` (JSON) answers a short-lived URL to fetch it.

::

    async with Attachments(api_url, token) as files:
        info = await files.upload("lobby", "cat.png", progress=print)
        await chat.send("lobby", "look", attachments=[info.id])
        await files.download(info.id, "copy.png")

Refusals keep the backend's stable codes (``too_large``, ``bad_request``, ``forbidden``, ...) in
:class:`AttachmentError`; S3's own refusals (``EntityTooLarge``, ``AccessDenied``) too.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import re
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

__all__ = [
    "AttachmentError",
    "Attachments",
    "Uploaded",
    "guess_type",
    "multipart_form",
    "s3_error_code",
]

Progress = Callable[[int, int], None]  # (bytes sent so far, total)
_CHUNK = 64 * 1024


class AttachmentError(Exception):
    """An upload or download the backend or S3 refused; ``code`` is the stable error code."""

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Uploaded:
    """A file that is in S3 under its declaration (the backend checks it right after)."""

    id: str
    name: str
    type: str
    size: int


def guess_type(path: str | Path) -> str:
    guessed, _ = mimetypes.guess_type(str(path))
    return guessed or "application/octet-stream"


def multipart_form(
    fields: Mapping[str, str], *, filename: str, content_type: str
) -> tuple[bytes, bytes, str]:
    """The bytes before and after the file of an S3 POST form, and its Content-Type header.

    The fields come first and the file last, as S3 requires (it ignores what follows the file).
    """
    boundary = f"----chat{uuid.uuid4().hex}"
    head = bytearray()
    for name, value in fields.items():
        head += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        head += str(value).encode() + b"\r\n"
    safe = quote(filename, safe=" ._-()")
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{safe}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return bytes(head), tail, f"multipart/form-data; boundary={boundary}"


_XML_CODE = re.compile(rb"<Code>([^<]+)</Code>")
_XML_MESSAGE = re.compile(rb"<Message>([^<]*)</Message>")


def s3_error_code(body: bytes) -> tuple[str, str]:
    """``(Code, Message)`` from an S3 XML error body."""
    code = _XML_CODE.search(body)
    message = _XML_MESSAGE.search(body)
    return (
        code.group(1).decode() if code else "S3Error",
        message.group(1).decode() if message else body[:200].decode(errors="replace"),
    )


async def _file_chunks(
    path: Path, head: bytes, tail: bytes, size: int, progress: Progress | None
) -> AsyncIterator[bytes]:
    yield head
    sent = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            sent += len(chunk)
            yield chunk
            if progress is not None:
                progress(sent, size)
    yield tail


class Attachments:
    """Upload and download through one HTTP API base URL (``https://.../{stage}``) and token."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 300.0,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._session = session
        self._own = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def __aenter__(self) -> Attachments:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own and self._session is not None:
            await self._session.close()
        self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}

    async def _api_json(self, response: aiohttp.ClientResponse) -> Any:
        try:
            body = await response.json(content_type=None)
        except (ValueError, aiohttp.ContentTypeError):
            body = None
        if response.status >= 400:
            body = body if isinstance(body, dict) else {}
            code = str(body.get("code") or ("unauthorized" if response.status == 401 else "http"))
            message = str(body.get("message") or f"HTTP {response.status}")
            raise AttachmentError(code, message, status=response.status)
        return body

    async def declare(self, room: str, *, name: str, type: str, size: int) -> dict[str, Any]:
        """``{id, upload: {url, fields}, expires}`` for one file to come."""
        url = f"{self.api_url}/rooms/{quote(room, safe=':')}/attachments"
        body = {"name": name, "type": type, "size": size}
        async with self._http().post(url, json=body, headers=self._auth()) as response:
            answer: dict[str, Any] = await self._api_json(response)
        return answer

    async def post_file(
        self,
        upload: Mapping[str, Any],
        path: str | Path,
        *,
        content_type: str,
        progress: Progress | None = None,
    ) -> None:
        """Send the file to a pre-signed S3 POST; S3's refusal becomes ``AttachmentError``."""
        path = Path(path)
        size = path.stat().st_size
        head, tail, form_type = multipart_form(
            upload["fields"], filename=path.name, content_type=content_type
        )
        data = _file_chunks(path, head, tail, size, progress)
        headers = {"Content-Type": form_type, "Content-Length": str(len(head) + size + len(tail))}
        async with self._http().post(upload["url"], data=data, headers=headers) as response:
            body = await response.read()
            if response.status >= 300:
                code, message = s3_error_code(body)
                raise AttachmentError(code, message, status=response.status)

    async def upload(
        self,
        room: str,
        path: str | Path,
        *,
        type: str | None = None,
        progress: Progress | None = None,
    ) -> Uploaded:
        """Declare ``path`` for ``room`` and upload it; returns its id for ``send``/``dm``."""
        path = Path(path)
        if not path.is_file():
            raise AttachmentError("bad_request", f"{path} is not a file")
        size = path.stat().st_size
        content_type = type or guess_type(path)
        declared = await self.declare(room, name=path.name, type=content_type, size=size)
        await self.post_file(declared["upload"], path, content_type=content_type, progress=progress)
        await self.wait_ready(str(declared["id"]))
        return Uploaded(id=str(declared["id"]), name=path.name, type=content_type, size=size)

    async def wait_ready(self, attachment_id: str, *, timeout: float = 30.0) -> None:
        """Return once the upload is checked: S3 has the bytes, and the ObjectCreated check marks
        the file ready moments later (``attachment_not_ready`` until then). A send naming the
        file before that would be refused, so ``upload`` waits here."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = 0.05
        while True:
            try:
                await self.download_url(attachment_id)
                return
            except AttachmentError as exc:
                if exc.code != "attachment_not_ready" or loop.time() + delay > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def download_url(self, attachment_id: str) -> str:
        url = f"{self.api_url}/attachments/{quote(attachment_id, safe='')}"
        async with self._http().get(url, headers=self._auth()) as response:
            answer = await self._api_json(response)
        return str(answer["url"])

    async def download(
        self, attachment_id: str, path: str | Path, *, progress: Progress | None = None
    ) -> Path:
        """Fetch an attachment into ``path`` (a folder keeps the server's file name)."""
        target = Path(path)
        url = await self.download_url(attachment_id)
        async with self._http().get(url) as response:
            if response.status >= 300:
                code, message = s3_error_code(await response.read())
                raise AttachmentError(code, message, status=response.status)
            if target.is_dir():
                target = target / _filename(response.headers.get("Content-Disposition", ""))
            total = int(response.headers.get("Content-Length", "0") or 0)
            partial = target.with_name(target.name + ".part")
            received = 0
            with partial.open("wb") as handle:
                async for chunk in response.content.iter_chunked(_CHUNK):
                    handle.write(chunk)
                    received += len(chunk)
                    if progress is not None:
                        progress(received, total or received)
            os.replace(partial, target)
        return target


def _filename(disposition: str) -> str:
    match = re.search(r'filename="([^"]+)"', disposition)
    name = match.group(1) if match else "download"
    return Path(name).name or "download"
