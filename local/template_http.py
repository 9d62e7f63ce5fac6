"""The HTTP APIs of a loaded template, as :class:`~local.model.HttpApiSpec` (payload format 2.0).

Three ways a template declares one, all served alike:

* ``AWS::Serverless::HttpApi`` with functions' ``Events: {Type: HttpApi, Properties: {ApiId}}``
  (SAM's ``Auth.Authorizers``, ``CorsConfiguration``, ``DefaultRouteSettings``, ...);
* ``Events: Type: HttpApi`` without ``ApiId``: SAM's implicit ``ServerlessHttpApi``, shaped by
  ``Globals.HttpApi``;
* ``AWS::ApiGatewayV2::Api`` with ``ProtocolType: HTTP`` and its ``Route`` / ``Integration`` /
  ``Authorizer`` / ``Stage`` resources (or the quick-create ``Target``).

What API Gateway would run but the local stack cannot (OpenAPI bodies, ``AWS_IAM`` routes, HTTP
integrations, payload format 1.0) fails here with a :class:`~local.model.TemplateError` naming
the resource and the property, as the rest of the loader does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from local.intrinsics import scalar_str
from local.model import (
    CorsSpec,
    HttpApiSpec,
    HttpAuthorizerSpec,
    HttpRouteSpec,
    Resource,
    Stack,
    TemplateError,
    ThrottleSpec,
)

__all__ = ["IMPLICIT_API", "has_implicit_http_events", "http_apis", "parse_cors", "parse_throttle"]

IMPLICIT_API = "ServerlessHttpApi"  # SAM's logical id for the API of events without ApiId
SERVERLESS_HTTP_API = "AWS::Serverless::HttpApi"
DEFAULT_STAGE = "$default"
MAX_TIMEOUT_MS = 30000  # an HTTP API integration waits at most 30 s


def has_implicit_http_events(raw: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether some function has an ``HttpApi`` event without ``ApiId`` (template, unresolved)."""
    for resource in raw.values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in ((resource.get("Properties") or {}).get("Events") or {}).values():
            if isinstance(event, dict) and event.get("Type") == "HttpApi":
                if "ApiId" not in (event.get("Properties") or {}):
                    return True
    return False


def http_apis(stack: Stack, *, implicit_id: str | None) -> list[HttpApiSpec]:
    """Every HTTP API of ``stack``. Events without ``ApiId`` belong to ``implicit_id``: the
    physical id of SAM's ``ServerlessHttpApi``, which the loader adds to the resources (so
    ``Globals.HttpApi`` shapes it and templates can ``!Ref`` it, as with SAM)."""
    events = _http_events(stack)
    if None in events and implicit_id is not None:
        events.setdefault(implicit_id, []).extend(events.pop(None))
    apis: list[HttpApiSpec] = []
    serverless = {
        r.physical_id: r for r in stack.resources.values() if r.type == SERVERLESS_HTTP_API
    }
    for api_id, owned in events.items():
        if api_id is None or api_id not in serverless:
            fn, name, _ = owned[0]
            raise TemplateError(
                fn,
                f"Events.{name}.Properties.ApiId",
                f"{api_id!r} is not an AWS::Serverless::HttpApi of this template",
            )
    for resource in serverless.values():
        apis.append(
            _sam_api(stack, resource, resource.properties, events.get(resource.physical_id))
        )
    for resource in stack.resources.values():
        if resource.type == "AWS::ApiGatewayV2::Api":
            if resource.properties.get("ProtocolType") == "HTTP":
                apis.append(_v2_api(stack, resource))
    return apis


# --------------------------------------------------------------------------------------------------
# Shared parts
# --------------------------------------------------------------------------------------------------


