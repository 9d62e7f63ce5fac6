"""The template loader: intrinsics, parameters, conditions, Globals, physical ids, specs, errors.

Fixture templates live in ``tests/fixtures/templates/``; ``broken/`` holds one template per
kind of template the local stack refuses at start-up.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from local.intrinsics import load_yaml
from local.model import Stack, TemplateError
from local.template import (
    LocalConfigError,
    api_endpoint_mapping,
    load_local_config,
    load_stack,
    rewrite_endpoints,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "templates"
GENERATED = re.compile(r"^(?P<stack>.+)-(?P<logical>[A-Za-z0-9]+)-[A-Z2-7]{13}$")


@pytest.fixture(scope="module")
def fixture_stack() -> Stack:
    return load_stack(FIXTURES / "intrinsics.yaml", stack_name="fx")


@pytest.fixture(scope="module")
def app_stack() -> Stack:
    return load_stack(ROOT / "template.yaml")


# --------------------------------------------------------------------------------------------------
# Intrinsics
# --------------------------------------------------------------------------------------------------


def test_short_tags_become_long_forms_and_dates_stay_strings() -> None:
    data = load_yaml(
        "AWSTemplateFormatVersion: 2010-09-09\n"
        "A: !GetAtt Db.Endpoint.Address\n"
        "B: !Sub ['${x}', {x: !Ref P}]\n"
        "C: !If [Cond, !Condition Other, !Ref AWS::NoValue]\n"
    )
    assert data["AWSTemplateFormatVersion"] == "2010-09-09"
    assert data["A"] == {"Fn::GetAtt": ["Db", "Endpoint.Address"]}
    assert data["B"] == {"Fn::Sub": ["${x}", {"x": {"Ref": "P"}}]}
    assert data["C"] == {"Fn::If": ["Cond", {"Condition": "Other"}, {"Ref": "AWS::NoValue"}]}


def test_every_intrinsic_resolves_to_what_cloudformation_would_give(
    fixture_stack: Stack,
) -> None:
    env = fixture_stack.functions["Echo"].environment
    queue = fixture_stack.resources["Queue"]
    queue_name = queue.attributes["QueueName"]
    table_arn = fixture_stack.resources["Table"].attributes["Arn"]
    assert env["SUB"] == "us-east-1-dev-5"
    assert env["SUB_WITH_MAP"] == f"{queue_name}@123456789012"
    assert env["SUB_LITERAL"] == "${NotAVariable}-aws"
    assert env["SUB_GETATT"] == f"{table_arn}/index/Any"
    assert env["STREAM"].startswith(f"{table_arn}/stream/")
    assert env["QUEUE_ARN"] == f"arn:aws:sqs:us-east-1:123456789012:{queue_name}"
    assert env["QUEUE_URL"] == f"https://sqs.us-east-1.amazonaws.com/123456789012/{queue_name}"
    assert env["ORDERED_NAME"].endswith(".fifo")
    assert fixture_stack.resources["OrderedTopic"].physical_id.endswith(".fifo")
    assert env["TOPIC"] == f"arn:aws:sns:us-east-1:123456789012:{env['TOPIC_NAME']}"
    assert env["NAMED_TABLE"] == "fx-named"
    assert env["JOIN"] == "x+y+z"
    assert env["JOIN_MIXED"] == "a5amazonaws.com"
    assert env["SELECT"] == "y"
    assert env["SPLIT"] == "c"
    assert env["AZ"] == "us-east-1a"
    assert env["MAP"] == "256"
    assert "ONLY_IN_PROD" not in env  # AWS::NoValue removes the key
    assert (env["DEV_OR_OWNER"], env["DEV_WITH_OWNER"], env["SIZE_IS_FIVE"]) == ("yes", "no", "yes")
    assert base64.b64decode(env["BASE64"]) == b"hi"
    assert env["STACK"] == "fx"
    assert (env["NUMBER"], env["BOOLEAN"]) == ("5", "true")


def test_outputs_resolve_and_conditional_ones_follow_their_condition(
    fixture_stack: Stack,
) -> None:
    echo = fixture_stack.functions["Echo"]
    assert fixture_stack.outputs["EchoName"] == echo.name
    assert fixture_stack.outputs["EchoArn"] == echo.arn
    assert fixture_stack.outputs["LayerArn"] == (
        "arn:aws:lambda:us-east-1:123456789012:layer:SharedLayer:1"
    )
    assert fixture_stack.outputs["Zones"] == "x,y,z"
    assert "ProdOnlyQueue" not in fixture_stack.resources
    assert "ProdQueue" not in fixture_stack.outputs


def test_overrides_change_conditions_mappings_and_kept_resources() -> None:
    stack = load_stack(
        FIXTURES / "intrinsics.yaml",
        stack_name="fx",
        parameter_overrides={"Env": "prod", "Owner": "ann", "Size": 3},
    )
    env = stack.functions["Echo"].environment
    assert env["ONLY_IN_PROD"] == "prod-only"
    assert env["MAP"] == "1024"
    assert (env["DEV_OR_OWNER"], env["SIZE_IS_FIVE"]) == ("yes", "no")
    assert stack.functions["Echo"].memory_mb == 1024
    assert "ProdOnlyQueue" in stack.resources
    assert stack.outputs["ProdQueue"] == stack.resources["ProdOnlyQueue"].physical_id
    assert stack.parameters["Env"] == "prod" and stack.parameters["Size"] == "3"


# --------------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "parameter", "problem"),
    [
        ({"Env": "staging"}, "Env", "not one of the allowed values: dev, prod"),
        ({"Owner": "Ann"}, "Owner", "lowercase letters only"),
        ({"Size": 11}, "Size", "above the maximum 10"),
        ({"Size": "five"}, "Size", "not a number"),
        ({"Label": "a"}, "Label", "shorter than 2"),
        ({"Label": "abcdef"}, "Label", "longer than 5"),
        ({"Colour": "red"}, "Colour", "is not a parameter of this template"),
    ],
)
def test_bad_parameter_values_are_refused_naming_the_parameter(
    overrides: dict[str, object], parameter: str, problem: str
) -> None:
    with pytest.raises(TemplateError) as caught:
        load_stack(FIXTURES / "intrinsics.yaml", parameter_overrides=overrides)
    assert (caught.value.resource, caught.value.prop) == ("Parameters", parameter)
    assert problem in str(caught.value)


def test_no_echo_parameters_are_marked(fixture_stack: Stack) -> None:
    assert fixture_stack.no_echo == frozenset({"Secret"})


def test_a_parameter_without_default_needs_an_override(tmp_path: Path) -> None:
    template = tmp_path / "t.yaml"
    template.write_text(
        "Parameters:\n  Needed: {Type: String}\n"
        "Resources:\n  Q: {Type: AWS::SQS::Queue, Properties: {QueueName: !Ref Needed}}\n"
    )
    with pytest.raises(TemplateError, match="Needed: has no Default"):
        load_stack(template)
    assert load_stack(template, parameter_overrides={"Needed": "q1"}).resources["Q"].physical_id
    named = load_stack(template, parameter_overrides={"Needed": "q1"})
    assert named.resources["Q"].attributes["QueueName"] == "q1"


# --------------------------------------------------------------------------------------------------
# Physical ids
# --------------------------------------------------------------------------------------------------


def test_generated_names_look_like_cloudformation_and_are_stable(fixture_stack: Stack) -> None:
    name = fixture_stack.resources["Table"].physical_id
    match = GENERATED.match(name)
    assert match and match["stack"] == "fx" and match["logical"] == "Table"
    again = load_stack(FIXTURES / "intrinsics.yaml", stack_name="fx")
    assert again.resources["Table"].physical_id == name
    other = load_stack(FIXTURES / "intrinsics.yaml", stack_name="other")
    assert other.resources["Table"].physical_id != name
    assert other.resources["Table"].physical_id.startswith("other-Table-")


def test_long_stack_names_are_cut_to_what_lambda_accepts() -> None:
    stack = load_stack(FIXTURES / "intrinsics.yaml", stack_name="s" * 80)
    assert all(len(fn.name) <= 64 for fn in stack.functions.values())
    assert len(stack.resources["OrderedQueue"].attributes["QueueName"]) <= 80


def test_queue_urls_start_with_the_given_sqs_endpoint() -> None:
    stack = load_stack(
        FIXTURES / "intrinsics.yaml", stack_name="fx", sqs_endpoint="http://127.0.0.1:5000/"
    )
    name = stack.resources["Queue"].attributes["QueueName"]
    assert stack.resources["Queue"].physical_id == f"http://127.0.0.1:5000/123456789012/{name}"
    assert stack.functions["Echo"].environment["QUEUE_URL"] == stack.resources["Queue"].physical_id


def test_region_and_account_reach_every_arn() -> None:
    stack = load_stack(
        FIXTURES / "intrinsics.yaml", stack_name="fx", region="eu-west-1", account_id="111122223333"
    )
    echo = stack.functions["Echo"]
    assert echo.arn == f"arn:aws:lambda:eu-west-1:111122223333:function:{echo.name}"
    assert echo.environment["AZ"] == "eu-west-1a"
    assert echo.environment["SUB_WITH_MAP"].endswith("@111122223333")


# --------------------------------------------------------------------------------------------------
# Functions
# --------------------------------------------------------------------------------------------------


def test_globals_merge_into_functions_as_sam_does(fixture_stack: Stack) -> None:
    echo = fixture_stack.functions["Echo"]
    plain = fixture_stack.functions["Plain"]
    assert echo.environment["FROM_GLOBALS"] == "global"
    assert echo.environment["OVERRIDDEN"] == "local"  # maps merge, the function wins
    assert (echo.timeout, plain.timeout) == (9.0, 7.0)
    assert (echo.runtime, echo.handler) == ("python3.12", "app.handler")
    assert echo.layer_dirs == [FIXTURES / "layer"]  # Globals Layers, resolved to the folder
    assert plain.layer_dirs == [FIXTURES / "layer"]
    assert plain.environment == {"FROM_GLOBALS": "global", "OVERRIDDEN": "global"}


def test_function_spec_has_absolute_code_and_lambda_settings(fixture_stack: Stack) -> None:
    echo = fixture_stack.functions["Echo"]
    assert echo.code_dir == FIXTURES / "code" / "echo"
    assert echo.code_dir.is_absolute()
    assert (echo.reserved_concurrency, fixture_stack.functions["Plain"].reserved_concurrency) == (
        2,
        None,
    )
    assert echo.architectures == ["arm64"]
    assert fixture_stack.functions["Plain"].architectures == ["x86_64"]
    assert fixture_stack.function_by_arn(echo.arn) is echo


def test_event_sources_are_resolved_to_the_resources_they_read(fixture_stack: Stack) -> None:
    events = {e.name: e for e in fixture_stack.functions["Echo"].events}
    assert {name: e.type for name, e in events.items()} == {
        "Changes": "DynamoDB",
        "Jobs": "SQS",
        "Alerts": "SNS",
    }
    resources = fixture_stack.resources
    assert events["Changes"].properties["Stream"] == resources["Table"].attributes["StreamArn"]
    assert events["Changes"].properties["BatchSize"] == 10
    assert events["Jobs"].properties["Queue"] == resources["Queue"].attributes["Arn"]
    assert events["Alerts"].properties["Topic"] == resources["Topic"].physical_id


def test_event_sources_declared_as_resources_become_function_events() -> None:
    stack = load_stack(FIXTURES / "standalone_events.yaml")
    events = {e.name: e for e in stack.functions["Worker"].events}
    resources = stack.resources
    assert {name: e.type for name, e in events.items()} == {
        "StreamMapping": "DynamoDB",
        "QueueMapping": "SQS",
        "NewsSubscription": "SNS",
        "AlertsSubscription0": "SNS",
    }
    stream = events["StreamMapping"].properties
    assert stream == {
        "Stream": resources["Table"].attributes["StreamArn"],
        "StartingPosition": "LATEST",
        "BatchSize": 5,
    }
    queue = events["QueueMapping"].properties
    assert queue["Queue"] == resources["Jobs"].attributes["Arn"]
    assert queue["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    news = events["NewsSubscription"].properties
    assert news == {"Topic": resources["News"].physical_id, "FilterPolicy": {"kind": ["urgent"]}}
    assert events["AlertsSubscription0"].properties == {"Topic": resources["Alerts"].physical_id}


# --------------------------------------------------------------------------------------------------
# WebSocket APIs
# --------------------------------------------------------------------------------------------------


def test_websocket_routes_follow_integrations_to_functions() -> None:
    stack = load_stack(FIXTURES / "websocket.yaml")
    (api,) = stack.websocket_apis  # the HTTP API is not a WebSocket API
    assert re.fullmatch(r"[a-z0-9]{10}", api.api_id)
    assert api.name == "fixture-ws"
    assert api.route_selection_expression == "$request.body.message.type"
    assert set(api.routes) == {"$connect", "$default", "echo", "nothing"}
    assert api.routes["echo"].function == "EchoFunction"
    assert api.routes["$default"].function == "EchoFunction"  # via a Join-built Target
    assert api.routes["nothing"].function is None
    assert (api.routes["$default"].two_way, api.routes["echo"].two_way) == (True, False)
    authorizer = api.routes["$connect"].authorizer
    assert authorizer is not None
    assert (authorizer.function, authorizer.name) == ("AuthFunction", "token")
    assert authorizer.identity_sources == [
        "route.request.querystring.token",
        "route.request.header.X-Client",
    ]
    assert api.routes["echo"].authorizer is None
    assert (api.stage, api.throttling_burst, api.throttling_rate) == ("test", 20, 12.5)


def test_conditional_routes_and_parameters_shape_the_api() -> None:
    stack = load_stack(
        FIXTURES / "websocket.yaml",
        parameter_overrides={"WithExtraRoute": "true", "Stage": "v2", "Burst": "7"},
    )
    (api,) = stack.websocket_apis
    assert api.routes["extra"].function == "EchoFunction"
    assert (api.stage, api.throttling_burst) == ("v2", 7)


def test_endpoints_are_rewritten_to_local_urls_in_env_and_outputs() -> None:
    stack = load_stack(FIXTURES / "websocket.yaml")
    (api,) = stack.websocket_apis
    env = stack.functions["EchoFunction"].environment
    assert env["ENDPOINT"] == f"https://{api.api_id}.execute-api.us-east-1.amazonaws.com/test"
    mapping = api_endpoint_mapping(
        stack, api, https_base="https://127.0.0.1:8443/", wss_base="ws://127.0.0.1:8080"
    )
    local = rewrite_endpoints(stack, mapping)
    env = local.functions["EchoFunction"].environment
    assert env["ENDPOINT"] == "https://127.0.0.1:8443/test"
    assert env["SOCKET"] == "ws://127.0.0.1:8080"
    assert local.outputs["Url"] == "ws://127.0.0.1:8080/test"
    # The loaded stack itself is left as it was.
    assert stack.functions["EchoFunction"].environment["SOCKET"].startswith("wss://")


# --------------------------------------------------------------------------------------------------
# Templates the local stack refuses
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "resource", "prop", "problem"),
    [
        ("import_value", "Queue", "Properties.QueueName", "Fn::ImportValue is not supported"),
        ("missing_code_dir", "Fn", "CodeUri", "does not exist"),
        ("missing_handler", "Fn", "Handler", "main.handler: no"),
        ("event_type", "Fn", "Events.Get.Type", "'Api' is not emulated"),
        ("unknown_ref", "Fn", "Properties.Environment.Variables.TARGET", "Ref to 'Nowhere'"),
        ("unknown_getatt", "Fn", "Properties.Environment.Variables.QUEUE", "no attribute 'Nope'"),
        ("ref_dropped", "Fn", "Properties.Environment.Variables.QUEUE", "condition Never is false"),
        ("external_layer", "Fn", "Layers", "not a layer of this template"),
        ("node_runtime", "Fn", "Runtime", "only Python functions run locally"),
        ("s3_code", "Fn", "CodeUri", "needs a folder of this project"),
        ("unknown_condition", "Queue", "Condition", "unknown condition 'Nope'"),
        ("integration_not_function", "Integration", "IntegrationUri", "not a function of this"),
        ("http_integration", "Integration", "IntegrationType", "HTTP_PROXY is not emulated"),
        ("iam_route", "Route", "AuthorizationType", "AWS_IAM is not emulated"),
        ("no_stage", "Api", "Stage", "no AWS::ApiGatewayV2::Stage"),
        ("kinesis_mapping", "Mapping", "EventSourceArn", "only DynamoDB streams and SQS"),
        ("s3_layer", "Packaged", "Content", "is an S3 location"),
        ("foreign_subscriber", "Subscription", "Endpoint", "not a function of this template"),
    ],
)
def test_a_template_the_stack_cannot_run_fails_at_load_naming_resource_and_property(
    fixture: str, resource: str, prop: str, problem: str
) -> None:
    with pytest.raises(TemplateError) as caught:
        load_stack(FIXTURES / "broken" / f"{fixture}.yaml")
    assert (caught.value.resource, caught.value.prop) == (resource, prop)
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"{resource}.{prop}: ")


def test_code_checks_can_be_skipped_by_callers_that_only_provision() -> None:
    stack = load_stack(FIXTURES / "broken" / "missing_handler.yaml", check_code=False)
    assert stack.functions["Fn"].handler == "main.handler"


def test_a_missing_or_unreadable_template_is_named(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="file not found"):
        load_stack(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("Resources: [unclosed\n")
    with pytest.raises(TemplateError, match="not valid YAML"):
        load_stack(broken)
    empty = tmp_path / "empty.yaml"
    empty.write_text("Description: nothing\n")
    with pytest.raises(TemplateError, match="no Resources"):
        load_stack(empty)


# --------------------------------------------------------------------------------------------------
# The application's template.yaml
# --------------------------------------------------------------------------------------------------


def test_app_template_has_its_functions_with_their_code_and_the_core_layer(
    app_stack: Stack,
) -> None:
    assert set(app_stack.functions) == {
        "AuthorizerFunction",
        "ConnectFunction",
        "DisconnectFunction",
        "ChatFunction",
        "BroadcastFunction",
        "NotifyFunction",
        "FanoutFunction",
        "HttpFunction",
        "AttachmentsFunction",
        "AttachmentCheckFunction",
        "SweepFunction",
    }
    for function in app_stack.functions.values():
        assert (function.code_dir / "app.py").is_file()
        assert function.layer_dirs == [ROOT / "layers" / "chatcore"]
        assert function.runtime.startswith("python3.")
    events = {
        logical_id: [e.type for e in f.events] for logical_id, f in app_stack.functions.items()
    }
    assert events["BroadcastFunction"] == ["DynamoDB"]
    assert events["NotifyFunction"] == ["SNS"]
    assert events["FanoutFunction"] == ["SQS"]
    # Its routes are AWS::ApiGatewayV2 resources of HttpApi, not SAM events.
    assert events["AttachmentsFunction"] == []
    (http,) = app_stack.http_apis
    routes = {r.route_key: r.function for r in http.routes}
    assert routes["POST /rooms/{room}/attachments"] == "AttachmentsFunction"
    assert routes["GET /attachments/{id}"] == "AttachmentsFunction"
    assert routes["POST /rooms/{room}/messages"] == "HttpFunction"
    assert events["AttachmentCheckFunction"] == ["S3"]
    (uploaded,) = app_stack.functions["AttachmentCheckFunction"].events
    assert uploaded.properties["Bucket"] == "local-attachments-123456789012-us-east-1"


def test_app_template_has_the_websocket_api_with_every_route(app_stack: Stack) -> None:
    (api,) = app_stack.websocket_apis
    assert api.route_selection_expression == "$request.body.action"
    assert set(api.routes) == {
        "$connect",
        "$disconnect",
        "$default",
        "join",
        "leave",
        "send",
        "dm",
        "history",
        "typing",
        "who",
        "ping",
    }
    assert api.routes["$connect"].function == "ConnectFunction"
    assert api.routes["$disconnect"].function == "DisconnectFunction"
    chat_routes = set(api.routes) - {"$connect", "$disconnect"}
    assert {api.routes[key].function for key in chat_routes} == {"ChatFunction"}
    authorizer = api.routes["$connect"].authorizer
    assert authorizer is not None and authorizer.function == "AuthorizerFunction"
    assert authorizer.identity_sources == ["route.request.querystring.token"]
    assert all(api.routes[key].authorizer is None for key in set(api.routes) - {"$connect"})
    assert (api.stage, api.throttling_burst, api.throttling_rate) == ("dev", 500, 1000.0)


def test_app_template_environment_points_at_this_stack(app_stack: Stack) -> None:
    (api,) = app_stack.websocket_apis
    resources = app_stack.resources
    broadcast = app_stack.functions["BroadcastFunction"].environment
    assert broadcast["CONNECTIONS_TABLE"] == resources["ConnectionsTable"].physical_id
    assert broadcast["MESSAGES_TABLE"] == resources["MessagesTable"].physical_id
    assert broadcast["FANOUT_QUEUE_URL"] == resources["FanoutQueue"].physical_id
    assert broadcast["MANAGEMENT_ENDPOINT"] == (
        f"https://{api.api_id}.execute-api.us-east-1.amazonaws.com/dev"
    )
    assert "MANAGEMENT_ENDPOINT" not in app_stack.functions["ChatFunction"].environment
    authorizer = app_stack.functions["AuthorizerFunction"].environment
    assert authorizer["JWT_ALGORITHM"] == "HS256"
    assert authorizer["JWT_SECRET_PARAMETER"] == "/chat/dev/jwt-secret"
    assert app_stack.outputs["ConnectionsUrl"] == (
        f"https://{api.api_id}.execute-api.us-east-1.amazonaws.com/dev/@connections"
    )


@pytest.mark.parametrize(("level", "lambda_level"), [("WARNING", "WARN"), ("DEBUG", "DEBUG")])
def test_app_template_log_level_reaches_powertools_and_lambda(
    level: str, lambda_level: str
) -> None:
    stack = load_stack(ROOT / "template.yaml", parameter_overrides={"LogLevel": level})
    chat = stack.resources["ChatFunction"].properties
    assert chat["LoggingConfig"]["ApplicationLogLevel"] == lambda_level
    assert stack.functions["ChatFunction"].environment["POWERTOOLS_LOG_LEVEL"] == level


def test_app_template_follows_stage_and_algorithm_parameters() -> None:
    stack = load_stack(
        ROOT / "template.yaml",
        parameter_overrides={
            "StageName": "prod",
            "JwtAlgorithm": "RS256",
            "JwtJwksUrl": "https://issuer.example/.well-known/jwks.json",
            # The HTTP API's JWT authorizer needs both.
            "JwtIssuer": "https://issuer.example",
            "JwtAudience": "chat-app",
        },
    )
    assert stack.websocket_apis[0].stage == "prod"
    assert stack.functions["FanoutFunction"].environment["MANAGEMENT_ENDPOINT"].endswith("/prod")
    authorizer = stack.functions["AuthorizerFunction"].environment
    assert authorizer["JWT_ALGORITHM"] == "RS256"
    assert authorizer["JWT_SECRET_PARAMETER"] == ""  # RS256 never reads a shared secret


@pytest.mark.parametrize(
    ("logging", "kept"),
    [
        ("existing", {"AccessLogGroup"}),
        ("create", {"AccessLogGroup", "ApiGatewayCloudWatchRole", "ApiGatewayAccount"}),
        ("none", set()),
    ],
)
def test_app_template_access_logging_choices(logging: str, kept: set[str]) -> None:
    stack = load_stack(ROOT / "template.yaml", parameter_overrides={"ApiGatewayLogging": logging})
    optional = {"AccessLogGroup", "ApiGatewayCloudWatchRole", "ApiGatewayAccount"}
    assert optional & set(stack.resources) == kept
    stage = stack.resources["Stage"].properties
    assert ("AccessLogSettings" in stage) == (logging != "none")
    if "AccessLogGroup" in kept:
        arn = stack.resources["AccessLogGroup"].attributes["Arn"]
        assert stage["AccessLogSettings"]["DestinationArn"] == arn


@pytest.mark.parametrize(
    ("overrides", "where", "problem"),
    [
        ({"JwtAlgorithm": "RS256"}, "Rules.Rs256NeedsJwks", "needs JwtJwksUrl"),
        ({"JwtSecretParameterName": ""}, "Rules.Hs256NeedsSecret", "needs JwtSecretParameterName"),
        ({"JwtAlgorithm": "none"}, "Parameters", "not one of the allowed values"),
        ({"JwtSecretParameterName": "chat/no-slash"}, "Parameters", "must be an SSM parameter"),
    ],
)
def test_app_template_refuses_settings_that_could_never_authenticate(
    overrides: dict[str, str], where: str, problem: str
) -> None:
    with pytest.raises(TemplateError) as caught:
        load_stack(ROOT / "template.yaml", parameter_overrides=overrides)
    assert caught.value.resource == where
    assert problem in caught.value.problem


# --------------------------------------------------------------------------------------------------
# local.yaml
# --------------------------------------------------------------------------------------------------


def test_local_yaml_loads_and_fits_the_template() -> None:
    config = load_local_config(ROOT / "local.yaml")
    stack = load_stack(ROOT / "template.yaml", parameter_overrides=config.parameters)
    secret_parameter = config.dev_token["secret_parameter"]
    assert stack.parameters["JwtSecretParameterName"] == secret_parameter
    assert len(config.ssm[secret_parameter].encode()) >= 32
    assert config.dev_token["algorithm"] == stack.parameters["JwtAlgorithm"] == "HS256"
    assert config.dev_token["issuer"] == stack.parameters["JwtIssuer"]
    assert config.dev_token["audience"] == stack.parameters["JwtAudience"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("parameter: {A: b}\n", "unknown section 'parameter'"),
        ("ssm: [a, b]\n", "ssm must be a mapping"),
        ("parameters: {A: {nested: 1}}\n", "parameters.A must be a single value"),
        ("- a list\n", "expected a mapping"),
        ("parameters: [\n", "not valid YAML"),
    ],
)
def test_a_malformed_local_yaml_is_named(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "local.yaml"
    path.write_text(text)
    with pytest.raises(LocalConfigError, match=re.escape(problem)):
        load_local_config(path)


def test_local_yaml_values_become_strings_and_sections_are_optional(tmp_path: Path) -> None:
    path = tmp_path / "local.yaml"
    path.write_text("parameters:\n  Size: 3\n  Flag: true\n")
    config = load_local_config(path)
    assert config.parameters == {"Size": "3", "Flag": "true"}
    assert (config.ssm, config.dev_token) == ({}, {})
    with pytest.raises(LocalConfigError, match="file not found"):
        load_local_config(tmp_path / "absent.yaml")
