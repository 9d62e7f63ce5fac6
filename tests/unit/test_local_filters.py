"""EventBridge-style pattern matching, as Lambda's FilterCriteria and SNS filter policies use it."""

from __future__ import annotations

import pytest

from local.sources.filters import FilterError, matches, matches_any, parse_filter_criteria

MESSAGE_INSERT = {
    "eventName": "INSERT",
    "eventSource": "aws:dynamodb",
    "dynamodb": {
        "Keys": {"pk": {"S": "ROOM#lobby"}, "seq": {"N": "7"}},
        "NewImage": {
            "pk": {"S": "ROOM#lobby"},
            "kind": {"S": "message"},
            "text": {"S": "hi"},
        },
    },
}


def test_exact_values_in_nested_dynamodb_images() -> None:
    pattern = {"eventName": ["INSERT"], "dynamodb": {"NewImage": {"kind": {"S": ["message"]}}}}
    assert matches(pattern, MESSAGE_INSERT)
    counter = {**MESSAGE_INSERT, "dynamodb": {"NewImage": {"kind": {"S": "counter"}}}}
    assert not matches(pattern, counter)
    assert not matches(pattern, {**MESSAGE_INSERT, "eventName": "MODIFY"})


def test_alternatives_are_ored_and_keys_anded() -> None:
    pattern = {"eventName": ["INSERT", "MODIFY"], "eventSource": ["aws:dynamodb"]}
    assert matches(pattern, {"eventName": "MODIFY", "eventSource": "aws:dynamodb"})
    assert not matches(pattern, {"eventName": "MODIFY", "eventSource": "aws:sqs"})


def test_missing_key_never_matches_a_value() -> None:
    assert not matches({"dynamodb": {"NewImage": {"kind": {"S": ["message"]}}}}, {"eventName": "X"})


def test_prefix_and_suffix() -> None:
    pk = {"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "ROOM#"}]}}}}
    assert matches(pk, MESSAGE_INSERT)
    assert not matches({"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "REF#"}]}}}}, MESSAGE_INSERT)
    assert matches({"name": [{"suffix": ".png"}]}, {"name": "cat.png"})
    assert not matches({"name": [{"suffix": ".png"}]}, {"name": "cat.jpg"})


def test_numeric_ranges() -> None:
    pattern = {"price": [{"numeric": [">", 10, "<=", 20]}]}
    assert matches(pattern, {"price": 20})
    assert matches(pattern, {"price": 10.5})
    assert not matches(pattern, {"price": 10})
    assert not matches(pattern, {"price": "15"})  # a string is not a number
    assert matches({"n": [{"numeric": ["=", 3]}]}, {"n": 3.0})


def test_exists_true_and_false() -> None:
    assert matches({"dynamodb": {"NewImage": {"text": [{"exists": True}]}}}, MESSAGE_INSERT)
    assert not matches({"dynamodb": {"NewImage": {"gone": [{"exists": True}]}}}, MESSAGE_INSERT)
    assert matches({"dynamodb": {"NewImage": {"gone": [{"exists": False}]}}}, MESSAGE_INSERT)
    assert not matches({"dynamodb": {"NewImage": {"text": [{"exists": False}]}}}, MESSAGE_INSERT)
    # The object holding the key is itself absent (e.g. OldImage on an INSERT).
    assert matches({"dynamodb": {"OldImage": {"kind": [{"exists": False}]}}}, MESSAGE_INSERT)


def test_anything_but() -> None:
    assert matches({"kind": [{"anything-but": "counter"}]}, {"kind": "message"})
    assert not matches({"kind": [{"anything-but": ["counter", "ref"]}]}, {"kind": "ref"})
    assert not matches({"kind": [{"anything-but": "counter"}]}, {})  # absent is not "anything"
    assert not matches({"pk": [{"anything-but": {"prefix": "REF#"}}]}, {"pk": "REF#u#1"})
    assert matches({"pk": [{"anything-but": {"prefix": "REF#"}}]}, {"pk": "ROOM#a"})


def test_equals_ignore_case_wildcard_and_literals() -> None:
    assert matches({"c": [{"equals-ignore-case": "BLUE"}]}, {"c": "blue"})
    assert matches({"f": [{"wildcard": "room-*-log"}]}, {"f": "room-7-log"})
    assert matches({"flag": [True]}, {"flag": True})
    assert not matches({"flag": [True]}, {"flag": 1})
    assert matches({"v": [None]}, {"v": None})


def test_array_values_match_when_any_element_does() -> None:
    assert matches({"tags": ["urgent"]}, {"tags": ["low", "urgent"]})
    assert not matches({"tags": ["urgent"]}, {"tags": ["low"]})


def test_filter_criteria_are_ored_and_empty_criteria_pass_everything() -> None:
    criteria = {
        "Filters": [
            {"Pattern": '{"eventName": ["REMOVE"]}'},
            {"Pattern": '{"dynamodb": {"NewImage": {"kind": {"S": ["message"]}}}}'},
        ]
    }
    patterns = parse_filter_criteria(criteria)
    assert matches_any(patterns, MESSAGE_INSERT)
    assert matches_any(patterns, {"eventName": "REMOVE"})
    assert not matches_any(patterns, {"eventName": "MODIFY"})
    assert matches_any(parse_filter_criteria(None), {"anything": 1})


def test_invalid_patterns_are_refused() -> None:
    with pytest.raises(FilterError):
        matches({"a": "not-a-list"}, {"a": "x"})
    with pytest.raises(FilterError):
        matches({"a": [{"numeric": [">"]}]}, {"a": 1})
    with pytest.raises(FilterError):
        matches({"a": [{"regex": "x"}]}, {"a": "x"})
    with pytest.raises(FilterError):
        parse_filter_criteria({"Filters": [{"Pattern": "[1]"}]})