def _fail(logical_id: str) -> Callable[[str, str], TemplateError]:
    def fail(prop: str, problem: str) -> TemplateError:
        return TemplateError(logical_id, prop, problem)

    return fail


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [scalar_str(v) for v in value]
    return [part.strip() for part in scalar_str(value).split(",") if part.strip()]


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _int(logical_id: str, prop: str, value: Any) -> int:
    try:
        return int(float(scalar_str(value)))
    except ValueError:
        raise TemplateError(logical_id, prop, f"{value!r} is not a number") from None


def parse_cors(logical_id: str, value: Any) -> CorsSpec | None:
    """``CorsConfiguration`` (SAM also takes ``true``: any origin) -> :class:`CorsSpec`."""
    if value is None or value is False or (isinstance(value, str) and value.lower() == "false"):
        return None
    if _truthy(value):
        return CorsSpec(allow_origins=("*",))
    if not isinstance(value, dict):
        raise TemplateError(logical_id, "CorsConfiguration", "must be a mapping or true")
    max_age = value.get("MaxAge")
    spec = CorsSpec(
        allow_origins=tuple(_strings(value.get("AllowOrigins"))),
        allow_methods=tuple(m.upper() for m in _strings(value.get("AllowMethods"))),
        allow_headers=tuple(h.lower() for h in _strings(value.get("AllowHeaders"))),
        expose_headers=tuple(h.lower() for h in _strings(value.get("ExposeHeaders"))),
        max_age=None if max_age is None else _int(logical_id, "CorsConfiguration.MaxAge", max_age),
        allow_credentials=_truthy(value.get("AllowCredentials")),
    )
    if spec.allow_credentials and "*" in spec.allow_origins:
        # API Gateway refuses this combination when the API is created.
        raise TemplateError(
            logical_id,
            "CorsConfiguration.AllowCredentials",
            "cannot be true with AllowOrigins '*'; list the origins",
        )
    return spec


def parse_throttle(logical_id: str, prop: str, settings: Any) -> ThrottleSpec | None:
    """A route settings object -> limits; a missing limit is 0, as API Gateway makes it."""
    if settings is None:
        return None
    if not isinstance(settings, dict):
        raise TemplateError(logical_id, prop, "must be a mapping")
    burst = settings.get("ThrottlingBurstLimit", 0)
    rate = settings.get("ThrottlingRateLimit", 0)
    try:
        return ThrottleSpec(burst=int(float(scalar_str(burst))), rate=float(scalar_str(rate)))
    except ValueError:
        raise TemplateError(
            logical_id, prop, f"throttling limits must be numbers, not {burst!r} / {rate!r}"
        ) from None


def _route_throttles(logical_id: str, prop: str, value: Any) -> dict[str, ThrottleSpec]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TemplateError(logical_id, prop, "must be a mapping of route key -> settings")
    result: dict[str, ThrottleSpec] = {}
    for key, settings in value.items():
        spec = parse_throttle(logical_id, f"{prop}.{key}", settings)
        if spec is not None:
            result[_normal_route_key(str(key))] = spec
    return result


def _normal_route_key(key: str) -> str:
    key = " ".join(key.split())
    if key == DEFAULT_STAGE:
        return key
    method, _, path = key.partition(" ")
    method = method.upper()
    if method in ("X-AMAZON-APIGATEWAY-ANY-METHOD", "*"):
        method = "ANY"
    return f"{method} {path}" if path else method


def _check_route_key(logical_id: str, prop: str, key: str) -> str:
    key = _normal_route_key(key)
    if key == DEFAULT_STAGE:
        return key
    method, _, path = key.partition(" ")
    if not path.startswith("/"):
        raise TemplateError(
            logical_id, prop, f"{key!r} is not a route key like 'GET /items/{{id}}' or '$default'"
        )
    greedy = [part for part in path.split("/") if part.endswith("+}")]
    if greedy and not path.endswith("+}"):
        raise TemplateError(logical_id, prop, f"{key!r}: a greedy variable must end the path")
    return key


