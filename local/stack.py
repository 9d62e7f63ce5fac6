"""The whole local stack, assembled: one object that starts and stops everything in order.

Start: load the template -> start (or attach to) AWS -> provision tables, topics, queues and SSM
parameters -> local CA + ``@connections`` on HTTP and HTTPS -> the HTTP APIs' ports -> point the
functions' execute-api endpoints at them -> Lambda runtime -> event sources -> HTTP APIs and the
WebSocket gateway (last: the first client finds everything ready). A template may have a WebSocket
API, HTTP APIs, or both. Stop runs the other way: every connection is closed with 1001 and its
``$disconnect`` runs while the runtime is still there.

``LocalStack`` is asynchronous. Tests that want plain sync code run it in a background thread
with :class:`local.testing.StackThread` and talk to it through :meth:`LocalStack.connect`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from local.aws import FAKE_ACCESS_KEY, FAKE_SECRET_KEY, EmbeddedAws
from local.devtokens import DevTokenSettings, dev_token_settings, mint_dev_token, mint_rs256_token
from local.gateway import Gateway, GatewayOptions
from local.httpapi import HttpApiOptions, HttpApiServer, JwksCache, LocalIssuer, TokenRequest
from local.logs import Log
from local.management import ManagementApi
from local.model import (
    REGION,
    HttpApiSpec,
    HttpAuthorizerSpec,
    Stack,
    TemplateError,
    WebSocketApiSpec,
)
from local.provision import provision
from local.runtime import Runtime
from local.s3.front import S3Front
from local.sources import EventSources, SourceOptions
from local.stats import Stats
from local.template import (
    api_endpoint_mapping,
    http_api_endpoint_mapping,
    load_local_config,
    load_stack,
    rewrite_endpoints,
)
from local.tls import TlsFiles, ensure_certificates

__all__ = ["LocalStack", "StackError"]

_STATE_DIR = ".local-stack"


class StackError(Exception):
    """The stack cannot start for a reason that is not the template's (ports, config, AWS)."""


def _choose_api(stack: Stack) -> WebSocketApiSpec | None:
    served_http = [api for api in stack.http_apis if api.stage is not None]
    if not stack.websocket_apis and not served_http:
        raise TemplateError(
            "Template",
            "Resources",
            "no WebSocket API (AWS::ApiGatewayV2::Api, ProtocolType WEBSOCKET) and no HTTP API "
            "(AWS::Serverless::HttpApi, Events of Type HttpApi, or ProtocolType HTTP): "
            "nothing to serve",
        )
    return stack.websocket_apis[0] if stack.websocket_apis else None


def _local_jwt_authorizer(
    apis: Sequence[HttpApiSpec], jwks: JwksCache
) -> HttpAuthorizerSpec | None:
    """The first JWT authorizer whose issuer the local OIDC issuer signs for."""
    for api in apis:
        for route in api.routes:
            auth = route.authorizer
            if auth is not None and auth.type == "JWT" and jwks.is_local(auth.issuer or ""):
                return auth
    return None


