"""What the template loader hands to the rest of the local stack.

``template.load_stack(path, parameter_overrides)`` turns a SAM template into a :class:`Stack`:
every intrinsic (``Ref``, ``GetAtt``, ``Sub``, ``If``/conditions, ``Join``, ``Select``, ``Split``,
``FindInMap``) is resolved to local values, ``Globals`` are merged into each function, and each
resource gets a physical id the way CloudFormation would give one. Everything below is plain data:
no I/O, no boto3, so each consumer (runtime, event sources, gateway, provisioner) is testable alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ACCOUNT_ID",
    "REGION",
    "AuthorizerSpec",
    "EventSourceSpec",
    "CorsSpec",
    "FunctionSpec",
    "HttpApiSpec",
    "HttpAuthorizerSpec",
    "HttpRouteSpec",
    "Resource",
    "RouteSpec",
    "Stack",
    "TemplateError",
    "ThrottleSpec",
    "WebSocketApiSpec",
]

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"


class TemplateError(Exception):
    """A template the local stack cannot run; the message names the resource and the property."""

    def __init__(self, resource: str, prop: str, problem: str) -> None:
        self.resource = resource
        self.prop = prop
        self.problem = problem
        super().__init__(f"{resource}.{prop}: {problem}")


@dataclass
class Resource:
    """One template resource after intrinsic resolution."""

    logical_id: str
    type: str  # e.g. "AWS::DynamoDB::Table", "AWS::Serverless::Function"
    properties: dict[str, Any]  # resolved: no intrinsic functions left
    physical_id: str  # what !Ref returns (table name, queue URL, topic ARN, api id, ...)
    attributes: dict[str, str] = field(default_factory=dict)  # what !GetAtt X.<name> returns


@dataclass
class EventSourceSpec:
    """One entry of a function's ``Events`` (DynamoDB, SNS or SQS), properties resolved."""

    name: str  # the key under Events
    type: str  # "DynamoDB" | "SNS" | "SQS" (other types are refused at load time)
    properties: dict[str, Any]  # Stream/Topic/Queue ARNs resolved, BatchSize, FilterCriteria, ...


@dataclass
class FunctionSpec:
    """An ``AWS::Serverless::Function`` with Globals merged in."""

    logical_id: str
    name: str  # FunctionName, or "<stack>-<LogicalId>-<suffix>" like CloudFormation
    arn: str  # arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}
    code_dir: Path  # absolute CodeUri
    handler: str  # "app.handler"
    runtime: str  # "python3.13"; the local stack runs it on the interpreter it has
    timeout: float  # seconds (default 3, as Lambda)
    memory_mb: int  # default 128
    environment: dict[str, str]  # resolved Environment.Variables
    layer_dirs: list[Path]  # absolute; a layer's "<dir>/python" is what goes on sys.path
    reserved_concurrency: int | None
    events: list[EventSourceSpec]
    architectures: list[str] = field(default_factory=lambda: ["x86_64"])


@dataclass
class AuthorizerSpec:
    """An ``AWS::ApiGatewayV2::Authorizer`` of type REQUEST."""

    logical_id: str
    name: str
    function: str  # logical id of the FunctionSpec it invokes
    identity_sources: list[str]  # e.g. ["route.request.querystring.token"]


@dataclass
class RouteSpec:
    """An ``AWS::ApiGatewayV2::Route`` with its integration followed to a function."""

    route_key: str  # "$connect", "$disconnect", "$default", "send", ...
    function: str | None  # logical id of the integration's function (AWS_PROXY), None if none
    authorizer: AuthorizerSpec | None  # only ever on $connect
    two_way: bool  # a RouteResponse exists for this route (RouteResponseSelectionExpression)