def _function(stack: Stack, logical_id: str, prop: str, value: Any) -> str:
    text = scalar_str(value) if value is not None else ""
    for function in stack.functions.values():
        if text in (function.name, function.logical_id):
            return function.logical_id
    found = stack.function_by_arn(text)
    if found is None:
        raise TemplateError(
            logical_id,
            prop,
            f"{text or 'nothing'} is not a function of this template; only those can be invoked",
        )
    return found.logical_id


def _payload_version(logical_id: str, prop: str, value: Any) -> None:
    version = scalar_str(value) if value is not None else "2.0"
    if version in ("2", "2.0"):
        return
    raise TemplateError(
        logical_id, prop, f"payload format {version} is not emulated; use PayloadFormatVersion 2.0"
    )


def _timeout(logical_id: str, prop: str, value: Any) -> int:
    if value is None:
        return MAX_TIMEOUT_MS
    timeout = _int(logical_id, prop, value)
    if not 50 <= timeout <= MAX_TIMEOUT_MS:
        raise TemplateError(logical_id, prop, f"{timeout} is outside 50..{MAX_TIMEOUT_MS} ms")
    return timeout


# --------------------------------------------------------------------------------------------------
# SAM: AWS::Serverless::HttpApi, the implicit API, Events: Type: HttpApi
# --------------------------------------------------------------------------------------------------

_Owned = list[tuple[str, str, dict[str, Any]]]  # (function logical id, event name, properties)


def _http_events(stack: Stack) -> dict[str | None, _Owned]:
    """``Events`` of type HttpApi, grouped by the API id they name (None: the implicit API)."""
    grouped: dict[str | None, _Owned] = {}
    for resource in stack.resources.values():
        if resource.type != "AWS::Serverless::Function":
            continue
        for name, event in (resource.properties.get("Events") or {}).items():
            if not isinstance(event, dict) or event.get("Type") != "HttpApi":
                continue
            props = dict(event.get("Properties") or {})
            api_id = props.get("ApiId")
            key = None if api_id is None else scalar_str(api_id)
            grouped.setdefault(key, []).append((resource.logical_id, str(name), props))
    return grouped


def _sam_authorizers(api: Resource, auth: Mapping[str, Any], stack: Stack) -> dict[str, Any]:
    fail = _fail(api.logical_id)
    authorizers: dict[str, tuple[HttpAuthorizerSpec, list[str]]] = {}
    for name, config in (auth.get("Authorizers") or {}).items():
        prop = f"Auth.Authorizers.{name}"
        if not isinstance(config, dict):
            raise fail(prop, "must be a mapping")
        scopes = _strings(config.get("AuthorizationScopes"))
        if "JwtConfiguration" in config:
            jwt_config = config["JwtConfiguration"] or {}
            issuer = jwt_config.get("issuer", jwt_config.get("Issuer"))
            if not issuer:
                raise fail(f"{prop}.JwtConfiguration.issuer", "is required")
            audience = jwt_config.get("audience", jwt_config.get("Audience"))
            spec = HttpAuthorizerSpec(
                name=str(name),
                type="JWT",
                identity_sources=_strings(
                    config.get("IdentitySource", "$request.header.Authorization")
                ),
                issuer=scalar_str(issuer),
                audience=_strings(audience),
            )
        elif "FunctionArn" in config:
            _payload_version(
                api.logical_id,
                f"{prop}.AuthorizerPayloadFormatVersion",
                (config.get("AuthorizerPayloadFormatVersion")),
            )
            identity = config.get("Identity") or {}
            sources = [f"$request.header.{h}" for h in _strings(identity.get("Headers"))]
            sources += [f"$request.querystring.{q}" for q in _strings(identity.get("QueryStrings"))]
            sources += [f"$stageVariables.{v}" for v in _strings(identity.get("StageVariables"))]
            sources += [f"$context.{c}" for c in _strings(identity.get("Context"))]
            ttl = identity.get("ReauthorizeEvery", 300 if sources else 0)
            spec = HttpAuthorizerSpec(
                name=str(name),
                type="REQUEST",
                identity_sources=sources,
                function=_function(
                    stack, api.logical_id, f"{prop}.FunctionArn", config["FunctionArn"]
                ),
                simple_responses=_truthy(config.get("EnableSimpleResponses")),
                ttl_seconds=_int(api.logical_id, f"{prop}.Identity.ReauthorizeEvery", ttl),
            )
        else:
            raise fail(prop, "needs JwtConfiguration (JWT) or FunctionArn (Lambda authorizer)")
        authorizers[str(name)] = (spec, scopes)
    return authorizers