class LocalStack:
    """A SAM template with a WebSocket API and/or HTTP APIs, running on this machine."""

    def __init__(
        self,
        template: str | Path = "template.yaml",
        *,
        config: str | Path | None = None,
        parameter_overrides: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        management_port: int = 0,
        https_port: int = 0,
        http_port: int = 0,
        endpoint: str | None = None,
        real_aws: bool = False,
        region: str = REGION,
        idle_timeout: float = 600.0,
        max_duration: float = 7200.0,
        log_format: str = "text",
        log_level: str = "info",
        log_stream: TextIO | None = None,
        static_dir: str | Path | None = None,
        workers: int = 4,
        state_dir: str | Path | None = None,
        source_options: SourceOptions | None = None,
        prewarm: bool = False,
        aws_process: bool = False,
    ) -> None:
        self.template_path = Path(template).resolve()
        self.config_path = Path(config).resolve() if config else None
        self.parameter_overrides = dict(parameter_overrides or {})
        self.host = host
        self.port = port
        self.management_port = management_port
        self.https_port = https_port
        self.http_port = http_port
        self.endpoint = endpoint
        self.real_aws = real_aws
        self.region = region
        self.idle_timeout = idle_timeout
        self.max_duration = max_duration
        self.static_dir = Path(static_dir).resolve() if static_dir else None
        self.workers = workers
        self.source_options = source_options
        # Start one worker per function before accepting connections, so a handler that cannot
        # be imported stops the stack at start-up instead of failing the first message.
        self.prewarm = prewarm
        # The embedded moto in a child process: more throughput under load on a multi-core
        # machine; in-process by default, which starts faster and leaves nothing behind.
        self.aws_process = aws_process
        self.log = Log(log_stream, fmt=log_format, level=log_level)
        # The live view (/_local/): counters fed by the runtime and the log.
        self.stats = Stats()
        self.log.add_listener(self.stats.observe)
        self._stats_task: asyncio.Task[None] | None = None
        self.state_dir = Path(state_dir) if state_dir else None

        self.stack: Stack | None = None
        self.api: WebSocketApiSpec | None = None
        self.aws: EmbeddedAws | None = None
        self.tls: TlsFiles | None = None
        self.gateway: Gateway | None = None
        self.management: ManagementApi | None = None
        self.runtime: Runtime | None = None
        self.sources: EventSources | None = None
        self.s3: S3Front | None = None
        self.http_apis: list[HttpApiServer] = []
        self.issuer: LocalIssuer | None = None
        self._local_jwt: HttpAuthorizerSpec | None = None
        self._local_issuers: list[str] = []
        self._dev_settings: DevTokenSettings | None = None
        self._ssm: dict[str, str] = {}
        self._started = False

    def _default_state_dir(self) -> Path:
        # Next to the template (gitignored); a temporary directory when that is not writable.
        preferred = self.template_path.parent / _STATE_DIR
        try:
            preferred.mkdir(exist_ok=True)
            if os.access(preferred, os.W_OK):
                return preferred
        except OSError:
            pass
        return Path(tempfile.gettempdir()) / f"local-stack-{os.getuid()}"

    # ------------------------------------------------------------------ URLs and tokens

    def _need(self, value: Any, what: str) -> Any:
        if value is None:
            if self._started and self.api is None:
                raise RuntimeError(f"{what}: this template has no WebSocket API (HTTP APIs only)")
            raise RuntimeError(f"{what} is only known once the stack has started")
        return value

    @property
    def ws_url(self) -> str:
        return str(self._need(self.gateway, "ws_url").ws_url)

    @property
    def page_url(self) -> str:
        return str(self._need(self.gateway, "page_url").page_url)

    @property
    def management_url(self) -> str:
        """``http://127.0.0.1:{port}/{stage}``: boto3's ``endpoint_url`` for @connections."""
        return str(self._need(self.management, "management_url").url)

    @property
    def management_https_url(self) -> str:
        return str(self._need(self.management, "management_https_url").https_url)

    @property
    def http_url(self) -> str:
        """The first HTTP API's URL (``http://127.0.0.1:{port}``, plus ``/{stage}`` if named)."""
        if not self.http_apis:
            raise RuntimeError("this stack serves no HTTP API")
        return self.http_apis[0].url

    @property
    def issuer_url(self) -> str:
        """The local OIDC issuer (``{HTTP API}/_local/oidc``)."""
        if not self.http_apis:
            raise RuntimeError("the local issuer is served on the HTTP API's port: none here")
        return self.http_apis[0].issuer_url

    @property
    def aws_endpoint(self) -> str | None:
        return self._need(self.aws, "aws_endpoint").endpoint_url

    @property
    def s3_url(self) -> str:
        """The local S3 (pre-signed URLs point here); boto3's ``endpoint_url`` for S3."""
        return str(self._need(self.s3, "s3_url").url)

    @property
    def ca_bundle(self) -> Path:
        return Path(self._need(self.tls, "ca_bundle").ca_cert)

    @property
    def dev_tokens(self) -> bool:
        return self._dev_settings is not None

    def dev_token(self, user: str, name: str | None = None, rooms: Sequence[str] = ()) -> str:
        """A token the stack's authorizer accepts, signed with the dev secret of ``local.yaml``."""
        settings = self._dev_settings
        if settings is None:
            raise StackError(
                "dev tokens are not configured: add a dev_token section (or the JWT secret under "
                "ssm) to local.yaml"
            )
        return mint_dev_token(settings, user=user, name=name, rooms=rooms)

    @property
    def local_tokens(self) -> bool:
        return self._local_jwt is not None or self._dev_settings is not None

    def local_token(
        self,
        user: str,
        name: str | None = None,
        rooms: Sequence[str] = (),
        *,
        scopes: Sequence[str] = (),
        client_id: str | None = None,
    ) -> str:
        """A token for the HTTP API's authorizers: RS256 from the local issuer when a JWT
        authorizer points at it, else the HS256 dev token (with ``scope``)."""
        auth, issuer = self._local_jwt, self.issuer
        if auth is not None and issuer is not None:
            ttl = self._dev_settings.ttl_seconds if self._dev_settings else 3600
            return mint_rs256_token(
                issuer.sign,
                issuer=auth.issuer or "",
                audience=auth.audience[0] if auth.audience else None,
                user=user,
                name=name,
                rooms=rooms,
                scopes=scopes,
                client_id=client_id,
                ttl_seconds=ttl,
            )
        settings = self._dev_settings
        if settings is None:
            raise StackError(
                "local tokens are not configured: no JWT authorizer on the local issuer and no "
                "dev_token secret in local.yaml"
            )
        return mint_dev_token(settings, user=user, name=name, rooms=rooms, scopes=scopes)

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> LocalStack:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise
        self._started = True

    async def _start(self) -> None:
        # moto's server logs every request through werkzeug; the stack log says what matters.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        overrides: dict[str, str] = {}
        if self.config_path is not None:
            config = load_local_config(self.config_path)
            overrides.update(config.parameters)
            self._ssm = dict(config.ssm)
            self._local_issuers = list(config.local_issuers)
            dev_token_section: dict[str, Any] | None = config.dev_token
        else:
            dev_token_section = None
        overrides.update(self.parameter_overrides)

        self.aws = EmbeddedAws(
            endpoint_url=self.endpoint,
            region=self.region,
            real=self.real_aws,
            own_process=self.aws_process,
        )
        await asyncio.to_thread(self.aws.start)
        sqs_endpoint = None if self.real_aws else self.aws.endpoint_url
        stack = load_stack(
            self.template_path,
            parameter_overrides=overrides,
            region=self.region,
            sqs_endpoint=sqs_endpoint,
        )
        api = _choose_api(stack)
        self.api = api
        for other in stack.websocket_apis[1:]:
            self.log.warning(
                "stack", f"not served (one WebSocket API per stack): {other.logical_id}"
            )
        self._dev_settings = dev_token_settings(dev_token_section, self._ssm, stack.parameters)

        aws = self.aws
        services = ("dynamodb", "sns", "sqs", "ssm", "secretsmanager", "s3")
        clients = {s: aws.client(s) for s in services}
        result = await asyncio.to_thread(
            provision, stack, clients=clients, ssm_parameters=self._ssm
        )
        for item in result.not_emulated:
            self.log.info("stack", f"not emulated (ignored): {item}")

        state_dir = self.state_dir or self._default_state_dir()
        self.tls = await asyncio.to_thread(ensure_certificates, state_dir / "tls")
        mapping: dict[str, str] = {}
        await self._bind_http_apis(stack, state_dir)
        for server in self.http_apis:
            mapping.update(http_api_endpoint_mapping(stack, server.spec, base=server.base_url))
        gateway = None
        if api is not None:
            gateway = self._gateway(stack, api, result.real_arns)
            gateway.bind()  # the port is known now: it goes into the functions' environment
            self.management = ManagementApi(
                gateway,
                self.log,
                host=self.host,
                http_port=self.management_port,
                https_port=self.https_port,
                ssl_context=self.tls.server_context(),
            )
            await self.management.start()
            https_base = f"https://127.0.0.1:{self.management.ports.https_port}"
            # Handlers build https://{domainName}/{stage}: domainName must lead to @connections.
            gateway.set_domain_name(f"127.0.0.1:{self.management.ports.https_port}")
            mapping.update(
                api_endpoint_mapping(
                    stack, api, https_base=https_base, wss_base=f"ws://127.0.0.1:{gateway.port}"
                )
            )
        stack = rewrite_endpoints(stack, mapping)
        self.stack = stack

        base_env = {**aws.environment(), "AWS_CA_BUNDLE": str(self.tls.bundle)}
        if not self.real_aws and aws.endpoint_url:
            # S3 behind a front that checks pre-signed requests as S3 does; the functions'
            # pre-signed URLs point at it, so browsers upload there (local/s3).
            secrets = {FAKE_ACCESS_KEY: FAKE_SECRET_KEY}
            self.s3 = S3Front(
                stack, upstream=aws.endpoint_url, log=self.log, secrets=secrets, host=self.host
            )
            await self.s3.start()
            base_env["AWS_ENDPOINT_URL_S3"] = self.s3.url
        self.runtime = Runtime(
            stack,
            base_env=base_env,
            log=self.log,
            max_workers=self.workers,
            prewarm=self.prewarm,
            stats=self.stats,
        )
        await self.runtime.start()
        if self.s3 is not None:
            self.s3.invoker = self.runtime

        self.sources = EventSources(stack, self.runtime, aws, self.log, options=self.source_options)
        await self.sources.start()

        for server in self.http_apis:
            server.invoker = self.runtime
            await server.start()
        where = [f"HTTP API {server.url}" for server in self.http_apis]
        if gateway is not None:
            gateway.invoker = self.runtime
            await gateway.start()
            where = [self.ws_url, f"@connections {self.management_url}", *where]
            where.append(f"page {self.page_url}")
        if self.s3 is not None:
            where.append(f"s3 {self.s3.url}")
        self._watch(stack, gateway, clients["sqs"])
        self.log.info("stack", "ready: " + " | ".join(where))

    def _gateway(
        self, stack: Stack, api: WebSocketApiSpec, real_arns: Mapping[str, str]
    ) -> Gateway:
        assert self.aws is not None
        gateway = Gateway(
            api,
            _LateInvoker(),
            self.log,
            GatewayOptions(
                host=self.host,
                port=self.port,
                region=stack.region,
                account_id=stack.account_id,
                idle_timeout=self.idle_timeout,
                max_duration=self.max_duration,
                static_dir=self.static_dir,
                mint_token=self._minter(),
                stats=self.stats.snapshot,
                # /_local/config: lets tools (`chat notify`) find this stack's AWS and outputs.
                page_config={
                    "awsEndpoint": None if self.real_aws else self.aws.endpoint_url,
                    "region": stack.region,
                    # What the page checks before an upload starts (template parameters).
                    "attachments": _attachment_limits(stack.parameters),
                    "outputs": {
                        key: real_arns.get(value, value) for key, value in stack.outputs.items()
                    },
                    "httpUrl": self.http_apis[0].url if self.http_apis else None,
                },
            ),
        )
        self.gateway = gateway
        return gateway

    async def _bind_http_apis(self, stack: Stack, state_dir: Path) -> None:
        """One server per HTTP API (the first on ``http_port``), ports reserved, not serving."""
        served = [api for api in stack.http_apis if api.stage is not None]
        for api in stack.http_apis:
            if api.stage is None:
                self.log.warning(
                    "stack", f"not served (no AWS::ApiGatewayV2::Stage): HTTP API {api.logical_id}"
                )
        if not served:
            return
        self.issuer = await asyncio.to_thread(LocalIssuer.load_or_create, state_dir / "oidc")
        jwks = JwksCache(
            local=self.issuer,
            stand_in_for=self._local_issuers,
            on_error=lambda message: self.log.warning("httpapi", message),
        )
        self._local_jwt = _local_jwt_authorizer(served, jwks)
        minter = self._http_minter() if self.local_tokens else None
        for i, api in enumerate(served):
            server = HttpApiServer(
                api,
                _LateInvoker(),
                self.log,
                HttpApiOptions(
                    host=self.host,
                    port=self.http_port if i == 0 else 0,
                    region=stack.region,
                    account_id=stack.account_id,
                ),
                issuer=self.issuer,
                jwks=jwks,
                mint_token=minter,
            )
            server.bind()
            self.http_apis.append(server)

    def _http_minter(self) -> Any:
        def mint(request: TokenRequest) -> str:
            return self.local_token(
                request.user,
                request.name,
                request.rooms,
                scopes=request.scopes,
                client_id=request.client_id,
            )

        return mint

    async def stop(self) -> None:
        """Close connections (1001, ``$disconnect`` each), then sources, runtime, servers, AWS."""
        task, self._stats_task = self._stats_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        gateway, self.gateway = self.gateway, None
        if gateway is not None:
            with contextlib.suppress(Exception):
                await gateway.stop()
        http_apis, self.http_apis = self.http_apis, []
        for server in http_apis:
            with contextlib.suppress(Exception):
                await server.stop()
        management, self.management = self.management, None
        if management is not None:
            await management.stop()
        sources, self.sources = self.sources, None
        if sources is not None:
            await sources.stop()
        s3, self.s3 = self.s3, None
        if s3 is not None:
            await s3.stop()
        runtime, self.runtime = self.runtime, None
        if runtime is not None:
            await runtime.stop()
        aws, self.aws = self.aws, None
        if aws is not None:
            await asyncio.to_thread(aws.stop)
        self._started = False

    def _watch(self, stack: Stack, gateway: Gateway | None, sqs: Any) -> None:
        """The live view's gauges: open connections and every queue's depth."""
        if gateway is not None:
            self.stats.add_gauge("connections", lambda: len(gateway.connections))
        for lid, resource in stack.resources.items():
            if resource.type == "AWS::SQS::Queue":
                url = resource.physical_id

                def depth(url: str = url) -> float:
                    attrs = sqs.get_queue_attributes(
                        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
                    )["Attributes"]
                    return float(attrs["ApproximateNumberOfMessages"])

                self.stats.add_gauge(f"queue:{lid}", depth, blocking=True)
        self._stats_task = asyncio.create_task(self.stats.run())

    def _minter(self) -> Any:
        if self._dev_settings is None:
            return None

        def mint(user: str, name: str | None, rooms: Sequence[str], scopes: Sequence[str]) -> str:
            if not scopes:
                return self.dev_token(user, name, rooms)
            settings = self._dev_settings
            assert settings is not None  # no minter without them
            return mint_dev_token(settings, user=user, name=name, rooms=rooms, scopes=scopes)

        return mint

    # ------------------------------------------------------------------ sync test client

    def connect(
        self,
        token: str | None = None,
        *,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> Any:
        """A synchronous WebSocket client: ``with stack.connect(token=t) as ws: ws.send_json(...)``.

        For code running outside the stack's event loop (a test, with the stack in
        :class:`local.testing.StackThread`).
        """
        from local.testing import TestSocket

        return TestSocket.open(
            self.ws_url, token=token, query=query, headers=headers, timeout=timeout
        )


def _attachment_limits(parameters: Mapping[str, str]) -> dict[str, Any] | None:
    if "MaxAttachmentBytes" not in parameters:
        return None
    types = [t.strip() for t in parameters.get("AttachmentTypes", "").split(",") if t.strip()]
    return {"maxBytes": int(float(parameters["MaxAttachmentBytes"])), "types": types}


class _LateInvoker:
    """Until the runtime is up nothing can be invoked; the gateway is not serving before then."""

    async def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        raise RuntimeError("the runtime has not started")
