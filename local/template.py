"""Load a SAM template into a :class:`~local.model.Stack` the local stack can run.

Parameters (defaults, overrides, constraints), ``Rules``, ``Conditions``, ``Globals`` and every
intrinsic are resolved here, once, at start-up: a template the local stack cannot run fails with a
:class:`~local.model.TemplateError` naming the resource and the property, never at the first
message. Physical ids follow CloudFormation (see ``physical.py``). Queue URLs start with
``sqs_endpoint`` when given (the embedded AWS), else with AWS's own SQS host.

Also here: ``rewrite_endpoints`` (point handlers at the local API instead of AWS's) and
``load_local_config`` (the project's ``local.yaml``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.intrinsics import IntrinsicError, Resolver, load_yaml, scalar_str
from local.model import (
    ACCOUNT_ID,
    REGION,
    AuthorizerSpec,
    EventSourceSpec,
    FunctionSpec,
    HttpApiSpec,
    Resource,
    RouteSpec,
    Stack,
    TemplateError,
    WebSocketApiSpec,
)
from local.physical import Naming
from local.template_http import (
    IMPLICIT_API,
    has_implicit_http_events,
    http_apis,
    of_api,
    proxy_integration,
)

__all__ = [
    "LocalConfig",
    "LocalConfigError",
    "api_endpoint_mapping",
    "http_api_endpoint_mapping",
    "load_local_config",
    "load_stack",
    "rewrite_endpoints",
]

FUNCTION = "AWS::Serverless::Function"
# S3 events run through the local S3 (local/s3), HttpApi events through the HTTP API.
EVENT_TYPES = ("DynamoDB", "SNS", "SQS", "S3", "HttpApi")

# SAM Globals section -> the resource type it applies to.
_GLOBALS = {
    "Function": FUNCTION,
    "Api": "AWS::Serverless::Api",
    "HttpApi": "AWS::Serverless::HttpApi",
    "SimpleTable": "AWS::Serverless::SimpleTable",
    "LayerVersion": "AWS::Serverless::LayerVersion",
    "StateMachine": "AWS::Serverless::StateMachine",
}


def load_stack(
    template_path: str | Path,
    *,
    parameter_overrides: Mapping[str, Any] | None = None,
    stack_name: str = "local",
    region: str = REGION,
    account_id: str = ACCOUNT_ID,
    sqs_endpoint: str | None = None,
    check_code: bool = True,
) -> Stack:
    """Read and resolve a SAM template.

    ``check_code=False`` skips the checks that function and layer folders and handler files
    exist (for callers that only provision the template's tables, topics and queues).
    """
    path = Path(template_path).resolve()
    if not path.is_file():
        raise TemplateError("Template", str(path), "file not found")
    try:
        template = load_yaml(path)
    except Exception as error:  # yaml.YAMLError and friends: say which file
        raise TemplateError("Template", str(path), f"not valid YAML: {error}") from error
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise TemplateError("Template", "Resources", "the template has no Resources mapping")
    naming = Naming(stack_name, region, account_id, sqs_endpoint)
    return _Loader(path, template, naming, dict(parameter_overrides or {}), check_code).load()


# --------------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------------


def _parameter_values(
    declared: Mapping[str, Any], overrides: Mapping[str, Any]
) -> tuple[dict[str, Any], frozenset[str]]:
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        known = ", ".join(sorted(declared)) or "none"
        raise TemplateError(
            "Parameters", unknown[0], f"is not a parameter of this template (it has: {known})"
        )
    values: dict[str, Any] = {}
    no_echo: set[str] = set()
    for name, spec in declared.items():
        if not isinstance(spec, dict):
            raise TemplateError("Parameters", name, "must be a mapping with at least a Type")
        if name in overrides:
            raw = overrides[name]
        elif "Default" in spec:
            raw = spec["Default"]
        else:
            raise TemplateError(
                "Parameters", name, "has no Default; give a value with a parameter override"
            )
        values[name] = _parameter_value(name, spec, raw, from_override=name in overrides)
        if scalar_str(spec.get("NoEcho", False)) == "true":
            no_echo.add(name)
    return values, frozenset(no_echo)


def _parameter_value(name: str, spec: Mapping[str, Any], raw: Any, *, from_override: bool) -> Any:
    type_ = str(spec.get("Type", "String"))
    if type_.startswith("AWS::SSM::Parameter::Value") and not from_override:
        raise TemplateError(
            "Parameters",
            name,
            f"type {type_} is read from SSM at deploy time; give the value as an override",
        )
    text = ",".join(scalar_str(v) for v in raw) if isinstance(raw, list) else scalar_str(raw)

    def fail(problem: str) -> TemplateError:
        hint = spec.get("ConstraintDescription")
        return TemplateError("Parameters", name, f"{problem}{f' ({hint})' if hint else ''}")

    allowed = spec.get("AllowedValues")
    if allowed is not None and text not in [scalar_str(v) for v in allowed]:
        choices = ", ".join(scalar_str(v) for v in allowed)
        raise fail(f"value {text!r} is not one of the allowed values: {choices}")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and re.fullmatch(str(pattern), text) is None:
        raise fail(f"value {text!r} does not match the pattern {pattern}")
    if "MinLength" in spec and len(text) < int(spec["MinLength"]):
        raise fail(f"value is shorter than {spec['MinLength']} characters")
    if "MaxLength" in spec and len(text) > int(spec["MaxLength"]):
        raise fail(f"value is longer than {spec['MaxLength']} characters")
    if type_ == "Number":
        try:
            number = float(text)
        except ValueError:
            raise fail(f"value {text!r} is not a number") from None
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise fail(f"value {text} is below the minimum {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise fail(f"value {text} is above the maximum {spec['MaxValue']}")
    if type_ == "CommaDelimitedList" or type_.startswith("List<"):
        return [item.strip() for item in text.split(",")] if text else []
    return text


# --------------------------------------------------------------------------------------------------
# Globals
# --------------------------------------------------------------------------------------------------


def _is_intrinsic(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    key = next(iter(value))
    return key == "Ref" or key == "Condition" or str(key).startswith("Fn::")


def _merge_globals(global_value: Any, local_value: Any) -> Any:
    """SAM's rule: maps merge (the resource wins), lists add up (globals first), else local."""
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        if _is_intrinsic(global_value) or _is_intrinsic(local_value):
            return local_value
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = _merge_globals(global_value[key], value) if key in merged else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return [*global_value, *local_value]
    return local_value


def _apply_globals(template: Mapping[str, Any], resources: dict[str, dict[str, Any]]) -> None:
    globals_ = template.get("Globals") or {}
    if not isinstance(globals_, dict):
        raise TemplateError("Globals", "", "must be a mapping of sections (Function, Api, ...)")
    for section, values in globals_.items():
        if section not in _GLOBALS:
            known = ", ".join(_GLOBALS)
            raise TemplateError("Globals", section, f"unknown Globals section (SAM has: {known})")
        for resource in resources.values():
            if resource["Type"] == _GLOBALS[section]:
                resource["Properties"] = _merge_globals(values, resource.get("Properties") or {})


# --------------------------------------------------------------------------------------------------
# The loader
# --------------------------------------------------------------------------------------------------


class _Loader:
    def __init__(
        self,
        path: Path,
        template: dict[str, Any],
        naming: Naming,
        overrides: dict[str, Any],
        check_code: bool,
    ) -> None:
        self.path = path
        self.template = template
        self.naming = naming
        self.check_code = check_code
        self.parameters, self.no_echo = _parameter_values(
            template.get("Parameters") or {}, overrides
        )
        self.raw: dict[str, dict[str, Any]] = {}
        for logical_id, resource in template["Resources"].items():
            if not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
                raise TemplateError(logical_id, "Type", "every resource needs a Type")
            self.raw[logical_id] = {**resource, "Properties": resource.get("Properties") or {}}
        if IMPLICIT_API not in self.raw and has_implicit_http_events(self.raw):
            # SAM creates this API for events without ApiId; templates may !Ref / !GetAtt it.
            self.raw[IMPLICIT_API] = {"Type": "AWS::Serverless::HttpApi", "Properties": {}}
        self.raw.update(_published_aliases(self.raw))
        self.dropped: dict[str, str] = {}  # logical id -> the false condition that removed it
        self.physical: dict[str, str] = {}
        self.computing: list[str] = []
        self.resolver = Resolver(
            parameters=self.parameters,
            pseudo={
                "AWS::Region": naming.region,
                "AWS::AccountId": naming.account_id,
                "AWS::StackName": naming.stack,
                "AWS::StackId": naming.arn("cloudformation", f"stack/{naming.stack}/local"),
                "AWS::Partition": naming.partition,
                "AWS::URLSuffix": naming.url_suffix,
                "AWS::NotificationARNs": [],
            },
            mappings=template.get("Mappings") or {},
            conditions=template.get("Conditions") or {},
            is_resource=lambda name: name in self.raw,
            ref_resource=self.ref,
            get_att=self.get_att,
            region=naming.region,
        )

    # --- what intrinsics ask about resources ------------------------------------------------------

    def ref(self, logical_id: str) -> str:
        if logical_id in self.dropped:
            raise LookupError(
                f"{logical_id} is not created: its condition {self.dropped[logical_id]} is false"
            )
        if logical_id in self.physical:
            return self.physical[logical_id]
        if logical_id in self.computing:
            cycle = " -> ".join([*self.computing, logical_id])
            raise LookupError(f"resource names depend on each other: {cycle}")
        self.computing.append(logical_id)
        try:
            type_ = self.raw[logical_id]["Type"]
            physical = self.naming.physical_id(
                logical_id, type_, lambda key: self.property(logical_id, key)
            )
        finally:
            self.computing.pop()
        self.physical[logical_id] = physical
        return physical

    def attributes(self, logical_id: str) -> dict[str, str]:
        type_ = self.raw[logical_id]["Type"]
        return self.naming.attributes(
            logical_id, type_, self.ref(logical_id), lambda key: self.property(logical_id, key)
        )

    def get_att(self, logical_id: str, attribute: str) -> str:
        attributes = self.attributes(logical_id)
        if attribute not in attributes:
            type_ = self.raw[logical_id]["Type"]
            known = ", ".join(sorted(attributes)) or "none"
            raise LookupError(
                f"{logical_id} ({type_}) has no attribute {attribute!r} the local stack knows"
                f" (known: {known})"
            )
        return attributes[attribute]

    def property(self, logical_id: str, key: str) -> Any:
        raw = self.raw[logical_id]["Properties"].get(key)
        return None if raw is None else self.resolve(logical_id, raw, f"Properties.{key}")

    def resolve(self, logical_id: str, value: Any, path: str) -> Any:
        try:
            return self.resolver.resolve(value, path)
        except IntrinsicError as error:
            raise TemplateError(logical_id, error.path, error.problem) from None

    # --- the whole template -----------------------------------------------------------------------

    def load(self) -> Stack:
        self.check_rules()
        for logical_id, resource in self.raw.items():
            name = resource.get("Condition")
            if name is not None and not self.condition(logical_id, name):
                self.dropped[logical_id] = str(name)
        active = {k: v for k, v in self.raw.items() if k not in self.dropped}
        _apply_globals(self.template, active)
        resources = {
            logical_id: Resource(
                logical_id=logical_id,
                type=raw["Type"],
                properties=self.resolve(logical_id, raw["Properties"], "Properties"),
                physical_id=self.ref(logical_id),
                attributes=self.attributes(logical_id),
            )
            for logical_id, raw in active.items()
        }
        stack = Stack(
            name=self.naming.stack,
            template_path=self.path,
            region=self.naming.region,
            account_id=self.naming.account_id,
            parameters={
                k: ",".join(v) if isinstance(v, list) else v for k, v in self.parameters.items()
            },
            resources=resources,
            functions={},
            websocket_apis=[],
            outputs=self.outputs(),
            no_echo=self.no_echo,
        )
        layers = _layer_dirs(self.path.parent, resources, self.check_code)
        for built in resources.values():
            if built.type == FUNCTION:
                function = _function_spec(self.path.parent, built, layers, self.check_code)
                stack.functions[function.logical_id] = function
        _attach_standalone_events(stack)
        for built in resources.values():
            if built.type == "AWS::ApiGatewayV2::Api":
                if built.properties.get("ProtocolType") == "WEBSOCKET":
                    stack.websocket_apis.append(_websocket_api(stack, built))
        implicit = resources.get(IMPLICIT_API)
        stack.http_apis = http_apis(stack, implicit_id=implicit.physical_id if implicit else None)
        return stack

    def condition(self, where: str, name: Any) -> bool:
        try:
            return self.resolver.condition(name, "Condition")
        except IntrinsicError as error:
            raise TemplateError(where, error.path, error.problem) from None

    def check_rules(self) -> None:
        for name, rule in (self.template.get("Rules") or {}).items():
            where = f"Rules.{name}"
            try:
                if "RuleCondition" in rule and not self.resolver.evaluate_condition(
                    rule["RuleCondition"], "RuleCondition"
                ):
                    continue
                for i, assertion in enumerate(rule.get("Assertions") or []):
                    if not self.resolver.evaluate_condition(
                        assertion.get("Assert"), f"Assertions[{i}]"
                    ):
                        problem = assertion.get("AssertDescription") or "assertion is false"
                        raise TemplateError(where, f"Assertions[{i}]", str(problem))
            except IntrinsicError as error:
                raise TemplateError(where, error.path, error.problem) from None

    def outputs(self) -> dict[str, str]:
        outputs: dict[str, str] = {}
        for name, output in (self.template.get("Outputs") or {}).items():
            where = f"Outputs.{name}"
            if "Condition" in output and not self.condition(where, output["Condition"]):
                continue
            value = self.resolve(where, output.get("Value"), "Value")
            outputs[name] = ",".join(value) if isinstance(value, list) else scalar_str(value)
        return outputs


# --------------------------------------------------------------------------------------------------
# Functions and layers
# --------------------------------------------------------------------------------------------------


def _local_dir(base: Path, resource: Resource, key: str, check: bool) -> Path:
    uri = resource.properties.get(key)
    if not isinstance(uri, str) or uri.startswith("s3://"):
        raise TemplateError(
            resource.logical_id,
            key,
            f"is {uri!r}; the local stack needs a folder of this project (e.g. functions/chat/)",
        )
    folder = (base / uri).resolve()
    if check and not folder.is_dir():
        raise TemplateError(resource.logical_id, key, f"folder {folder} does not exist")
    return folder


def _layer_dirs(base: Path, resources: Mapping[str, Resource], check: bool) -> dict[str, Path]:
    """Layer version ARN -> its folder, for the layers of this template a function uses."""
    used = {
        str(arn)
        for resource in resources.values()
        if resource.type == FUNCTION
        for arn in resource.properties.get("Layers") or []
    }
    layers: dict[str, Path] = {}
    for resource in resources.values():
        if resource.physical_id not in used:
            continue
        if resource.type == "AWS::Serverless::LayerVersion":
            layers[resource.physical_id] = _local_dir(base, resource, "ContentUri", check)
        elif resource.type == "AWS::Lambda::LayerVersion":
            raise TemplateError(
                resource.logical_id,
                "Content",
                "is an S3 location; declare the layer as AWS::Serverless::LayerVersion with a"
                " ContentUri folder",
            )
    return layers


def _function_spec(
    base: Path, resource: Resource, layers: Mapping[str, Path], check: bool
) -> FunctionSpec:
    props = resource.properties
    fail = _failer(resource.logical_id)
    if props.get("PackageType", "Zip") != "Zip":
        raise fail("PackageType", "container images are not supported; use a Zip function")
    if "InlineCode" in props:
        raise fail("InlineCode", "inline code is not supported; put the code in a CodeUri folder")
    runtime = str(props.get("Runtime", ""))
    if not runtime.startswith("python"):
        raise fail("Runtime", f"{runtime or 'no runtime'}: only Python functions run locally")
    code_dir = _local_dir(base, resource, "CodeUri", check)
    handler = str(props.get("Handler", ""))
    module, _, attribute = handler.rpartition(".")
    if not module or not attribute:
        raise fail("Handler", f"{handler!r} is not of the form module.function")
    if check:
        stem = code_dir / module.replace(".", "/")
        if not stem.with_suffix(".py").is_file() and not (stem / "__init__.py").is_file():
            raise fail("Handler", f"{handler}: no {stem.with_suffix('.py')} in CodeUri")
    layer_dirs = []
    for arn in props.get("Layers") or []:
        if arn not in layers:
            raise fail("Layers", f"{arn} is not a layer of this template; only those can be loaded")
        layer_dirs.append(layers[arn])
    events = []
    for name, event in (props.get("Events") or {}).items():
        type_ = event.get("Type") if isinstance(event, dict) else None
        if type_ == "HttpApi":
            continue  # a route of an HTTP API: see local.template_http
        if type_ not in EVENT_TYPES:
            raise fail(
                f"Events.{name}.Type",
                f"{type_!r} is not emulated; the local stack runs HttpApi, {', '.join(EVENT_TYPES)}"
                " events",
            )
        events.append(EventSourceSpec(name, type_, dict(event.get("Properties") or {})))
    variables = (props.get("Environment") or {}).get("Variables") or {}
    reserved = props.get("ReservedConcurrentExecutions")
    return FunctionSpec(
        logical_id=resource.logical_id,
        name=resource.physical_id,
        arn=resource.attributes["Arn"],
        code_dir=code_dir,
        handler=handler,
        runtime=runtime,
        timeout=float(props.get("Timeout", 3)),
        memory_mb=int(props.get("MemorySize", 128)),
        environment={key: _env_value(value) for key, value in variables.items()},
        layer_dirs=layer_dirs,
        reserved_concurrency=None if reserved is None else int(reserved),
        events=events,
        architectures=[str(a) for a in props.get("Architectures") or ["x86_64"]],
    )


def _env_value(value: Any) -> str:
    return ",".join(map(scalar_str, value)) if isinstance(value, list) else scalar_str(value)


def _failer(logical_id: str) -> Any:
    def fail(prop: str, problem: str) -> TemplateError:
        return TemplateError(logical_id, prop, problem)

    return fail


def _function_named(stack: Stack, resource: Resource, prop: str, value: Any) -> FunctionSpec:
    """The function a name, an ARN or an invocation URI points at, or a TemplateError."""
    text = str(value)
    for function in stack.functions.values():
        if text in (function.name, function.logical_id) or stack.function_by_arn(text) is function:
            return function
    raise TemplateError(
        resource.logical_id, prop, f"{text} is not a function of this template; only those run"
    )


def _attach_standalone_events(stack: Stack) -> None:
    """Event sources declared as resources become events of their function, as SAM's would.

    ``AWS::Lambda::EventSourceMapping`` (DynamoDB stream or SQS queue), ``AWS::SNS::Subscription``
    and a topic's inline ``Subscription`` with protocol ``lambda``.
    """
    for resource in stack.resources.values():
        props = resource.properties
        if resource.type == "AWS::Lambda::EventSourceMapping":
            function = _function_named(stack, resource, "FunctionName", props.get("FunctionName"))
            source = str(props.get("EventSourceArn", ""))
            rest = {k: v for k, v in props.items() if k not in ("FunctionName", "EventSourceArn")}
            if source.startswith("arn:") and ":dynamodb:" in source and "/stream/" in source:
                event = EventSourceSpec(resource.logical_id, "DynamoDB", {"Stream": source, **rest})
            elif source.startswith("arn:") and ":sqs:" in source:
                event = EventSourceSpec(resource.logical_id, "SQS", {"Queue": source, **rest})
            else:
                raise TemplateError(
                    resource.logical_id,
                    "EventSourceArn",
                    f"{source or 'nothing'}: only DynamoDB streams and SQS queues are emulated",
                )
            function.events.append(event)
        elif resource.type == "AWS::SNS::Subscription" and props.get("Protocol") == "lambda":
            function = _function_named(stack, resource, "Endpoint", props.get("Endpoint"))
            sns = {"Topic": props.get("TopicArn")}
            sns.update({k: props[k] for k in ("FilterPolicy", "FilterPolicyScope") if k in props})
            function.events.append(EventSourceSpec(resource.logical_id, "SNS", sns))
        elif resource.type == "AWS::SNS::Topic":
            for i, inline in enumerate(props.get("Subscription") or []):
                if inline.get("Protocol") == "lambda":
                    prop = f"Subscription[{i}].Endpoint"
                    function = _function_named(stack, resource, prop, inline.get("Endpoint"))
                    name = f"{resource.logical_id}Subscription{i}"
                    topic = {"Topic": resource.physical_id}
                    function.events.append(EventSourceSpec(name, "SNS", topic))


# --------------------------------------------------------------------------------------------------
# WebSocket APIs
# --------------------------------------------------------------------------------------------------


def _function_at(stack: Stack, resource: Resource, prop: str) -> str:
    uri = str(resource.properties.get(prop, ""))
    function = stack.function_by_arn(uri)
    if function is None:
        raise TemplateError(
            resource.logical_id,
            prop,
            f"{uri or 'nothing'} is not a function of this template; only those can be invoked",
        )
    return function.logical_id


def _authorizer(stack: Stack, api_id: str, route: Resource) -> AuthorizerSpec | None:
    kind = route.properties.get("AuthorizationType", "NONE")
    if kind == "NONE":
        return None
    if kind != "CUSTOM":
        raise TemplateError(
            route.logical_id, "AuthorizationType", f"{kind} is not emulated; use NONE or CUSTOM"
        )
    wanted = route.properties.get("AuthorizerId")
    for resource in of_api(stack, "AWS::ApiGatewayV2::Authorizer", api_id):
        if resource.physical_id == wanted:
            if resource.properties.get("AuthorizerType") != "REQUEST":
                raise TemplateError(
                    resource.logical_id, "AuthorizerType", "only REQUEST authorizers are emulated"
                )
            return AuthorizerSpec(
                logical_id=resource.logical_id,
                name=str(resource.properties.get("Name", resource.logical_id)),
                function=_function_at(stack, resource, "AuthorizerUri"),
                identity_sources=[str(s) for s in resource.properties.get("IdentitySource") or []],
            )
    raise TemplateError(
        route.logical_id, "AuthorizerId", f"{wanted!r} is not an authorizer of this API"
    )


def _route(stack: Stack, api_id: str, route: Resource, two_way: set[str]) -> RouteSpec:
    function = None
    integration = proxy_integration(stack, api_id, route)
    if integration is not None:
        function = _function_at(stack, integration, "IntegrationUri")
    return RouteSpec(
        route_key=str(route.properties.get("RouteKey")),
        function=function,
        authorizer=_authorizer(stack, api_id, route),
        two_way=route.physical_id in two_way,
    )


def _number(resource: Resource, settings: Mapping[str, Any], key: str) -> float | None:
    value = settings.get(key)
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TemplateError(
            resource.logical_id, f"DefaultRouteSettings.{key}", f"{value!r} is not a number"
        ) from None


def _websocket_api(stack: Stack, api: Resource) -> WebSocketApiSpec:
    for unsupported in ("Body", "BodyS3Location"):
        if unsupported in api.properties:
            raise TemplateError(
                api.logical_id, unsupported, "OpenAPI imports are not emulated; declare routes"
            )
    expression = api.properties.get("RouteSelectionExpression")
    if not expression:
        raise TemplateError(api.logical_id, "RouteSelectionExpression", "is required")
    api_id = api.physical_id
    two_way = {
        str(r.properties.get("RouteId"))
        for r in of_api(stack, "AWS::ApiGatewayV2::RouteResponse", api_id)
    }
    routes: dict[str, RouteSpec] = {}
    for resource in of_api(stack, "AWS::ApiGatewayV2::Route", api_id):
        route = _route(stack, api_id, resource, two_way)
        if route.route_key in routes:
            raise TemplateError(
                resource.logical_id, "RouteKey", f"{route.route_key!r} is declared twice"
            )
        routes[route.route_key] = route
    stages = of_api(stack, "AWS::ApiGatewayV2::Stage", api_id)
    if not stages:
        raise TemplateError(
            api.logical_id, "Stage", "no AWS::ApiGatewayV2::Stage for this API: nothing to serve"
        )
    stage = stages[0]
    settings = stage.properties.get("DefaultRouteSettings") or {}
    burst = _number(stage, settings, "ThrottlingBurstLimit")
    return WebSocketApiSpec(
        logical_id=api.logical_id,
        api_id=api_id,
        name=str(api.properties.get("Name", api.logical_id)),
        route_selection_expression=str(expression),
        routes=routes,
        stage=stage.physical_id,
        throttling_burst=None if burst is None else int(burst),
        throttling_rate=_number(stage, settings, "ThrottlingRateLimit"),
    )


# --------------------------------------------------------------------------------------------------
# Local endpoints
# --------------------------------------------------------------------------------------------------


def api_endpoint_mapping(
    stack: Stack, api: WebSocketApiSpec, *, https_base: str, wss_base: str
) -> dict[str, str]:
    """AWS's endpoints of ``api`` -> the local ones (no trailing slash, no stage).

    E.g. ``https://{apiId}.execute-api.us-east-1.amazonaws.com`` -> ``https://127.0.0.1:8443``.
    """
    host = f"{api.api_id}.execute-api.{stack.region}.{Naming('', stack.region, '').url_suffix}"
    return {f"https://{host}": https_base.rstrip("/"), f"wss://{host}": wss_base.rstrip("/")}


def http_api_endpoint_mapping(stack: Stack, api: HttpApiSpec, *, base: str) -> dict[str, str]:
    """AWS's endpoint of an HTTP API -> the local one, e.g. ``http://127.0.0.1:3003``."""
    host = f"{api.api_id}.execute-api.{stack.region}.{Naming('', stack.region, '').url_suffix}"
    return {f"https://{host}": base.rstrip("/")}


def rewrite_endpoints(stack: Stack, mapping: Mapping[str, str]) -> Stack:
    """A copy of ``stack`` whose function environments and outputs use the local endpoints."""
    # Longest first, so a key that extends another is replaced before its prefix.
    pairs = sorted(mapping.items(), key=lambda pair: len(pair[0]), reverse=True)

    def rewrite(value: str) -> str:
        for old, new in pairs:
            value = value.replace(old, new)
        return value

    functions = {
        logical_id: dataclasses.replace(
            function, environment={k: rewrite(v) for k, v in function.environment.items()}
        )
        for logical_id, function in stack.functions.items()
    }
    outputs = {name: rewrite(value) for name, value in stack.outputs.items()}
    return dataclasses.replace(stack, functions=functions, outputs=outputs)


# --------------------------------------------------------------------------------------------------
# local.yaml
# --------------------------------------------------------------------------------------------------


class LocalConfigError(Exception):
    """``local.yaml`` is missing or malformed; the message names the file and the key."""


@dataclass
class LocalConfig:
    """The local-only settings of an app (see the comment at the top of ``local.yaml``)."""

    parameters: dict[str, str] = field(default_factory=dict)
    ssm: dict[str, str] = field(default_factory=dict)
    dev_token: dict[str, Any] = field(default_factory=dict)
    # Issuers of the template's HTTP API JWT authorizers that the local OIDC issuer signs for.
    local_issuers: list[str] = field(default_factory=list)


_SECTIONS = ("parameters", "ssm", "dev_token", "local_issuer")


def load_local_config(path: str | Path) -> LocalConfig:
    """Read ``local.yaml``: ``parameters``, ``ssm``, ``dev_token`` and ``local_issuer`` sections,
    all optional."""
    path = Path(path)
    if not path.is_file():
        raise LocalConfigError(f"{path}: file not found")
    try:
        data = load_yaml(path) or {}
    except Exception as error:
        raise LocalConfigError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(data, dict):
        raise LocalConfigError(f"{path}: expected a mapping with {', '.join(_SECTIONS)}")
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise LocalConfigError(
            f"{path}: unknown section {unknown[0]!r} (known: {', '.join(_SECTIONS)})"
        )
    sections: dict[str, dict[str, Any]] = {}
    for key in _SECTIONS:
        section = data.get(key) or {}
        if not isinstance(section, dict):
            raise LocalConfigError(f"{path}: {key} must be a mapping")
        sections[key] = section
    for key in ("parameters", "ssm"):
        for name, value in sections[key].items():
            if isinstance(value, dict | list) or value is None:
                raise LocalConfigError(f"{path}: {key}.{name} must be a single value")
    issuer_section = sections["local_issuer"]
    unknown = sorted(set(issuer_section) - {"issuers"})
    if unknown:
        raise LocalConfigError(f"{path}: unknown key local_issuer.{unknown[0]} (known: issuers)")
    issuers = issuer_section.get("issuers") or []
    if isinstance(issuers, str):
        issuers = [issuers]
    if not isinstance(issuers, list) or not all(isinstance(i, str) and i for i in issuers):
        raise LocalConfigError(f"{path}: local_issuer.issuers must be a list of issuer URLs")
    return LocalConfig(
        parameters={str(k): scalar_str(v) for k, v in sections["parameters"].items()},
        ssm={str(k): scalar_str(v) for k, v in sections["ssm"].items()},
        dev_token=dict(sections["dev_token"]),
        local_issuers=list(issuers),
    )


def _published_aliases(raw: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The alias SAM publishes for ``AutoPublishAlias: name``, as ``<Function>Alias<name>``.

    Templates refer to it by that logical id (provisioned concurrency integrations do); locally
    an alias is its function, so it resolves to the function's ARN (see ``local.physical``).
    """
    aliases = {}
    for logical_id, resource in raw.items():
        name = resource["Properties"].get("AutoPublishAlias")
        if resource["Type"] == FUNCTION and isinstance(name, str):
            aliases[f"{logical_id}Alias{name}"] = {
                "Type": "AWS::Lambda::Alias",
                "Condition": resource.get("Condition"),
                "Properties": {"FunctionName": {"Ref": logical_id}, "Name": name},
            }
    return {k: {key: v for key, v in r.items() if v is not None} for k, r in aliases.items()}