@dataclass
class WebSocketApiSpec:
    """An ``AWS::ApiGatewayV2::Api`` with ``ProtocolType: WEBSOCKET`` and all that hangs on it."""

    logical_id: str
    api_id: str  # 10 lowercase alphanumerics, like API Gateway's
    name: str
    route_selection_expression: str  # "$request.body.action"
    routes: dict[str, RouteSpec]  # by route key
    stage: str  # the stage name (first AWS::ApiGatewayV2::Stage for this API)
    throttling_burst: int | None  # stage DefaultRouteSettings.ThrottlingBurstLimit
    throttling_rate: float | None  # stage DefaultRouteSettings.ThrottlingRateLimit


@dataclass(frozen=True)
class ThrottleSpec:
    """Throttling of HTTP API routes (``DefaultRouteSettings`` or a ``RouteSettings`` entry).

    A settings object without limits means limits of 0 on AWS (everything answers 429), so a
    missing value here is 0, never "unlimited"; no settings object at all is ``None`` elsewhere.
    """

    burst: int
    rate: float


@dataclass(frozen=True)
class CorsSpec:
    """An HTTP API's ``CorsConfiguration``; header names lowercase, methods uppercase."""

    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False


@dataclass
class HttpAuthorizerSpec:
    """An HTTP API authorizer: native ``JWT``, or a Lambda ``REQUEST`` authorizer."""

    name: str  # the Authorizer resource's logical id, or the key under SAM's Auth.Authorizers
    type: str  # "JWT" | "REQUEST"
    identity_sources: list[str]  # e.g. ["$request.header.Authorization"]
    issuer: str | None = None  # JWT: JwtConfiguration.Issuer
    audience: list[str] = field(default_factory=list)  # JWT: JwtConfiguration.Audience
    function: str | None = None  # REQUEST: logical id of the function it invokes
    payload_version: str = "2.0"  # REQUEST: AuthorizerPayloadFormatVersion
    simple_responses: bool = False  # REQUEST: EnableSimpleResponses
    ttl_seconds: int = 0  # REQUEST: AuthorizerResultTtlInSeconds (0: no caching)


@dataclass
class HttpRouteSpec:
    """One route of an HTTP API, its Lambda proxy integration followed to a function."""

    route_key: str  # "GET /items/{id}", "ANY /{proxy+}", "$default"
    function: str | None  # logical id of the AWS_PROXY integration's function
    authorizer: HttpAuthorizerSpec | None = None
    scopes: list[str] = field(default_factory=list)  # AuthorizationScopes (JWT routes)
    timeout_ms: int = 30000  # the integration's TimeoutInMillis (API Gateway's maximum: 30 s)


@dataclass
class HttpApiSpec:
    """An HTTP API (``AWS::Serverless::HttpApi``, the implicit SAM one, or an
    ``AWS::ApiGatewayV2::Api`` with ``ProtocolType: HTTP``), payload format 2.0."""

    logical_id: str
    api_id: str
    name: str
    routes: list[HttpRouteSpec]
    stage: str | None  # "$default" (no path prefix) or a name; None: no stage, nothing served
    stage_variables: dict[str, str] = field(default_factory=dict)
    cors: CorsSpec | None = None
    default_throttle: ThrottleSpec | None = None  # from DefaultRouteSettings
    route_throttles: dict[str, ThrottleSpec] = field(default_factory=dict)  # RouteSettings


@dataclass
class Stack:
    """A loaded template, ready to run."""

    name: str  # stack name (default "local")
    template_path: Path
    region: str
    account_id: str
    parameters: dict[str, str]  # effective values: defaults with overrides applied
    resources: dict[str, Resource]  # every resource (functions and APIs included), by logical id
    functions: dict[str, FunctionSpec]  # by logical id
    websocket_apis: list[WebSocketApiSpec]
    outputs: dict[str, str]  # resolved Outputs values
    no_echo: frozenset[str] = frozenset()  # parameters declared NoEcho: never print their values
    http_apis: list[HttpApiSpec] = field(default_factory=list)

    def function_by_arn(self, arn: str) -> FunctionSpec | None:
        """The function an ARN (or an ``.../functions/<arn>/invocations`` URI) points at."""
        for fn in self.functions.values():
            if fn.arn == arn or f"functions/{fn.arn}/invocations" in arn:
                return fn
        return None
