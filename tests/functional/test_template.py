"""template.yaml: it lints, SAM transforms it, and what it grants and wires is what we mean.

The checks run on the *transformed* CloudFormation (what AWS would deploy), so they see the roles,
event source mappings and permissions SAM generates, not only what the SAM file says.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_file
from cfnlint.decode.decode import decode_str
from samtranslator.translator.transform import transform

from chatcore.attachment_routes import DECLARE_ROUTE, DOWNLOAD_ROUTE
from chatcore.httpapi import ROUTE_SCOPES
from chatcore.httpapi import ROUTES as HTTP_ROUTES
from local.sources.filters import matches_any, parse_filter_criteria

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

ROUTES = {
    "$connect": "ConnectFunction",
    "$disconnect": "DisconnectFunction",
    "$default": "ChatFunction",
    "join": "ChatFunction",
    "leave": "ChatFunction",
    "send": "ChatFunction",
    "dm": "ChatFunction",
    "history": "ChatFunction",
    "typing": "ChatFunction",
    "who": "ChatFunction",
    "ping": "ChatFunction",
}
FUNCTIONS = {
    "AuthorizerFunction": "authorizer",
    "ConnectFunction": "connect",
    "DisconnectFunction": "disconnect",
    "ChatFunction": "chat",
    "BroadcastFunction": "broadcast",
    "NotifyFunction": "notify",
    "FanoutFunction": "fanout",
    "HttpFunction": "http",
    "AttachmentsFunction": "attachments",
    "AttachmentCheckFunction": "attachment_check",
    "SweepFunction": "sweep",
}
MANAGE_CONNECTIONS = (
    "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:"
    "${WebSocketApi}/${StageName}/POST/@connections/*"
)


class _NoManagedPolicies:
    """SAM asks IAM for managed policy ARNs only for names it cannot resolve; we use none."""

    def load(self) -> dict[str, str]:
        return {}


def _sam_template() -> dict[str, Any]:
    template, errors = decode_str(TEMPLATE.read_text(encoding="utf-8"))
    assert not errors, errors
    plain: dict[str, Any] = json.loads(json.dumps(template))
    return plain


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return _sam_template()


@pytest.fixture(scope="module")
def cfn(sam: dict[str, Any]) -> Iterator[dict[str, Any]]:
    packaged = copy.deepcopy(sam)
    # What `sam package` does: local folders become S3 locations before the transform runs.
    for resource in packaged["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):
                props[key] = f"s3://artifacts/{props[key].strip('/')}.zip"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # the translator builds ARNs with it
        yield transform(packaged, {}, _NoManagedPolicies())


def _of_type(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == type_}


def _statements(role: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for policy in role["Properties"].get("Policies", []):
        if "Fn::If" in policy:  # a conditional policy: check the branch that grants something
            policy = policy["Fn::If"][1]
        yield from policy["PolicyDocument"]["Statement"]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --------------------------------------------------------------------------------------------------
# Tools
# --------------------------------------------------------------------------------------------------


def test_cfn_lint_reports_no_errors() -> None:
    matches = lint_file(TEMPLATE)
    errors = [str(m) for m in matches if m.rule.id.startswith("E")]
    assert errors == []


def test_sam_translator_turns_every_function_into_lambda_with_a_role(
    cfn: dict[str, Any],
) -> None:
    functions = _of_type(cfn, "AWS::Lambda::Function")
    assert set(functions) == set(FUNCTIONS)
    for logical_id, function in functions.items():
        props = function["Properties"]
        assert props["Role"] == {"Fn::GetAtt": [f"{logical_id}Role", "Arn"]}
        assert props["Runtime"].startswith("python3.1")
        assert props["Architectures"] == ["arm64"]
        assert props["LoggingConfig"]["LogFormat"] == "JSON"
        assert props["Handler"] == "app.handler"
        assert props["Layers"] == [{"Ref": next(iter(_of_type(cfn, "AWS::Lambda::LayerVersion")))}]


def test_every_function_logs_to_a_group_that_expires(cfn: dict[str, Any]) -> None:
    groups = {
        json.dumps(g["Properties"]["LogGroupName"]): g["Properties"]
        for g in _of_type(cfn, "AWS::Logs::LogGroup").values()
    }
    for name in FUNCTIONS:
        group = groups[json.dumps({"Fn::Sub": f"/aws/lambda/${{{name}}}"})]
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_function_code_lives_where_the_architecture_says(sam: dict[str, Any]) -> None:
    for logical_id, folder in FUNCTIONS.items():
        code_uri = sam["Resources"][logical_id]["Properties"]["CodeUri"]
        assert Path(code_uri) == Path("functions") / folder
        assert (ROOT / code_uri / "app.py").is_file()


# --------------------------------------------------------------------------------------------------
# Least privilege
# --------------------------------------------------------------------------------------------------


def test_no_policy_grants_a_wildcard_action_or_resource(cfn: dict[str, Any]) -> None:
    roles = _of_type(cfn, "AWS::IAM::Role")
    assert set(roles) == {f"{name}Role" for name in FUNCTIONS} | {
        "ApiGatewayCloudWatchRole",
        "SweepScheduleRole",
    }
    for logical_id, role in roles.items():
        for statement in _statements(role):
            assert "NotAction" not in statement and "NotResource" not in statement, logical_id
            for action in _as_list(statement["Action"]):
                assert "*" not in action, f"{logical_id} grants {action}"
            for resource in _as_list(statement["Resource"]):
                assert resource != "*", f"{logical_id} grants {statement['Action']} on *"


def test_manage_connections_is_scoped_to_this_api_stage_and_post(cfn: dict[str, Any]) -> None:
    granted = {}
    for logical_id, role in _of_type(cfn, "AWS::IAM::Role").items():
        for statement in _statements(role):
            if "execute-api:ManageConnections" in _as_list(statement["Action"]):
                granted[logical_id] = _as_list(statement["Resource"])
    # Every function that posts events has it; the authorizer and connect never post.
    assert set(granted) == {
        f"{name}Role"
        for name in ("DisconnectFunction", "ChatFunction", "BroadcastFunction")
        + ("NotifyFunction", "FanoutFunction", "HttpFunction", "SweepFunction")
    }
    # Only the HTTP API's user disconnects and the end of a token (chat's check on each frame,
    # the sweep) close connections (DELETE); everyone else only posts.
    for closer in ("HttpFunctionRole", "ChatFunctionRole", "SweepFunctionRole"):
        assert granted.pop(closer) == [
            {"Fn::Sub": MANAGE_CONNECTIONS},
            {"Fn::Sub": MANAGE_CONNECTIONS.replace("/POST/", "/DELETE/")},
        ]
    for resources in granted.values():
        assert resources == [{"Fn::Sub": MANAGE_CONNECTIONS}]


def test_table_actions_are_explicit_and_only_on_our_tables(cfn: dict[str, Any]) -> None:
    ours = {
        json.dumps({"Fn::GetAtt": [table, "Arn"]})
        for table in ("ConnectionsTable", "MessagesTable")
    } | {
        json.dumps({"Fn::Sub": f"${{ConnectionsTable.Arn}}/index/{index}"})
        for index in ("ByUser", "ByTokenExpiry")
    }
    scans = []
    for logical_id, role in _of_type(cfn, "AWS::IAM::Role").items():
        for statement in _statements(role):
            actions = _as_list(statement["Action"])
            if any(a.startswith("dynamodb:") for a in actions):
                for resource in _as_list(statement["Resource"]):
                    assert json.dumps(resource) in ours, f"{logical_id}: {resource}"
                scans += [logical_id for a in actions if a == "dynamodb:Scan"]
    # No Scan on any per-message path: only notifications to everyone list all connections
    # (from SNS, or POST /notifications on the HTTP API).
    assert sorted(scans) == ["HttpFunctionRole", "NotifyFunctionRole"]


def _table_actions(cfn: dict[str, Any], role: str) -> dict[str, set[str]]:
    granted: dict[str, set[str]] = {}
    for statement in _statements(cfn["Resources"][role]):
        actions = {a for a in _as_list(statement["Action"]) if a.startswith("dynamodb:")}
        for resource in _as_list(statement["Resource"]):
            if actions:
                granted.setdefault(json.dumps(resource), set()).update(actions)
    return granted


def test_the_http_function_may_do_what_its_routes_do_and_no_more(cfn: dict[str, Any]) -> None:
    http = _table_actions(cfn, "HttpFunctionRole")
    messages = json.dumps({"Fn::GetAtt": ["MessagesTable", "Arn"]})
    connections = json.dumps({"Fn::GetAtt": ["ConnectionsTable", "Arn"]})
    # A publish is the WebSocket send's own path (BatchGetItem, then a transaction of the
    # counter Update and the message and ref Puts): a part of chat's MessagesTable actions,
    # without the edits, reactions and bans only the WebSocket actions make. GET /me/rooms
    # reads its rooms' counters with that same BatchGetItem: nothing more for it.
    assert http[messages] <= _table_actions(cfn, "ChatFunctionRole")[messages]
    assert http[messages] == {
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:Query",
    }
    # No socket, so no membership read or ConditionCheck, and no budget item of its own: on the
    # ConnectionsTable it only reads (members, /me, the read markers of /me/rooms with one
    # Query, notification targets) and removes stale ids. It never writes a read marker.
    assert http[connections] == {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:DeleteItem",
        "dynamodb:BatchWriteItem",
    }


def test_only_the_authorizer_and_reauth_read_the_jwt_secret_and_only_that_one(
    cfn: dict[str, Any],
) -> None:
    readers: dict[str, Any] = {}
    for logical_id, role in _of_type(cfn, "AWS::IAM::Role").items():
        for statement in _statements(role):
            for action in _as_list(statement["Action"]):
                if action.startswith(("ssm:", "secretsmanager:")):
                    readers.setdefault(action, set()).add(
                        (logical_id, json.dumps(statement["Resource"]))
                    )
    ssm_arn = (
        "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:"
        "parameter${JwtSecretParameterName}"
    )
    # The chat function verifies the fresh token of a `reauth` frame.
    roles = ("AuthorizerFunctionRole", "ChatFunctionRole")
    assert readers == {
        "ssm:GetParameter": {(r, json.dumps({"Fn::Sub": ssm_arn})) for r in roles},
        "secretsmanager:GetSecretValue": {
            (r, json.dumps({"Ref": "JwtSecretParameterName"})) for r in roles
        },
    }


# --------------------------------------------------------------------------------------------------
# The WebSocket API
# --------------------------------------------------------------------------------------------------


def _websocket(resources: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        k: r for k, r in resources.items() if r["Properties"]["ApiId"] == {"Ref": "WebSocketApi"}
    }


def _when(value: Any, conditions: dict[str, bool]) -> Any:
    """``value`` with each ``Fn::If`` on one of ``conditions`` replaced by the branch taken."""
    if isinstance(value, dict):
        if set(value) == {"Fn::If"} and value["Fn::If"][0] in conditions:
            name, if_true, if_false = value["Fn::If"]
            return _when(if_true if conditions[name] else if_false, conditions)
        return {k: _when(v, conditions) for k, v in value.items()}
    if isinstance(value, list):
        return [_when(v, conditions) for v in value]
    return value


PC_OFF = {"HasProvisionedConcurrency": False}


def _function_of_integration(
    cfn: dict[str, Any], target: dict[str, Any], conditions: dict[str, bool] = PC_OFF
) -> str:
    """The logical id an integration invokes: a function (``X.Arn``) or an alias (``XAlias..``)."""
    integration_id = re.fullmatch(r"integrations/\$\{(\w+)\}", target["Fn::Sub"])
    assert integration_id, target
    integration = cfn["Resources"][integration_id.group(1)]["Properties"]
    assert integration["IntegrationType"] == "AWS_PROXY"
    uri = _when(integration["IntegrationUri"], conditions)
    function = re.search(r"functions/\$\{(\w+?)(?:\.Arn)?\}/invocations", uri["Fn::Sub"])
    assert function, integration
    return function.group(1)


def test_every_route_has_an_integration_to_its_function_and_a_scoped_permission(
    cfn: dict[str, Any],
) -> None:
    api = cfn["Resources"]["WebSocketApi"]["Properties"]
    assert api["ProtocolType"] == "WEBSOCKET"
    assert api["RouteSelectionExpression"] == "$request.body.action"
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in _websocket(_of_type(cfn, "AWS::ApiGatewayV2::Route")).values()
    }
    assert set(routes) == set(ROUTES)
    permissions = {
        p["Properties"]["SourceArn"]["Fn::Sub"]: p["Properties"]
        for p in _of_type(cfn, "AWS::Lambda::Permission").values()
        # The alias permissions (provisioned concurrency) are checked on their own below.
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
        and "Condition" not in p
        and "${WebSocketApi}" in json.dumps(p["Properties"]["SourceArn"])
    }
    prefix = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}"
    for key, function in ROUTES.items():
        route = routes[key]
        assert route["ApiId"] == {"Ref": "WebSocketApi"}
        assert _function_of_integration(cfn, route["Target"]) == function
        permission = permissions[f"{prefix}/${{StageName}}/{key}"]
        assert permission["FunctionName"] == {"Ref": function}
        assert permission["Action"] == "lambda:InvokeFunction"


def test_connect_runs_the_request_authorizer_on_the_token_query_string(
    cfn: dict[str, Any],
) -> None:
    routes = _websocket(_of_type(cfn, "AWS::ApiGatewayV2::Route"))
    connect = next(
        r["Properties"] for r in routes.values() if r["Properties"]["RouteKey"] == "$connect"
    )
    assert connect["AuthorizationType"] == "CUSTOM"
    authorizer = cfn["Resources"][connect["AuthorizerId"]["Ref"]]["Properties"]
    assert authorizer["AuthorizerType"] == "REQUEST"
    assert authorizer["IdentitySource"] == ["route.request.querystring.token"]
    uri = _when(authorizer["AuthorizerUri"], PC_OFF)["Fn::Sub"]
    assert "${AuthorizerFunction.Arn}" in uri
    others = [r for r in routes.values() if r["Properties"]["RouteKey"] != "$connect"]
    assert all(r["Properties"]["AuthorizationType"] == "NONE" for r in others)
    permission = cfn["Resources"]["AuthorizerPermission"]["Properties"]
    assert permission["FunctionName"] == {"Ref": "AuthorizerFunction"}
    assert permission["SourceArn"]["Fn::Sub"].endswith(
        "${WebSocketApi}/authorizers/${ConnectAuthorizer}"
    )


def test_stage_throttles_and_writes_access_logs_without_bodies(cfn: dict[str, Any]) -> None:
    (stage,) = _websocket(_of_type(cfn, "AWS::ApiGatewayV2::Stage")).values()
    props = stage["Properties"]
    assert props["StageName"] == {"Ref": "StageName"}
    assert props["DefaultRouteSettings"]["ThrottlingRateLimit"] == {
        "Ref": "RouteThrottlingRateLimit"
    }
    assert props["DefaultRouteSettings"]["ThrottlingBurstLimit"] == {
        "Ref": "RouteThrottlingBurstLimit"
    }
    condition, logs, otherwise = props["AccessLogSettings"]["Fn::If"]
    assert (condition, otherwise) == ("WritesAccessLogs", {"Ref": "AWS::NoValue"})
    assert logs["DestinationArn"] == {"Fn::GetAtt": ["AccessLogGroup", "Arn"]}
    fields = json.loads(logs["Format"])
    assert {"connectionId", "routeKey", "status", "requestId"} <= set(fields)
    assert not any("body" in value or "token" in value for value in fields.values())
    # When this stack sets the account's logging role, the stage must wait for it.
    assert "${ApiGatewayAccount}" in json.dumps(props["Description"])
    account = cfn["Resources"]["ApiGatewayAccount"]
    assert account["Condition"] == "CreatesApiGatewayLogRole"
    assert account["Properties"]["CloudWatchRoleArn"] == {
        "Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]
    }
    # The deployment must see every route, or the stage serves an incomplete API.
    deployment = cfn["Resources"][props["DeploymentId"]["Ref"]]
    routes = set(_websocket(_of_type(cfn, "AWS::ApiGatewayV2::Route")))
    assert set(deployment["DependsOn"]) == routes


def test_outputs_give_the_urls_a_client_and_a_publisher_need(cfn: dict[str, Any]) -> None:
    outputs = cfn["Outputs"]
    host = "${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${StageName}"
    assert outputs["WebSocketUrl"]["Value"] == {"Fn::Sub": f"wss://{host}"}
    assert outputs["ConnectionsUrl"]["Value"] == {"Fn::Sub": f"https://{host}/@connections"}
    assert outputs["NotificationsTopicArn"]["Value"] == {"Ref": "NotificationsTopic"}


# --------------------------------------------------------------------------------------------------
# Event sources
# --------------------------------------------------------------------------------------------------


def _mapping_of(cfn: dict[str, Any], function: str) -> dict[str, Any]:
    (mapping,) = [
        m["Properties"]
        for m in _of_type(cfn, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": function}
    ]
    return mapping


def _stream_record(event_name: str, image: dict[str, Any]) -> dict[str, Any]:
    return {"eventName": event_name, "eventSource": "aws:dynamodb", "dynamodb": {"NewImage": image}}


def test_broadcast_stream_gets_new_messages_only_and_isolates_failures(
    cfn: dict[str, Any],
) -> None:
    mapping = _mapping_of(cfn, "BroadcastFunction")
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["MessagesTable", "StreamArn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert 0 <= mapping["MaximumRetryAttempts"] <= 10
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["BroadcastFailureQueue", "Arn"]
    }
    patterns = parse_filter_criteria(mapping["FilterCriteria"])
    message = {"pk": {"S": "ROOM#lobby"}, "seq": {"N": "3"}, "kind": {"S": "message"}}
    assert matches_any(patterns, _stream_record("INSERT", message))
    # The counter and idempotency items of the same transaction, and later changes, stay out.
    assert not matches_any(patterns, _stream_record("MODIFY", message))
    assert not matches_any(patterns, _stream_record("INSERT", {**message, "kind": {"S": "ref"}}))
    counter = {"pk": {"S": "ROOM#lobby"}, "seq": {"N": "0"}, "last": {"N": "3"}}
    assert not matches_any(patterns, _stream_record("INSERT", counter))
    assert not matches_any(patterns, _stream_record("REMOVE", message))


def test_fanout_reports_partial_batches_and_gives_up_into_a_dead_letter_queue(
    cfn: dict[str, Any],
) -> None:
    mapping = _mapping_of(cfn, "FanoutFunction")
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["FanoutQueue", "Arn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = cfn["Resources"]["FanoutQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["FanoutDeadLetterQueue", "Arn"]
    }
    # A chunk still being posted must not reappear for a second worker.
    timeout = cfn["Resources"]["FanoutFunction"]["Properties"]["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * timeout


def test_notify_is_subscribed_to_the_notifications_topic(cfn: dict[str, Any]) -> None:
    subscriptions = {
        k: s
        for k, s in _of_type(cfn, "AWS::SNS::Subscription").items()
        if s["Properties"]["TopicArn"] != {"Ref": "AlarmTopic"}  # the optional alarm e-mail
    }
    assert [s["Properties"]["TopicArn"] for s in subscriptions.values()] == [
        {"Ref": "NotificationsTopic"}
    ]
    (subscription,) = subscriptions.values()
    assert subscription["Properties"]["Protocol"] == "lambda"
    assert subscription["Properties"]["Endpoint"] == {"Fn::GetAtt": ["NotifyFunction", "Arn"]}


# --------------------------------------------------------------------------------------------------
# Data model and configuration
# --------------------------------------------------------------------------------------------------


def test_tables_match_the_data_model(cfn: dict[str, Any]) -> None:
    connections = cfn["Resources"]["ConnectionsTable"]["Properties"]
    messages = cfn["Resources"]["MessagesTable"]["Properties"]
    for table in (connections, messages):
        assert table["BillingMode"] == "PAY_PER_REQUEST"
        assert table["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert connections["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    by_user, by_expiry = connections["GlobalSecondaryIndexes"]
    assert by_expiry["IndexName"] == "ByTokenExpiry"
    assert by_expiry["KeySchema"] == [
        {"AttributeName": "expiryBucket", "KeyType": "HASH"},
        {"AttributeName": "tokenExp", "KeyType": "RANGE"},
    ]
    assert by_user["IndexName"] == "ByUser"
    assert by_user["KeySchema"] == [
        {"AttributeName": "ownerId", "KeyType": "HASH"},
        {"AttributeName": "pk", "KeyType": "RANGE"},
    ]
    assert by_user["Projection"] == {"ProjectionType": "ALL"}
    assert messages["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "seq", "KeyType": "RANGE"},
    ]
    assert {"AttributeName": "seq", "AttributeType": "N"} in messages["AttributeDefinitions"]
    assert messages["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    assert messages["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_every_environment_variable_is_one_the_architecture_documents(
    cfn: dict[str, Any],
) -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    documented = {
        name
        for line in doc.splitlines()
        if line.startswith("| `") and "|" in line[1:]
        for name in re.findall(r"`([A-Z][A-Z_]+)`", line.split("|")[1])
    }
    used = set()
    for function in _of_type(cfn, "AWS::Lambda::Function").values():
        used |= set(function["Properties"]["Environment"]["Variables"])
    assert used - documented == set()
    assert {"CONNECTIONS_TABLE", "MESSAGES_TABLE", "MANAGEMENT_ENDPOINT"} <= used


def test_layer_is_built_by_its_makefile_into_python(sam: dict[str, Any], tmp_path: Path) -> None:
    layer = sam["Resources"]["CoreLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    source = ROOT / layer["Properties"]["ContentUri"]
    make = shutil.which("make")
    assert make, "make is needed to build the layer"
    # PIP=true: the copy step is what we check here, not a download of the dependencies.
    subprocess.run(
        [make, "-s", "-C", str(source), "build-CoreLayer", f"ARTIFACTS_DIR={tmp_path}", "PIP=true"],
        check=True,
        timeout=60,
    )
    assert (tmp_path / "python" / "chatcore" / "__init__.py").is_file()
    assert not list(tmp_path.rglob("__pycache__"))
    text = (source / "requirements.txt").read_text(encoding="utf-8")
    names = [re.split(r"[<>=~!\[;\s]", line)[0] for line in text.splitlines()]
    assert [n for n in names if n and not n.startswith("#")] == ["aws-lambda-powertools", "pyjwt"]
    # The [tracer] extra would pull botocore into the layer: the X-Ray SDK comes --no-deps instead.
    assert "aws-lambda-powertools[tracer]" not in text and "pyjwt[crypto]" in text
    tracing = (source / "requirements-tracing.txt").read_text(encoding="utf-8")
    assert "aws-xray-sdk" in tracing and "botocore" not in tracing.replace("declares botocore", "")


# --------------------------------------------------------------------------------------------------
# The HTTP API
# --------------------------------------------------------------------------------------------------


def _http(resources: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in resources.items() if r["Properties"]["ApiId"] == {"Ref": "HttpApi"}}


def test_http_api_allows_the_configured_browser_origins(cfn: dict[str, Any]) -> None:
    api = cfn["Resources"]["HttpApi"]["Properties"]
    assert api["ProtocolType"] == "HTTP"
    cors = api["CorsConfiguration"]
    # The WebSocket side's allowlist, split; empty (the default) allows any origin.
    assert cors["AllowOrigins"] == {
        "Fn::If": ["AllowsAnyOrigin", ["*"], {"Fn::Split": [",", {"Ref": "AllowedOrigins"}]}]
    }
    assert cfn["Conditions"]["AllowsAnyOrigin"] == {"Fn::Equals": [{"Ref": "AllowedOrigins"}, ""]}
    assert {"authorization", "content-type", "idempotency-key"} <= set(cors["AllowHeaders"])
    assert {"GET", "POST"} <= set(cors["AllowMethods"])
    assert cors["AllowCredentials"] is False


def test_http_stage_throttles_explicitly_and_logs_without_secrets(cfn: dict[str, Any]) -> None:
    (stage,) = _http(_of_type(cfn, "AWS::ApiGatewayV2::Stage")).values()
    props = stage["Properties"]
    assert props["StageName"] == "$default"
    assert props["AutoDeploy"] is True
    # Route settings without both limits would throttle every request to 0.
    settings = props["DefaultRouteSettings"]
    assert settings["ThrottlingRateLimit"] == {"Ref": "HttpThrottlingRateLimit"}
    assert settings["ThrottlingBurstLimit"] == {"Ref": "HttpThrottlingBurstLimit"}
    for name in ("HttpThrottlingRateLimit", "HttpThrottlingBurstLimit"):
        assert cfn["Parameters"][name]["MinValue"] >= 1
    logs = props["AccessLogSettings"]
    assert logs["DestinationArn"] == {"Fn::GetAtt": ["HttpAccessLogGroup", "Arn"]}
    fields = json.loads(logs["Format"])
    assert {"requestId", "routeKey", "status", "authorizerError"} <= set(fields)
    assert not any(
        word in value.lower() for value in fields.values() for word in ("body", "header", "token")
    )
    group = cfn["Resources"]["HttpAccessLogGroup"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_http_routes_are_the_documented_ones_on_the_http_function(cfn: dict[str, Any]) -> None:
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in _http(_of_type(cfn, "AWS::ApiGatewayV2::Route")).values()
    }
    # The attachment routes sign S3 URLs: only AttachmentsFunction holds those S3 rights.
    attachment_routes = {DECLARE_ROUTE, DOWNLOAD_ROUTE}
    assert set(routes) == set(HTTP_ROUTES) | attachment_routes
    for key, route in routes.items():
        integration_id = re.fullmatch(r"integrations/\$\{(\w+)\}", route["Target"]["Fn::Sub"])
        assert integration_id, route
        integration = cfn["Resources"][integration_id.group(1)]["Properties"]
        assert integration["IntegrationType"] == "AWS_PROXY"
        assert integration["PayloadFormatVersion"] == "2.0"
        function = "AttachmentsFunction" if key in attachment_routes else "HttpFunction"
        assert integration["IntegrationUri"] == {"Fn::GetAtt": [function, "Arn"]}
        assert integration["TimeoutInMillis"] <= 30_000
        # Every route is authorized: the JWT authorizer for RS256, the Lambda one for HS256.
        assert route["AuthorizationType"] == {"Fn::If": ["IsHs256", "CUSTOM", "JWT"]}
        assert route["AuthorizerId"] == {
            "Fn::If": ["IsHs256", {"Ref": "HttpLambdaAuthorizer"}, {"Ref": "HttpJwtAuthorizer"}]
        }
        # The JWT authorizer's route scopes are exactly the ones the Lambda authorizer enforces.
        scopes = route.get("AuthorizationScopes")
        if key in ROUTE_SCOPES:
            assert scopes == {
                "Fn::If": ["IsHs256", {"Ref": "AWS::NoValue"}, list(ROUTE_SCOPES[key])]
            }
        else:
            assert scopes is None, key
    for permission_id, function in (
        ("HttpPermission", "HttpFunction"),
        ("HttpAttachmentsPermission", "AttachmentsFunction"),
    ):
        permission = cfn["Resources"][permission_id]["Properties"]
        assert permission["FunctionName"] == {"Ref": function}
        assert permission["SourceArn"] == {
            "Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:"
            "${HttpApi}/$default/*"
        }


def test_http_authorizer_is_picked_by_the_jwt_algorithm(cfn: dict[str, Any]) -> None:
    conditions = cfn["Conditions"]
    assert conditions["IsHs256"] == {"Fn::Equals": [{"Ref": "JwtAlgorithm"}, "HS256"]}
    assert conditions["UsesJwtAuthorizer"] == {"Fn::Equals": [{"Ref": "JwtAlgorithm"}, "RS256"]}
    assert cfn["Parameters"]["JwtAlgorithm"]["AllowedValues"] == ["HS256", "RS256"]
    jwt_authorizer = cfn["Resources"]["HttpJwtAuthorizer"]
    assert jwt_authorizer["Condition"] == "UsesJwtAuthorizer"
    props = jwt_authorizer["Properties"]
    assert props["AuthorizerType"] == "JWT"
    assert props["IdentitySource"] == ["$request.header.Authorization"]
    assert props["JwtConfiguration"] == {
        "Issuer": {"Ref": "JwtIssuer"},
        "Audience": {"Fn::Split": [",", {"Ref": "JwtAudience"}]},
    }
    lambda_authorizer = cfn["Resources"]["HttpLambdaAuthorizer"]
    assert lambda_authorizer["Condition"] == "IsHs256"
    props = lambda_authorizer["Properties"]
    assert props["AuthorizerType"] == "REQUEST"
    assert props["AuthorizerPayloadFormatVersion"] == "2.0"
    assert props["EnableSimpleResponses"] is True
    assert "${AuthorizerFunction.Arn}" in props["AuthorizerUri"]["Fn::Sub"]
    # Cached per token and route, or one route's "yes" would open the scoped routes.
    assert props["IdentitySource"] == ["$request.header.Authorization", "$context.routeKey"]
    assert props["AuthorizerResultTtlInSeconds"] > 0
    permission = cfn["Resources"]["HttpAuthorizerPermission"]
    assert permission["Condition"] == "IsHs256"
    assert permission["Properties"]["SourceArn"]["Fn::Sub"].endswith(
        "${HttpApi}/authorizers/${HttpLambdaAuthorizer}"
    )


def test_outputs_give_the_http_api_url(cfn: dict[str, Any]) -> None:
    assert cfn["Outputs"]["HttpApiUrl"]["Value"] == {
        "Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
    }


# --------------------------------------------------------------------------------------------------
# Operations: dashboard, alarms, provisioned concurrency, tracing
# --------------------------------------------------------------------------------------------------

PC_FUNCTIONS = ("AuthorizerFunction", "ConnectFunction", "ChatFunction")
_SUB_VARIABLE = re.compile(r"\$\{([^}!]+)\}")


def _dashboard(cfn: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """The dashboard body as JSON, and the ``${...}`` names its ``Fn::Sub`` uses."""
    (dashboard,) = _of_type(cfn, "AWS::CloudWatch::Dashboard").values()
    text = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    names = set(_SUB_VARIABLE.findall(text))
    return json.loads(_SUB_VARIABLE.sub(lambda m: m.group(1), text)), names


def _dashboard_metrics(body: dict[str, Any]) -> list[list[Any]]:
    found = []
    for widget in body["widgets"]:
        for metric in widget.get("properties", {}).get("metrics", []):
            parts = [part for part in metric if not isinstance(part, dict)]
            if parts:  # [{"expression": ...}] is a search, not a metric
                found.append(parts)
    return found


def _app_env(sam: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = sam["Globals"]["Function"]["Environment"]["Variables"]
    return env


def test_dashboard_references_only_what_the_stack_has(
    cfn: dict[str, Any], sam: dict[str, Any]
) -> None:
    _body, names = _dashboard(cfn)
    for name in names:
        logical = name.split(".")[0]
        assert (
            logical in cfn["Resources"]
            or logical in sam["Parameters"]
            or logical.startswith("AWS::")
        ), name


def test_dashboard_shows_traffic_functions_stream_queues_and_app_metrics(
    cfn: dict[str, Any], sam: dict[str, Any]
) -> None:
    from chatcore.observability import METRICS

    body, _ = _dashboard(cfn)
    metrics = _dashboard_metrics(body)
    by_name: dict[tuple[str, str], list[list[Any]]] = {}
    for metric in metrics:
        by_name.setdefault((metric[0], metric[1]), []).append(metric)
    api = ["ApiId", "WebSocketApi", "Stage", "StageName"]
    for name in ("ConnectCount", "MessageCount", "IntegrationError"):
        assert [m[2:] for m in by_name[("AWS/ApiGateway", name)]] == [api]
    for name in ("Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions"):
        functions = {m[3] for m in by_name[("AWS/Lambda", name)] if len(m) > 2}
        assert functions == set(FUNCTIONS), name
    assert [m[3] for m in by_name[("AWS/Lambda", "IteratorAge")]] == ["BroadcastFunction"]
    queues = {m[3] for m in by_name[("AWS/SQS", "ApproximateNumberOfMessagesVisible")]}
    assert queues == {f"{q}.QueueName" for q in _of_type(cfn, "AWS::SQS::Queue")}
    # The app's own metrics, under the namespace and service dimension the functions use.
    env = _app_env(sam)
    app = {m[1] for m in metrics if m[0] == env["POWERTOOLS_METRICS_NAMESPACE"]}
    assert app <= METRICS
    assert {"MessagesStored", "Deliveries", "GoneConnections", "ThrottledPosts"} <= app
    assert {"DeliveryLatency"} <= app
    for metric in metrics:
        if metric[0] == env["POWERTOOLS_METRICS_NAMESPACE"]:
            assert metric[2:] == ["service", env["POWERTOOLS_SERVICE_NAME"]]
    widgets = json.dumps(body)
    assert (
        'MetricName=\\"RejectedFrames\\"' in widgets and "{ServerlessChat,code,service}" in widgets
    )
    stats = {
        part.get("stat")
        for w in body["widgets"]
        for m in w.get("properties", {}).get("metrics", [])
        for part in m
        if isinstance(part, dict)
    }
    assert "p99" in stats


EXPECTED_ALARMS = {
    "FunctionErrorsAlarm",
    "FunctionThrottlesAlarm",
    "BroadcastIteratorAgeAlarm",
    "FanoutDeadLetterAlarm",
    "BroadcastFailureAlarm",
    "ApiIntegrationErrorsAlarm",
    "ConnectionsThrottlingAlarm",
    "DeliveryLatencyAlarm",
    "HttpFunctionErrorsAlarm",
    "HttpFunctionThrottlesAlarm",
    "HttpApiServerErrorsAlarm",
}


def _alarm_metrics(alarm: dict[str, Any]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    props = alarm["Properties"]
    if "Metrics" in props:
        return [
            (
                q["MetricStat"]["Metric"]["Namespace"],
                q["MetricStat"]["Metric"]["MetricName"],
                q["MetricStat"]["Metric"]["Dimensions"],
            )
            for q in props["Metrics"]
            if "MetricStat" in q
        ]
    return [(props["Namespace"], props["MetricName"], props["Dimensions"])]


def test_every_alarm_notifies_the_topic_and_says_what_to_do(cfn: dict[str, Any]) -> None:
    alarms = _of_type(cfn, "AWS::CloudWatch::Alarm")
    assert set(alarms) == EXPECTED_ALARMS
    (topic,) = (k for k, r in _of_type(cfn, "AWS::SNS::Topic").items() if "Alarm" in k)
    for logical_id, alarm in alarms.items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": topic}], logical_id
        assert props["OKActions"] == [{"Ref": topic}], logical_id
        description = props["AlarmDescription"]
        # What happened, and where to look or what to change: more than a restated name.
        assert len(description) > 120, logical_id
        verbs = ("Look", "Check", "Open", "Read", "Compare")
        assert any(verb in description for verb in verbs), logical_id
        for _namespace, _name, dimensions in _alarm_metrics(alarm):
            for dimension in dimensions:
                value = dimension["Value"]
                if isinstance(value, dict):
                    target = value.get("Ref") or value["Fn::GetAtt"][0]
                    known = target in cfn["Resources"] or target in cfn["Parameters"]
                    assert known, (logical_id, value)


def test_alarms_watch_the_failures_that_lose_or_delay_messages(
    cfn: dict[str, Any], sam: dict[str, Any]
) -> None:
    from chatcore.observability import METRICS

    alarms = _of_type(cfn, "AWS::CloudWatch::Alarm")
    watched = {k: _alarm_metrics(a) for k, a in alarms.items()}

    def functions_of(alarm: str, metric: str) -> set[str]:
        return {d[0]["Value"]["Ref"] for ns, name, d in watched[alarm] if name == metric}

    # The authorizer's errors are refused tokens: alarming on them would page on every bad login.
    errors = functions_of("FunctionErrorsAlarm", "Errors")
    errors |= functions_of("HttpFunctionErrorsAlarm", "Errors")
    assert errors == set(FUNCTIONS) - {"AuthorizerFunction"}
    throttles = functions_of("FunctionThrottlesAlarm", "Throttles")
    # At most 10 metrics per alarm: the HTTP API's functions are watched by their own.
    assert throttles | functions_of("HttpFunctionThrottlesAlarm", "Throttles") == set(FUNCTIONS)
    assert watched["HttpApiServerErrorsAlarm"][0][:2] == ("AWS/ApiGateway", "5xx")
    assert alarms["FunctionErrorsAlarm"]["Properties"]["Metrics"][-1]["ReturnData"] is True
    queues = {
        d[0]["Value"]["Fn::GetAtt"][0]
        for k in ("FanoutDeadLetterAlarm", "BroadcastFailureAlarm")
        for _, _, d in watched[k]
    }
    assert queues == {"FanoutDeadLetterQueue", "BroadcastFailureQueue"}
    assert watched["BroadcastIteratorAgeAlarm"][0][1] == "IteratorAge"
    assert watched["ApiIntegrationErrorsAlarm"][0][:2] == ("AWS/ApiGateway", "IntegrationError")
    env = _app_env(sam)
    for name, metric in (
        ("ConnectionsThrottlingAlarm", "ThrottledPosts"),
        ("DeliveryLatencyAlarm", "DeliveryLatency"),
    ):
        ((namespace, metric_name, dims),) = watched[name]
        assert (namespace, metric_name) == (env["POWERTOOLS_METRICS_NAMESPACE"], metric)
        assert metric in METRICS
        assert dims == [{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}]
    latency = alarms["DeliveryLatencyAlarm"]["Properties"]
    assert latency["ExtendedStatistic"] == "p99"
    assert latency["Threshold"] == {"Ref": "DeliveryLatencyAlarmMs"}
    # The mail subscription exists only when an address is given.
    (mail,) = (
        s
        for s in _of_type(cfn, "AWS::SNS::Subscription").values()
        if s["Properties"]["Protocol"] == "email"
    )
    assert mail["Condition"] == "MailsAlarms"
    assert sam["Conditions"]["MailsAlarms"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]
    }


def _evaluate(expression: Any, parameters: dict[str, str], conditions: dict[str, Any]) -> Any:
    """The few condition functions the operations conditions use, as CloudFormation does."""
    if isinstance(expression, dict):
        ((name, arg),) = expression.items()
        if name == "Ref":
            return parameters[arg]
        if name == "Condition":
            return _evaluate(conditions[arg], parameters, conditions)
        values = [_evaluate(a, parameters, conditions) for a in arg]
        if name == "Fn::Equals":
            return str(values[0]) == str(values[1])
        if name == "Fn::Not":
            return not values[0]
        raise AssertionError(f"unexpected {name} in a condition")
    return expression


@pytest.mark.parametrize(("count", "on"), [("0", False), ("2", True)])
def test_provisioned_concurrency_switches_the_api_to_the_alias(
    cfn: dict[str, Any], sam: dict[str, Any], count: str, on: bool
) -> None:
    condition = sam["Conditions"]["HasProvisionedConcurrency"]
    assert _evaluate(condition, {"ProvisionedConcurrency": count}, sam["Conditions"]) is on
    assert sam["Parameters"]["ProvisionedConcurrency"]["Default"] == 0
    taken = {"HasProvisionedConcurrency": on}
    resources = cfn["Resources"]
    for function in PC_FUNCTIONS:
        alias = resources[f"{function}Aliaslive"]
        assert alias["Type"] == "AWS::Lambda::Alias"
        config = _when(alias["Properties"]["ProvisionedConcurrencyConfig"], taken)
        if on:
            assert config == {"ProvisionedConcurrentExecutions": {"Ref": "ProvisionedConcurrency"}}
        else:
            assert config == {"Ref": "AWS::NoValue"}
    target = "{}Aliaslive" if on else "{}"
    routes = _websocket(_of_type(cfn, "AWS::ApiGatewayV2::Route")).values()
    for route in routes:
        key = route["Properties"]["RouteKey"]
        if ROUTES[key] in PC_FUNCTIONS:
            invoked = _function_of_integration(cfn, route["Properties"]["Target"], taken)
            assert invoked == target.format(ROUTES[key]), key
    uri = _when(resources["ConnectAuthorizer"]["Properties"]["AuthorizerUri"], taken)["Fn::Sub"]
    assert ("${AuthorizerFunctionAliaslive}" if on else "${AuthorizerFunction.Arn}") in uri
    # Each route the alias serves has its own permission, present exactly when the alias is used.
    alias_permissions = {
        p["Properties"]["SourceArn"]["Fn::Sub"].rsplit("/", 1)[-1]: p
        for p in _of_type(cfn, "AWS::Lambda::Permission").values()
        if p.get("Condition") == "HasProvisionedConcurrency"
    }
    expected = {k for k, f in ROUTES.items() if f in PC_FUNCTIONS} | {"${ConnectAuthorizer}"}
    assert set(alias_permissions) == expected
    for key, permission in alias_permissions.items():
        function = "AuthorizerFunction" if key == "${ConnectAuthorizer}" else ROUTES[key]
        assert permission["Properties"]["FunctionName"] == {"Ref": f"{function}Aliaslive"}


def test_tracing_follows_the_tracing_mode_parameter(
    cfn: dict[str, Any], sam: dict[str, Any]
) -> None:
    assert sam["Parameters"]["TracingMode"]["AllowedValues"] == ["Active", "PassThrough"]
    for function in _of_type(cfn, "AWS::Lambda::Function").values():
        props = function["Properties"]
        assert props["TracingConfig"] == {"Mode": {"Ref": "TracingMode"}}
        # Lambda sets AWS_XRAY_* in every function: this flag is what keeps the SDK unloaded.
        assert props["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"] == {
            "Fn::If": ["TracesActive", "false", "true"]
        }


@pytest.mark.parametrize("count", ["0", "2"])
def test_the_local_stack_runs_the_template_with_or_without_provisioned_concurrency(
    count: str,
) -> None:
    from local.template import load_stack

    stack = load_stack(TEMPLATE, parameter_overrides={"ProvisionedConcurrency": count})
    assert set(stack.functions) == set(FUNCTIONS)
    # Locally an alias is its function: the routes and the authorizer reach the same functions.
    (api,) = stack.websocket_apis
    assert {key: route.function for key, route in api.routes.items()} == ROUTES
    connect = api.routes["$connect"].authorizer
    assert connect is not None and connect.function == "AuthorizerFunction"
    alias = stack.resources["ChatFunctionAliaslive"]
    assert alias.physical_id == stack.functions["ChatFunction"].arn
    # Alias permissions exist only with provisioned concurrency; the mail subscription not at all.
    assert ("SendAliasPermission" in stack.resources) is (count != "0")
    assert "AlarmEmailSubscription" not in stack.resources
    assert "dashboards:name=" in stack.outputs["DashboardUrl"]


# --------------------------------------------------------------------------------------------------
# Attachments
# --------------------------------------------------------------------------------------------------

BUCKET_NAME = "${AWS::StackName}-attachments-${AWS::AccountId}-${AWS::Region}"
BUCKET_ARN = f"arn:${{AWS::Partition}}:s3:::{BUCKET_NAME}"


def _s3_grants(cfn: dict[str, Any]) -> dict[str, dict[str, list[Any]]]:
    """role -> S3 action -> the resources it is granted on."""
    grants: dict[str, dict[str, list[Any]]] = {}
    for logical_id, role in _of_type(cfn, "AWS::IAM::Role").items():
        for statement in _statements(role):
            for action in _as_list(statement["Action"]):
                if action.startswith("s3:"):
                    grants.setdefault(logical_id, {}).setdefault(action, []).extend(
                        _as_list(statement["Resource"])
                    )
    return grants


def test_attachments_bucket_is_private_encrypted_tls_only_and_expires_what_is_unused(
    cfn: dict[str, Any],
) -> None:
    bucket = cfn["Resources"]["AttachmentsBucket"]
    props = bucket["Properties"]
    assert props["BucketName"] == {"Fn::Sub": BUCKET_NAME}
    assert bucket["DeletionPolicy"] == "Retain"
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    (encryption,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    (cors,) = props["CorsConfiguration"]["CorsRules"]
    assert set(cors["AllowedMethods"]) == {"POST", "GET", "HEAD"}
    # The browser origins are the WebSocket's: one parameter for both.
    assert "AllowedOrigins" in json.dumps(cors["AllowedOrigins"])
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    assert rules["unreferenced-uploads"]["TagFilters"] == [{"Key": "referenced", "Value": "false"}]
    assert rules["unreferenced-uploads"]["ExpirationInDays"] == 1
    assert rules["retention"]["ExpirationInDays"] == {"Ref": "MessageRetentionDays"}
    assert all(r["Status"] == "Enabled" for r in rules.values())
    (policy,) = _of_type(cfn, "AWS::S3::BucketPolicy").values()
    assert policy["Properties"]["Bucket"] == {"Ref": "AttachmentsBucket"}
    (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert {"Fn::Sub": "${AttachmentsBucket.Arn}/*"} in deny["Resource"]


def test_s3_rights_are_the_few_each_function_needs_on_the_attachments_bucket(
    cfn: dict[str, Any],
) -> None:
    objects = {"Fn::Sub": f"{BUCKET_ARN}/rooms/*"}
    assert _s3_grants(cfn) == {
        # Pre-signed URLs carry the signer's rights: POST needs PutObject, GET GetObject.
        "AttachmentsFunctionRole": {"s3:PutObject": [objects], "s3:GetObject": [objects]},
        "AttachmentCheckFunctionRole": {
            "s3:GetObject": [{"Fn::Sub": f"{BUCKET_ARN}/*"}],
            "s3:DeleteObject": [{"Fn::Sub": f"{BUCKET_ARN}/*"}],
            "s3:PutObjectTagging": [{"Fn::Sub": f"{BUCKET_ARN}/*"}],
        },
        "ChatFunctionRole": {"s3:PutObjectTagging": [objects]},
        "HttpFunctionRole": {"s3:PutObjectTagging": [objects]},
    }


def test_functions_name_the_bucket_the_template_creates(cfn: dict[str, Any]) -> None:
    for name in ("ChatFunction", "HttpFunction", "AttachmentsFunction", "AttachmentCheckFunction"):
        variables = cfn["Resources"][name]["Properties"]["Environment"]["Variables"]
        assert variables["ATTACHMENTS_BUCKET"] == {"Fn::Sub": BUCKET_NAME}, name
    variables = cfn["Resources"]["AttachmentsFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["MAX_ATTACHMENT_BYTES"] == {"Ref": "MaxAttachmentBytes"}
    assert variables["ATTACHMENT_TYPES"] == {"Ref": "AttachmentTypes"}


def test_object_created_under_rooms_runs_the_check(cfn: dict[str, Any]) -> None:
    bucket = cfn["Resources"]["AttachmentsBucket"]
    (config,) = bucket["Properties"]["NotificationConfiguration"]["LambdaConfigurations"]
    assert config["Function"] == {"Fn::GetAtt": ["AttachmentCheckFunction", "Arn"]}
    assert config["Event"] == "s3:ObjectCreated:*"
    assert config["Filter"] == {"S3Key": {"Rules": [{"Name": "prefix", "Value": "rooms/"}]}}
    permission = cfn["Resources"][bucket["DependsOn"][0]]["Properties"]
    assert permission["Principal"] == "s3.amazonaws.com"
    assert permission["FunctionName"] == {"Ref": "AttachmentCheckFunction"}
