"""HTTP APIs in the template loader: SAM HttpApi, the implicit API, and ApiGatewayV2 HTTP.

The fixture app ``tests/fixtures/apps/httpapi/`` has all three; ``broken/http_*.yaml`` are
templates the local stack refuses, each naming the resource and property it cannot run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from local.model import CorsSpec, HttpApiSpec, TemplateError, ThrottleSpec
from local.template import (
    http_api_endpoint_mapping,
    load_local_config,
    load_stack,
    rewrite_endpoints,
)

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "tests" / "fixtures" / "apps" / "httpapi"
BROKEN = ROOT / "tests" / "fixtures" / "templates" / "broken"


@pytest.fixture(scope="module")
def apis() -> dict[str, HttpApiSpec]:
    stack = load_stack(APP / "template.yaml")
    assert stack.websocket_apis == []
    return {api.logical_id: api for api in stack.http_apis}


def test_every_kind_of_http_api_is_found(apis: dict[str, HttpApiSpec]) -> None:
    assert set(apis) == {"Api", "ServerlessHttpApi", "V2Api"}


def test_sam_http_api_routes_authorizers_cors_and_throttling(apis: dict[str, HttpApiSpec]) -> None:
    api = apis["Api"]
    routes = {r.route_key: r for r in api.routes}
    assert {"GET /items/{id}", "ANY /files/{proxy+}", "$default", "ANY /respond/{case}"} <= set(
        routes
    )
    assert routes["$default"].function == "InspectFunction"
    me, notify, keys = routes["GET /me"], routes["POST /notifications"], routes["GET /keys"]
    assert me.authorizer is not None and me.authorizer.type == "JWT"
    assert me.authorizer.issuer == "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example"
    assert me.authorizer.audience == ["fixture-client"]
    assert me.authorizer.identity_sources == ["$request.header.Authorization"]
    assert (me.scopes, notify.scopes) == ([], ["chat/notify"])
    assert keys.authorizer is not None
    assert (keys.authorizer.type, keys.authorizer.function) == ("REQUEST", "AuthorizerFunction")
    assert keys.authorizer.identity_sources == ["$request.header.X-Api-Key"]
    assert (keys.authorizer.simple_responses, keys.authorizer.ttl_seconds) == (True, 300)
    policies = routes["GET /policies"].authorizer
    assert policies is not None and policies.simple_responses is False
    assert routes["GET /slow"].timeout_ms == 1000
    assert routes["GET /items/{id}"].timeout_ms == 30000
    assert api.stage == "$default"
    assert api.cors == CorsSpec(
        allow_origins=("https://app.example.com",),
        allow_methods=("GET", "POST"),
        allow_headers=("authorization", "content-type"),
        expose_headers=("x-request-id",),
        max_age=600,
        allow_credentials=True,
    )
    assert api.default_throttle == ThrottleSpec(1000, 1000.0)
    assert api.route_throttles == {"GET /throttled": ThrottleSpec(2, 0.001)}


def test_events_without_api_id_make_the_implicit_api(apis: dict[str, HttpApiSpec]) -> None:
    implicit = apis["ServerlessHttpApi"]
    keys = [r.route_key for r in implicit.routes]
    assert keys == ["GET /hello/{name}", "POST /todos"]
    assert implicit.stage == "$default"


def test_api_gateway_v2_http_api_with_a_named_stage(apis: dict[str, HttpApiSpec]) -> None:
    v2 = apis["V2Api"]
    assert v2.stage == "v1"
    assert v2.stage_variables == {"flavour": "vanilla"}
    assert [r.function for r in v2.routes] == ["InspectFunction"] * 2
    # DefaultRouteSettings without limits: API Gateway's 0 / 0.
    assert v2.default_throttle == ThrottleSpec(0, 0.0)
    assert v2.route_throttles == {"GET /open": ThrottleSpec(50, 50.0)}


def test_the_http_api_endpoint_is_rewritten_to_the_local_port() -> None:
    stack = load_stack(APP / "template.yaml")
    api = next(a for a in stack.http_apis if a.logical_id == "Api")
    local = rewrite_endpoints(
        stack, http_api_endpoint_mapping(stack, api, base="http://127.0.0.1:3003/")
    )
    assert local.outputs["ApiUrl"] == "http://127.0.0.1:3003"


def test_a_quick_create_api_has_one_default_route_on_the_default_stage(tmp_path: Path) -> None:
    template = tmp_path / "quick.yaml"
    code = tmp_path / "src"
    code.mkdir()
    (code / "app.py").write_text("def handler(event, context):\n    return {}\n")
    template.write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Resources:\n"
        "  Fn:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties: {Runtime: python3.13, Handler: app.handler, CodeUri: src/}\n"
        "  Api:\n"
        "    Type: AWS::ApiGatewayV2::Api\n"
        "    Properties: {ProtocolType: HTTP, Target: !GetAtt Fn.Arn}\n"
    )
    (api,) = load_stack(template).http_apis
    assert (api.stage, [(r.route_key, r.function) for r in api.routes]) == (
        "$default",
        [("$default", "Fn")],
    )


@pytest.mark.parametrize(
    ("fixture", "resource", "prop", "problem"),
    [
        ("http_openapi", "Api", "DefinitionBody", "OpenAPI definitions are not emulated"),
        ("http_iam_route", "Route", "AuthorizationType", "AWS_IAM is not emulated"),
        ("http_payload_v1", "Fn", "Events.Get.Properties.PayloadFormatVersion", "1.0 is not"),
        ("http_unknown_authorizer", "Fn", "Events.Get.Properties.Auth.Authorizer", "'Missing'"),
        ("http_not_an_api", "Fn", "Events.Get.Properties.ApiId", "not an AWS::Serverless::Http"),
    ],
)
def test_http_apis_the_stack_cannot_run_fail_at_load(
    fixture: str, resource: str, prop: str, problem: str
) -> None:
    with pytest.raises(TemplateError) as caught:
        load_stack(BROKEN / f"{fixture}.yaml")
    assert (caught.value.resource, caught.value.prop) == (resource, prop)
    assert problem in caught.value.problem


def test_local_yaml_names_the_issuers_the_local_one_signs_for(tmp_path: Path) -> None:
    config = load_local_config(APP / "local.yaml")
    assert config.local_issuers == ["https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example"]
    bad = tmp_path / "local.yaml"
    bad.write_text("local_issuer:\n  issuers: {a: b}\n")
    with pytest.raises(Exception, match="local_issuer.issuers must be a list"):
        load_local_config(bad)
    bad.write_text("local_issuer:\n  issuer: x\n")
    with pytest.raises(Exception, match="unknown key local_issuer.issuer"):
        load_local_config(bad)


def test_the_implicit_api_takes_globals_and_can_be_referenced(tmp_path: Path) -> None:
    code = tmp_path / "src"
    code.mkdir()
    (code / "app.py").write_text("def handler(event, context):\n    return {}\n")
    template = tmp_path / "implicit.yaml"
    template.write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Globals:\n"
        "  HttpApi:\n"
        "    CorsConfiguration: true\n"
        "    StageName: prod\n"
        "Resources:\n"
        "  Fn:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      Runtime: python3.13\n"
        "      Handler: app.handler\n"
        "      CodeUri: src/\n"
        "      Environment:\n"
        "        Variables:\n"
        "          API: !Sub https://${ServerlessHttpApi}.execute-api.${AWS::Region}.amazonaws.com\n"
        "      Events:\n"
        "        Get: {Type: HttpApi, Properties: {Path: /x, Method: get}}\n"
    )
    stack = load_stack(template)
    (api,) = stack.http_apis
    assert api.logical_id == "ServerlessHttpApi"
    assert (api.stage, api.cors) == ("prod", CorsSpec(allow_origins=("*",)))
    assert [r.route_key for r in api.routes] == ["GET /x"]
    assert stack.functions["Fn"].environment["API"].startswith(f"https://{api.api_id}.")
