"""Intrinsic functions on their own: what they refuse, and the path they name when they do."""

from __future__ import annotations

from typing import Any

import pytest

from local.intrinsics import NO_VALUE, IntrinsicError, Resolver


def _resolver(conditions: dict[str, Any] | None = None) -> Resolver:
    def ref_resource(name: str) -> str:
        return f"physical-{name}"

    def get_att(name: str, attribute: str) -> str:
        if attribute != "Arn":
            raise LookupError(f"{name} has no attribute {attribute!r}")
        return f"arn:{name}"

    return Resolver(
        parameters={"Env": "dev", "Zones": ["a", "b"]},
        pseudo={"AWS::Region": "us-east-1"},
        mappings={"M": {"dev": {"Size": 1}}},
        conditions=conditions or {},
        is_resource=lambda name: name == "Queue",
        ref_resource=ref_resource,
        get_att=get_att,
        region="us-east-1",
    )


def test_no_value_removes_keys_and_list_items() -> None:
    resolved = _resolver().resolve(
        {"a": {"Ref": "AWS::NoValue"}, "b": [1, {"Ref": "AWS::NoValue"}, 2]}, "P"
    )
    assert resolved == {"b": [1, 2]}
    assert _resolver().resolve({"Ref": "AWS::NoValue"}, "P") is NO_VALUE


def test_sub_reaches_parameters_resources_attributes_and_its_own_variables() -> None:
    text = "${Env}/${Queue}/${Queue.Arn}/${AWS::Region}/${x}/${!Env}"
    value = _resolver().resolve(
        {"Fn::Sub": [text, {"x": {"Fn::Select": [1, {"Ref": "Zones"}]}}]}, "P"
    )
    assert value == "dev/physical-Queue/arn:Queue/us-east-1/b/${Env}"


@pytest.mark.parametrize(
    ("expression", "path", "problem"),
    [
        ({"Fn::Select": [5, ["a"]]}, "P.x", "index 5 outside a list of 1"),
        ({"Fn::FindInMap": ["M", "prod", "Size"]}, "P.x", "Mappings has no M.prod.Size"),
        ({"Fn::Sub": "${Zones}"}, "P.x", "expected a string"),
        ({"Fn::GetAtt": ["Queue", "Url"]}, "P.x", "no attribute 'Url'"),
        ({"Fn::GetAtt": ["Nope", "Arn"]}, "P.x", "not a resource"),
        ({"Fn::If": ["Missing", 1, 2]}, "P.x", "unknown condition 'Missing'"),
        ({"Fn::Cidr": ["10.0.0.0/16", 2, 8]}, "P.x", "Fn::Cidr is not supported locally"),
        ({"Fn::Nope": 1}, "P.x", "unknown intrinsic function Fn::Nope"),
        ({"Ref": "AWS::NotificationARN"}, "P.x", "pseudo parameter"),
        ({"Fn::Join": [",", "not-a-list"]}, "P.x", "expected a list"),
    ],
)
def test_what_cannot_be_evaluated_names_the_property(
    expression: dict[str, Any], path: str, problem: str
) -> None:
    with pytest.raises(IntrinsicError) as caught:
        _resolver().resolve({"x": expression}, "P")
    assert caught.value.path == path
    assert problem in caught.value.problem


def test_conditions_that_refer_to_each_other_are_refused() -> None:
    resolver = _resolver({"A": {"Condition": "B"}, "B": {"Fn::Not": [{"Condition": "A"}]}})
    with pytest.raises(IntrinsicError, match="conditions refer to each other: A -> B -> A"):
        resolver.condition("A")


def test_equals_compares_as_cloudformation_does_with_strings() -> None:
    resolver = _resolver({"Five": {"Fn::Equals": ["5", 5]}, "Yes": {"Fn::Equals": [True, "true"]}})
    assert resolver.condition("Five") and resolver.condition("Yes")
