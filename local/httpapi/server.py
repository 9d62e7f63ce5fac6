"""The aiohttp adapter: one HTTP API stage on its own port, feeding the pure core.

For each request, in API Gateway's order: the 10 MB payload limit (413), CORS preflight
answered by the gateway, route selection (404), route throttling (429), the authorizer (JWT:
401 / 403; Lambda: 401 / 403 / 500), then the Lambda proxy integration with its timeout (503
past ``TimeoutInMillis``, 30 s at most; the invocation itself runs on, as on AWS) and the
response rules (500 for an error or an unusable answer). CORS headers go on every answer when
the API has a ``CorsConfiguration``. Every answer carries ``apigw-requestid``.

The ``/_local/`` paths (local OIDC issuer, token minting) are answered before any of that.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web
from multidict import CIMultiDict

from local.httpapi import events
from local.httpapi.cors import apply_cors, is_preflight, preflight_reply
from local.httpapi.events import ApiInfo, HttpRequest, new_id
from local.httpapi.issuer import ISSUER_PATH, LocalIssuer
from local.httpapi.jwks import JwksCache
from local.httpapi.jwt_authorizer import bearer_token, check_jwt, token_kid
from local.httpapi.lambda_authorizer import AuthorizerCache, identity_values, lambda_verdict
from local.httpapi.local_paths import LOCAL_PREFIX, TokenMinter, answer_local
from local.httpapi.responses import HttpReply, InvokeResultLike, error_reply, integration_reply
from local.httpapi.routing import RouteMatch, Router
from local.httpapi.throttling import RouteThrottles
from local.logs import Log
from local.model import HttpApiSpec, HttpAuthorizerSpec

__all__ = ["MAX_PAYLOAD_BYTES", "HttpApiOptions", "HttpApiServer", "Invoker"]

# An HTTP API accepts request payloads up to 10 MB.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
# Past this much, stop reading a too-large body and close the connection.
_DRAIN_LIMIT = 4 * MAX_PAYLOAD_BYTES
_CHUNK = 64 * 1024

SOURCE = "httpapi"


class Invoker(Protocol):
    """What the HTTP API needs from the Lambda runtime."""

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Awaitable[InvokeResultLike]: ...


@dataclass
class HttpApiOptions:
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port
    region: str = "us-east-1"
    account_id: str = "123456789012"
    max_payload_bytes: int = MAX_PAYLOAD_BYTES


@dataclass
class _Failed:
    ok: bool
    payload: Any
    error: dict[str, Any] | None
    request_id: str = ""
    duration_ms: float = 0.0


class HttpApiServer:
    """API Gateway's HTTP API (payload format 2.0) for one API and stage."""

    def __init__(
        self,
        api: HttpApiSpec,
        invoker: Invoker,
        log: Log,
        options: HttpApiOptions | None = None,
        *,
        issuer: LocalIssuer | None = None,
        jwks: JwksCache | None = None,
        mint_token: TokenMinter | None = None,
    ) -> None:
        self.spec = api
        self.invoker = invoker
        self.log = log
        self.options = options or HttpApiOptions()
        self.issuer = issuer
        self.jwks = jwks or JwksCache(local=issuer, on_error=lambda m: log.warning(SOURCE, m))
        self.mint_token = mint_token
        self.stage = api.stage or "$default"
        self.info = ApiInfo(
            api_id=api.api_id,
            stage=self.stage,
            region=self.options.region,
            account_id=self.options.account_id,
            stage_variables=dict(api.stage_variables),
        )
        self.router = Router(api.routes)
        self.throttles = RouteThrottles(api.default_throttle, api.route_throttles)
        self.authorizer_cache = AuthorizerCache()
        self.port = 0
        self._sock: socket.socket | None = None
        self._runner: web.AppRunner | None = None
        self._background: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ start / stop

    @property
    def _url_host(self) -> str:
        host = self.options.host
        return "127.0.0.1" if host in ("", "0.0.0.0") else host

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:{port}``: the API's "domain", without the stage."""
        return f"http://{self._url_host}:{self.port}"

    @property
    def url(self) -> str:
        """Where the routes are: the base URL, plus ``/{stage}`` for a named stage."""
        return self.base_url + ("" if self.stage == "$default" else f"/{self.stage}")

    @property
    def issuer_url(self) -> str:
        return self.base_url + ISSUER_PATH

    def bind(self) -> int:
        """Reserve the listening socket now (its port may go into environments first)."""
        if self._sock is None:
            self._sock = socket.create_server((self.options.host, self.options.port))
            self._sock.setblocking(False)
            self.port = self._sock.getsockname()[1]
        return self.port

    async def start(self) -> None:
        self.bind()
        app = web.Application(client_max_size=self.options.max_payload_bytes + 1)
        app.router.add_route("*", "/{tail:.*}", self._guarded)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        assert self._sock is not None
        await web.SockSite(self._runner, self._sock).start()

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        if self._sock is not None:
            self._sock.close()  # harmless when the site closed it already
        self._sock = None
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    # ------------------------------------------------------------------ one request

    async def _read_body(self, request: web.Request) -> bytes | None:
        """The body, or None when it is over the payload limit (read and dropped)."""
        limit = self.options.max_payload_bytes
        length = request.content_length
        chunks: list[bytes] = []
        total = 0
        over = length is not None and length > limit
        while True:
            chunk = await request.content.read(_CHUNK)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                over = True
                chunks.clear()
                if total > _DRAIN_LIMIT:
                    break
            elif not over:
                chunks.append(chunk)
        return None if over else b"".join(chunks)

    async def _guarded(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._handle(request)
        except (asyncio.CancelledError, ConnectionError):
            raise  # the client went away: nothing to answer
        except Exception as exc:  # a bug of ours: API Gateway's 500, one log line, no traceback
            self.log.error(SOURCE, f"{request.method} {request.path}: {type(exc).__name__}: {exc}")
            return self._write(error_reply(500), new_id(), close=True)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        request_id = new_id()
        path, _, query = request.raw_path.partition("?")
        if path.startswith(LOCAL_PREFIX):
            reply = answer_local(
                path, query, issuer=self.issuer, issuer_url=self.issuer_url, mint=self.mint_token
            )
            return self._write(reply, request_id, close=False)
        body = await self._read_body(request)
        req = HttpRequest(
            method=request.method,
            path=path or "/",
            query=query,
            headers=tuple(
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers
            ),
            body=body or b"",
            source_ip=request.remote or "127.0.0.1",
            protocol=f"HTTP/{request.version.major}.{request.version.minor}",
            domain_name=request.host or f"{self._url_host}:{self.port}",
        )
        cors = self.spec.cors
        preflight = cors is not None and is_preflight(
            req.method, req.header("origin"), req.header("access-control-request-method")
        )
        if body is None:
            reply, route_key = error_reply(413), None
        elif cors is not None and preflight:
            # Answered by the gateway itself, whatever routes exist; nothing is invoked.
            reply, route_key = preflight_reply(cors, req.header("origin")), "CORS preflight"
        else:
            reply, route_key = await self._answer(req, request_id)
        if cors is not None and not preflight:
            reply = apply_cors(cors, req.header("origin"), reply)
        latency = (time.perf_counter() - started) * 1000
        self.log.access(
            "http",
            route_key or f"{req.method} {req.path} (no route)",
            reply.status,
            latency,
            None,
            request_id=request_id,
            source=SOURCE,
            method=req.method,
            path=req.path,
        )
        if reply.problem:
            self.log.warning(
                SOURCE, f"{route_key or req.path}: {reply.problem}", request_id=request_id
            )
        return self._write(reply, request_id, close=body is None)

    def _write(self, reply: HttpReply, request_id: str, *, close: bool) -> web.Response:
        headers: CIMultiDict[str] = CIMultiDict(reply.headers)
        headers["apigw-requestid"] = request_id
        response = web.Response(status=reply.status, body=reply.body, headers=headers)
        if close:
            response.force_close()
        return response

    def _route_path(self, path: str) -> str | None:
        """The path routes are matched against: without the stage prefix (None: not this stage)."""
        if self.stage == "$default":
            return path
        prefix = f"/{self.stage}"
        if path == prefix:
            return "/"
        if path.startswith(prefix + "/"):
            return path[len(prefix) :]
        return None

    async def _answer(self, req: HttpRequest, request_id: str) -> tuple[HttpReply, str | None]:
        """Route, throttle, authorize, invoke: the reply and the route key (None: no route)."""
        route_path = self._route_path(req.path)
        match = self.router.select(req.method, route_path) if route_path is not None else None
        if match is None or route_path is None:
            return error_reply(404), None
        route = match.route
        if not self.throttles.take(route.route_key):
            return error_reply(429), route.route_key
        authorizer_context: dict[str, Any] | None = None
        if route.authorizer is not None:
            denied, authorizer_context = await self._authorize(
                route.authorizer, req, match, route_path, request_id
            )
            if denied is not None:
                return denied, route.route_key
        if route.function is None:
            return error_reply(500, problem="the route has no integration"), route.route_key
        event = events.request_event(
            self.info,
            req,
            route_key=route.route_key,
            path_parameters=match.path_parameters,
            request_id=request_id,
            at_ms=time.time_ns() // 1_000_000,
            authorizer=authorizer_context,
        )
        task = asyncio.ensure_future(self._invoke(route.function, event))
        try:
            result = await asyncio.wait_for(asyncio.shield(task), route.timeout_ms / 1000)
        except TimeoutError:
            # The integration timed out; the function runs on to its own end, as on AWS.
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            problem = f"integration timed out after {route.timeout_ms} ms"
            return error_reply(503, problem=problem), route.route_key
        return integration_reply(result), route.route_key

    async def _authorize(
        self,
        authorizer: HttpAuthorizerSpec,
        req: HttpRequest,
        match: RouteMatch,
        route_path: str,
        request_id: str,
    ) -> tuple[HttpReply | None, dict[str, Any] | None]:
        """(a refusal, None) or (None, what goes into requestContext.authorizer)."""
        if authorizer.type == "JWT":
            return await self._authorize_jwt(authorizer, req, match)
        context = {
            "requestId": request_id,
            "stage": self.stage,
            "apiId": self.info.api_id,
            "routeKey": match.route_key,
            "httpMethod": req.method,
        }
        values, lacking = identity_values(
            authorizer.identity_sources,
            req,
            stage_variables=self.info.stage_variables,
            context=context,
        )
        if values is None:
            problem = f"identity source {lacking} is missing"
            return error_reply(401, problem=problem), None
        route_arn = events.route_arn(self.info, req, route_path)
        cached = self.authorizer_cache.get(authorizer.name, values)
        if cached is not None:
            ok, payload, error = cached.ok, cached.payload, cached.error
        else:
            event = events.authorizer_event(
                self.info,
                req,
                route_key=match.route_key,
                route_path=route_path,
                path_parameters=match.path_parameters,
                identity_source=values,
                request_id=request_id,
                at_ms=time.time_ns() // 1_000_000,
            )
            assert authorizer.function is not None
            result = await self._invoke(authorizer.function, event)
            ok, payload, error = result.ok, result.payload, result.error
            if ok:
                self.authorizer_cache.put(
                    authorizer.name,
                    values,
                    authorizer.ttl_seconds,
                    ok=ok,
                    payload=payload,
                    error=error,
                )
        verdict = lambda_verdict(
            ok, payload, error, simple=authorizer.simple_responses, route_arn=route_arn
        )
        if not verdict.ok:
            return error_reply(verdict.status, problem=verdict.reason), None
        return None, verdict.authorizer_context()

    async def _authorize_jwt(
        self, authorizer: HttpAuthorizerSpec, req: HttpRequest, match: RouteMatch
    ) -> tuple[HttpReply | None, dict[str, Any] | None]:
        values, _ = identity_values(
            authorizer.identity_sources[:1], req, stage_variables={}, context={}
        )
        token = bearer_token(values[0]) if values else None
        issuer = authorizer.issuer or ""
        keys = await self.jwks.keys(issuer, token_kid(token)) if token else {}
        verdict = check_jwt(
            token,
            keys=keys,
            issuer=issuer,
            audience=authorizer.audience,
            route_scopes=match.route.scopes,
            now=time.time(),
        )
        if not verdict.ok:
            extra = (
                [("www-authenticate", verdict.www_authenticate)] if verdict.www_authenticate else []
            )
            return error_reply(verdict.status, headers=extra, problem=verdict.reason), None
        return None, verdict.authorizer_context()

    async def _invoke(self, logical_id: str, event: dict[str, Any]) -> InvokeResultLike:
        try:
            return await self.invoker.invoke(logical_id, event)
        except Exception as exc:  # the runtime's own trouble: the integration failed, say why
            self.log.error(SOURCE, f"could not invoke {logical_id}: {type(exc).__name__}: {exc}")
            return _Failed(False, None, {"errorType": type(exc).__name__, "errorMessage": str(exc)})