def _sam_api(
    stack: Stack, api: Resource, props: Mapping[str, Any], owned: _Owned | None
) -> HttpApiSpec:
    fail = _fail(api.logical_id)
    for unsupported in ("DefinitionBody", "DefinitionUri"):
        if unsupported in props:
            raise fail(
                unsupported, "OpenAPI definitions are not emulated; declare routes as Events"
            )
    auth = props.get("Auth") or {}
    if _truthy(auth.get("EnableIamAuthorizer")):
        raise fail("Auth.EnableIamAuthorizer", "AWS_IAM authorization is not emulated")
    authorizers = _sam_authorizers(api, auth, stack)
    default_name = auth.get("DefaultAuthorizer")
    if default_name is not None and str(default_name) not in authorizers:
        raise fail("Auth.DefaultAuthorizer", f"{default_name!r} is not under Auth.Authorizers")
    routes: list[HttpRouteSpec] = []
    route_throttles = _route_throttles(api.logical_id, "RouteSettings", props.get("RouteSettings"))
    seen: dict[str, str] = {}
    for function, name, event in owned or []:
        where = f"Events.{name}.Properties"
        efail = _fail(function)
        _payload_version(
            function, f"{where}.PayloadFormatVersion", event.get("PayloadFormatVersion")
        )
        path, method = event.get("Path"), event.get("Method")
        if path is None and method is None:
            key = DEFAULT_STAGE
        else:
            key = f"{scalar_str(method or 'ANY')} {scalar_str(path or '/')}"
        key = _check_route_key(function, f"{where}.Path", key)
        if key in seen:
            raise efail(f"{where}.Path", f"route {key!r} is already the route of {seen[key]}")
        seen[key] = f"{function}.Events.{name}"
        event_auth = event.get("Auth") or {}
        chosen = event_auth.get("Authorizer", default_name)
        authorizer: HttpAuthorizerSpec | None = None
        scopes: list[str] = []
        if chosen is not None and str(chosen) != "NONE":
            if str(chosen) == "AWS_IAM":
                raise efail(f"{where}.Auth.Authorizer", "AWS_IAM authorization is not emulated")
            if str(chosen) not in authorizers:
                raise efail(
                    f"{where}.Auth.Authorizer",
                    f"{chosen!r} is not an authorizer of {api.logical_id}",
                )
            authorizer, default_scopes = authorizers[str(chosen)]
            scopes = _strings(event_auth.get("AuthorizationScopes")) or list(default_scopes)
        routes.append(
            HttpRouteSpec(
                route_key=key,
                function=function,
                authorizer=authorizer,
                scopes=scopes if authorizer is not None and authorizer.type == "JWT" else [],
                timeout_ms=_timeout(
                    function, f"{where}.TimeoutInMillis", event.get("TimeoutInMillis")
                ),
            )
        )
        if event.get("RouteSettings") is not None:
            throttle = parse_throttle(function, f"{where}.RouteSettings", event["RouteSettings"])
            if throttle is not None:
                route_throttles[key] = throttle
    stage = scalar_str(props["StageName"]) if props.get("StageName") else DEFAULT_STAGE
    return HttpApiSpec(
        logical_id=api.logical_id,
        api_id=api.physical_id,
        name=scalar_str(props.get("Name", api.logical_id)),
        routes=routes,
        stage=stage,
        stage_variables={
            str(k): scalar_str(v) for k, v in (props.get("StageVariables") or {}).items()
        },
        cors=parse_cors(api.logical_id, props.get("CorsConfiguration")),
        default_throttle=parse_throttle(
            api.logical_id, "DefaultRouteSettings", props.get("DefaultRouteSettings")
        ),
        route_throttles=route_throttles,
    )


