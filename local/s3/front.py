"""The local S3: a small HTTP front before the embedded AWS's S3, on a URL browsers reach.

moto accepts any pre-signed POST or GET; real S3 does not. This front makes the checks real S3
makes (``local.s3.policy``) and answers with S3's XML errors, then hands the request to moto:

- ``POST /{bucket}`` with a browser form (a pre-signed POST): signature, expiration, every
  policy condition, ``content-length-range``; the object is then stored in moto with the form's
  Content-Type and metadata, and the answer is S3's (204, or ``success_action_status``).
- any request signed in its query string (a pre-signed GET): expiry and signature.
- everything else (boto3's header-signed calls from the functions) goes to moto unchanged.

Bucket notifications are the template's ``Events: Type: S3`` (``local.s3.events``), run through
the local Lambda runtime with the event S3 sends, never moto's (which would call its own Lambda
backend and send an ``s3:TestEvent``). CORS follows the bucket's ``CorsConfiguration``.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote
from xml.sax.saxutils import escape

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from local.logs import Log
from local.model import Stack
from local.s3.events import (
    Subscription,
    cors_headers,
    cors_rules_of,
    object_created_event,
    subscriptions,
)
from local.s3.policy import S3Error, check_post, check_presigned_url, error_xml

__all__ = ["S3Front"]

SOURCE = "s3"
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "host",
    "server",
    "date",
}
# The stored object takes these form fields as its headers (S3's POST Object).
_OBJECT_FIELDS = ("cache-control", "content-disposition", "content-encoding", "expires")


class _Invoker(Protocol):
    async def invoke_async(self, logical_id: str, event: Any) -> Any: ...


class S3Front:
    def __init__(
        self,
        stack: Stack,
        *,
        upstream: str,
        log: Log,
        secrets: Mapping[str, str],
        host: str = "127.0.0.1",
        port: int = 0,
        invoker: _Invoker | None = None,
    ) -> None:
        self.stack = stack
        self.upstream = upstream.rstrip("/")
        self.log = log
        self.secrets = dict(secrets)
        self.host = host
        self.port = port
        # Set once the runtime is up: nothing can be uploaded before the stack is ready.
        self.invoker = invoker
        self.subscriptions = subscriptions(stack)
        self.cors = {
            r.physical_id: cors_rules_of(r.properties)
            for r in stack.resources.values()
            if r.type == "AWS::S3::Bucket"
        }
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        # 5 GB is S3's largest POST upload; the form is read whole (uploads here are small).
        app = web.Application(client_max_size=5 * 1024**3)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        server = site._server  # the bound port is only known here (port 0 = any free one)
        self.port = int(next(iter(getattr(server, "sockets", None) or [])).getsockname()[1])
        self._session = aiohttp.ClientSession(auto_decompress=False)

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- dispatch ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        bucket, _, key = request.match_info["tail"].partition("/")
        origin = request.headers.get("Origin")
        if request.method == "OPTIONS" and origin:
            return self._preflight(request, bucket, origin)
        if (
            request.method == "POST"
            and bucket
            and not key
            and request.content_type == "multipart/form-data"
        ):
            response = await self._post_object(request, bucket)
        elif "X-Amz-Signature" in request.query:
            error = check_presigned_url(
                method=request.method,
                raw_path=request.rel_url.raw_path,
                query=list(request.rel_url.query.items()),
                headers=request.headers,
                now=datetime.now(UTC),
                secret_for=self.secrets.get,
            )
            response = (
                self._error(error, request) if error else await self._proxy(request, bucket, key)
            )
        else:
            response = await self._proxy(request, bucket, key)
        cors = cors_headers(self.cors.get(bucket, []), origin=origin, method=request.method)
        if cors:
            response.headers.update(cors)
        return response

    def _preflight(self, request: web.Request, bucket: str, origin: str) -> web.Response:
        method = request.headers.get("Access-Control-Request-Method", "")
        wanted = [
            h.strip()
            for h in request.headers.get("Access-Control-Request-Headers", "").split(",")
            if h.strip()
        ]
        headers = cors_headers(
            self.cors.get(bucket, []), origin=origin, method=method, request_headers=wanted
        )
        if headers is None:
            error = S3Error(
                403, "AccessForbidden", "CORSResponse: This CORS request is not allowed."
            )
            return self._error(error, request)
        return web.Response(status=200, headers=headers)

    def _error(self, error: S3Error, request: web.Request) -> web.Response:
        self.log.info(SOURCE, f"{request.method} {request.path}: {error.status} {error.code}")
        return web.Response(
            status=error.status, body=error_xml(error), content_type="application/xml"
        )

    # ---- browser-form POST ------------------------------------------------------------------

    async def _post_object(self, request: web.Request, bucket: str) -> web.Response:
        fields: dict[str, str] = {}
        data: bytes | None = None
        filename: str | None = None
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, aiohttp.BodyPartReader):
                continue
            if part.name == "file":
                filename = part.filename
                data = bytes(await part.read())
                break  # S3 ignores every field after the file
            fields[str(part.name)] = await part.text()
        if data is None:
            missing = S3Error(
                400,
                "InvalidArgument",
                "POST requires exactly one file upload per request.",
                {"ArgumentName": "file", "ArgumentValue": "0"},
            )
            return self._error(missing, request)
        error = check_post(
            fields,
            content_length=len(data),
            bucket=bucket,
            now=datetime.now(UTC),
            secret_for=self.secrets.get,
            filename=filename,
        )
        if error is not None:
            return self._error(error, request)
        form = {k.lower(): v for k, v in fields.items()}
        key = form["key"].replace("${filename}", filename or "")
        headers = {"Content-Type": form.get("content-type", "binary/octet-stream")}
        headers.update({name: form[name] for name in _OBJECT_FIELDS if name in form})
        headers.update({k: v for k, v in form.items() if k.startswith("x-amz-meta-")})
        etag, status = await self._store(bucket, key, data, headers)
        if status >= 300:
            failed = S3Error(status, "InternalError", "the embedded S3 did not store the object")
            return self._error(failed, request)
        self._notify(
            request,
            bucket=bucket,
            key=key,
            size=len(data),
            etag=etag,
            event_name="ObjectCreated:Post",
            credential=form.get("x-amz-credential", ""),
        )
        return self._post_answer(form, bucket, key, etag)

    async def _store(
        self, bucket: str, key: str, data: bytes, headers: Mapping[str, str]
    ) -> tuple[str, int]:
        assert self._session is not None
        # An unsigned PUT: moto checks no signature, and the front has already checked the POST.
        url = f"{self.upstream}/{bucket}/{_quote_key(key)}"
        # A file object: aiohttp streams it (raw bytes over 1 MB would block the loop).
        body = io.BytesIO(data)
        async with self._session.put(url, data=body, headers=dict(headers)) as answer:
            await answer.read()
            etag = answer.headers.get("ETag") or f'"{hashlib.md5(data).hexdigest()}"'  # noqa: S324
            return etag, answer.status

    def _post_answer(
        self, form: Mapping[str, str], bucket: str, key: str, etag: str
    ) -> web.Response:
        location = f"{self.url}/{bucket}/{_quote_key(key)}"
        headers = {"ETag": etag, "Location": location, "x-amz-request-id": _request_id()}
        redirect = form.get("success_action_redirect")
        if redirect:
            sep = "&" if "?" in redirect else "?"
            target = f"{redirect}{sep}bucket={bucket}&key={_quote_key(key)}&etag={etag}"
            return web.Response(status=303, headers={**headers, "Location": target})
        status = form.get("success_action_status", "204")
        if status == "201":
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<PostResponse><Location>{escape(location)}</Location>"
                f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key>"
                f"<ETag>{escape(etag)}</ETag></PostResponse>"
            )
            return web.Response(
                status=201, body=body.encode(), content_type="application/xml", headers=headers
            )
        return web.Response(status=200 if status == "200" else 204, headers=headers)

    # ---- everything else --------------------------------------------------------------------

    async def _proxy(self, request: web.Request, bucket: str, key: str) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = CIMultiDict(
            (k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP
        )
        url = f"{self.upstream}{request.rel_url.raw_path_qs}"
        async with self._session.request(
            request.method,
            url,
            data=io.BytesIO(body) if body else None,
            headers=headers,
            allow_redirects=False,
        ) as answer:
            payload = await answer.read()
            out_headers = CIMultiDict(
                (k, v) for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP
            )
            if request.method == "HEAD":
                # No body, but the object's length is the answer (HeadObject's ContentLength).
                if "Content-Length" in answer.headers:
                    out_headers["Content-Length"] = answer.headers["Content-Length"]
                response = web.Response(status=answer.status, headers=out_headers)
            else:
                response = web.Response(status=answer.status, body=payload, headers=out_headers)
        if request.method == "PUT" and key and answer.status == 200 and _is_plain(request):
            copied = "x-amz-copy-source" in request.headers
            self._notify(
                request,
                bucket=bucket,
                key=key,
                size=len(body),
                etag=answer.headers.get("ETag", ""),
                event_name="ObjectCreated:Copy" if copied else "ObjectCreated:Put",
                credential=_credential_of(request),
            )
        return response

    # ---- notifications ----------------------------------------------------------------------

    def _notify(
        self,
        request: web.Request,
        *,
        bucket: str,
        key: str,
        size: int,
        etag: str,
        event_name: str,
        credential: str,
    ) -> None:
        invoker = self.invoker
        if invoker is None:
            return
        access_key = credential.split("/", 1)[0] or "anonymous"
        for subscription in self.subscriptions.get(bucket, []):
            if not subscription.wants(event_name, key):
                continue
            event = object_created_event(
                subscription,
                event_name=event_name,
                bucket=bucket,
                key=key,
                size=size,
                etag=etag,
                region=self.stack.region,
                principal=f"AWS:{access_key}",
                source_ip=request.remote or "127.0.0.1",
                owner=f"A{self.stack.account_id}",
            )
            self.log.info(SOURCE, f"{event_name} {bucket}/{key} -> {subscription.function}")
            asyncio.get_running_loop().create_task(self._invoke(invoker, subscription, event))

    async def _invoke(self, invoker: _Invoker, subscription: Subscription, event: Any) -> None:
        # S3 invokes asynchronously: Lambda's own retries apply (runtime.invoke_async).
        try:
            await invoker.invoke_async(subscription.function, event)
        except Exception as exc:  # an unknown function: the template is wrong, say so
            self.log.error(SOURCE, f"cannot invoke {subscription.function}: {exc}")


def _quote_key(key: str) -> str:
    return quote(key, safe="/~")


def _is_plain(request: web.Request) -> bool:
    """A PutObject or CopyObject, not a sub-resource PUT (?tagging, ?acl, ?partNumber...)."""
    return all(name == "x-id" for name in request.query)


def _credential_of(request: web.Request) -> str:
    auth = request.headers.get("Authorization", "")
    marker = "Credential="
    if marker in auth:
        return auth.split(marker, 1)[1].split(",", 1)[0]
    return request.query.get("X-Amz-Credential", "")


def _request_id() -> str:
    return uuid.uuid4().hex[:16].upper()