# --------------------------------------------------------------------------------------------------
# AWS::ApiGatewayV2::Api with ProtocolType HTTP
# --------------------------------------------------------------------------------------------------


def of_api(stack: Stack, type_: str, api_id: str) -> list[Resource]:
    """The resources of one type that belong to one API (WebSocket or HTTP)."""
    return [
        r
        for r in stack.resources.values()
        if r.type == type_ and scalar_str(r.properties.get("ApiId", "")) == api_id
    ]


def proxy_integration(stack: Stack, api_id: str, route: Resource) -> Resource | None:
    """The AWS_PROXY integration a route's ``Target`` names (None: the route has no target).

    Both API kinds emulate only Lambda proxy integrations; anything else is refused here, at
    start-up, naming the resource and property.
    """
    target = route.properties.get("Target")
    if target is None:
        return None
    integration_id = scalar_str(target).removeprefix("integrations/")
    matches = [
        r
        for r in of_api(stack, "AWS::ApiGatewayV2::Integration", api_id)
        if r.physical_id == integration_id
    ]
    if not matches:
        raise TemplateError(
            route.logical_id, "Target", f"{target!r} is not an integration of this API"
        )
    integration = matches[0]
    kind = scalar_str(integration.properties.get("IntegrationType", ""))
    if kind != "AWS_PROXY":
        raise TemplateError(
            integration.logical_id,
            "IntegrationType",
            f"{kind} is not emulated; only AWS_PROXY Lambda integrations are",
        )
    return integration


def _v2_authorizer(stack: Stack, api_id: str, route: Resource) -> HttpAuthorizerSpec | None:
    kind = scalar_str(route.properties.get("AuthorizationType", "NONE"))
    if kind == "NONE":
        return None
    if kind not in ("JWT", "CUSTOM"):
        raise TemplateError(
            route.logical_id,
            "AuthorizationType",
            f"{kind} is not emulated; use NONE, JWT or CUSTOM",
        )
    wanted = scalar_str(route.properties.get("AuthorizerId", ""))
    for resource in of_api(stack, "AWS::ApiGatewayV2::Authorizer", api_id):
        if resource.physical_id != wanted:
            continue
        props = resource.properties
        fail = _fail(resource.logical_id)
        type_ = scalar_str(props.get("AuthorizerType", ""))
        if (kind, type_) not in (("JWT", "JWT"), ("CUSTOM", "REQUEST")):
            raise fail("AuthorizerType", f"{type_} does not go with a {kind} route")
        sources = _strings(props.get("IdentitySource"))
        if type_ == "JWT":
            config = props.get("JwtConfiguration") or {}
            if not config.get("Issuer"):
                raise fail("JwtConfiguration.Issuer", "is required")
            return HttpAuthorizerSpec(
                name=resource.logical_id,
                type="JWT",
                identity_sources=sources or ["$request.header.Authorization"],
                issuer=scalar_str(config["Issuer"]),
                audience=_strings(config.get("Audience")),
            )
        _payload_version(
            resource.logical_id,
            "AuthorizerPayloadFormatVersion",
            props.get("AuthorizerPayloadFormatVersion"),
        )
        return HttpAuthorizerSpec(
            name=resource.logical_id,
            type="REQUEST",
            identity_sources=sources,
            function=_function(
                stack, resource.logical_id, "AuthorizerUri", props.get("AuthorizerUri")
            ),
            simple_responses=_truthy(props.get("EnableSimpleResponses")),
            ttl_seconds=_int(
                resource.logical_id,
                "AuthorizerResultTtlInSeconds",
                props.get("AuthorizerResultTtlInSeconds", 0),
            ),
        )
    raise TemplateError(
        route.logical_id, "AuthorizerId", f"{wanted!r} is not an authorizer of this API"
    )


def _v2_route(stack: Stack, api_id: str, route: Resource) -> HttpRouteSpec:
    key = _check_route_key(
        route.logical_id, "RouteKey", scalar_str(route.properties.get("RouteKey", ""))
    )
    function = None
    timeout_ms = MAX_TIMEOUT_MS
    integration = proxy_integration(stack, api_id, route)
    if integration is not None:
        props = integration.properties
        _payload_version(
            integration.logical_id, "PayloadFormatVersion", props.get("PayloadFormatVersion")
        )
        function = _function(
            stack, integration.logical_id, "IntegrationUri", props.get("IntegrationUri")
        )
        timeout_ms = _timeout(
            integration.logical_id, "TimeoutInMillis", props.get("TimeoutInMillis")
        )
    authorizer = _v2_authorizer(stack, api_id, route)
    scopes = _strings(route.properties.get("AuthorizationScopes"))
    return HttpRouteSpec(
        route_key=key,
        function=function,
        authorizer=authorizer,
        scopes=scopes if authorizer is not None and authorizer.type == "JWT" else [],
        timeout_ms=timeout_ms,
    )


def _v2_api(stack: Stack, api: Resource) -> HttpApiSpec:
    props = api.properties
    fail = _fail(api.logical_id)
    for unsupported in ("Body", "BodyS3Location"):
        if unsupported in props:
            raise fail(unsupported, "OpenAPI imports are not emulated; declare routes")
    api_id = api.physical_id
    routes: list[HttpRouteSpec] = []
    seen: dict[str, str] = {}
    if props.get("Target") is not None:
        # Quick create: one route (RouteKey, default $default) to the target, a $default stage.
        key = _check_route_key(
            api.logical_id, "RouteKey", scalar_str(props.get("RouteKey", "$default"))
        )
        function = _function(stack, api.logical_id, "Target", props["Target"])
        routes.append(HttpRouteSpec(route_key=key, function=function))
        seen[key] = api.logical_id
    for resource in of_api(stack, "AWS::ApiGatewayV2::Route", api_id):
        route = _v2_route(stack, api_id, resource)
        if route.route_key in seen:
            raise TemplateError(
                resource.logical_id, "RouteKey", f"{route.route_key!r} is declared twice"
            )
        seen[route.route_key] = resource.logical_id
        routes.append(route)
    stages = of_api(stack, "AWS::ApiGatewayV2::Stage", api_id)
    stage: str | None = None
    stage_variables: dict[str, str] = {}
    default_throttle = None
    route_throttles: dict[str, ThrottleSpec] = {}
    if stages:
        first = stages[0]
        stage = first.physical_id
        stage_variables = {
            str(k): scalar_str(v) for k, v in (first.properties.get("StageVariables") or {}).items()
        }
        default_throttle = parse_throttle(
            first.logical_id, "DefaultRouteSettings", first.properties.get("DefaultRouteSettings")
        )
        route_throttles = _route_throttles(
            first.logical_id, "RouteSettings", first.properties.get("RouteSettings")
        )
    elif props.get("Target") is not None:
        stage = DEFAULT_STAGE
    return HttpApiSpec(
        logical_id=api.logical_id,
        api_id=api_id,
        name=scalar_str(props.get("Name", api.logical_id)),
        routes=routes,
        stage=stage,
        stage_variables=stage_variables,
        cors=parse_cors(api.logical_id, props.get("CorsConfiguration")),
        default_throttle=default_throttle,
        route_throttles=route_throttles,
    )
