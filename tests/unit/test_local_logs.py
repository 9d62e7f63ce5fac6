"""The stack log: tags, text and JSON formats, access lines, handlers' JSON passed through."""

from __future__ import annotations

import io
import json
from typing import Any

from local.logs import Log


def test_text_lines_carry_source_and_request_id_without_colour_off_a_terminal() -> None:
    out = io.StringIO()
    log = Log(out)
    log.info("ChatFunction", "hello", request_id="rid-1")

    line = out.getvalue()
    assert "ChatFunction" in line and "[rid-1]" in line and line.rstrip().endswith("hello")
    assert "\x1b[" not in line


def test_json_format_is_one_object_per_line() -> None:
    out = io.StringIO()
    log = Log(out, fmt="json")
    log.error("stream:Broadcast", "gave up", request_id="r2", records=3)
    log.access("message", "send", 200, 12.345, "abc=")

    first, second = (json.loads(x) for x in out.getvalue().splitlines())
    assert first["source"] == "stream:Broadcast" and first["level"] == "error"
    assert first["request_id"] == "r2" and first["records"] == 3 and first["message"] == "gave up"
    assert second["source"] == "gateway" and second["access"] == "message"
    assert second["route"] == "send" and second["status"] == 200
    assert second["latency_ms"] == 12.345 and second["connection_id"] == "abc="


def test_handler_json_lines_are_parsed_and_retagged() -> None:
    out = io.StringIO()
    log = Log(out, fmt="json")
    line = json.dumps({"level": "WARNING", "message": "slow", "service": "chat"})
    log.handler_output("ChatFunction", line + "\n", request_id="r3")
    log.handler_output("ChatFunction", "plain print", request_id="r3")

    structured, plain = (json.loads(x) for x in out.getvalue().splitlines())
    assert structured["message"] == "slow" and structured["service"] == "chat"
    assert structured["source"] == "ChatFunction" and structured["request_id"] == "r3"
    assert plain["message"] == "plain print" and plain["level"] == "info"


def test_handler_json_lines_read_well_as_text_and_levels_filter() -> None:
    out = io.StringIO()
    log = Log(out, level="warning")
    log.handler_output("Fn", json.dumps({"level": "INFO", "message": "quiet"}), request_id=None)
    log.handler_output(
        "Fn", json.dumps({"level": "ERROR", "message": "loud", "k": 1}), request_id=None
    )
    log.debug("Fn", "hidden")

    text = out.getvalue()
    assert "quiet" not in text and "hidden" not in text
    assert 'ERROR loud {"k":1}' in text


def test_colour_when_asked_for() -> None:
    out = io.StringIO()
    Log(out, color=True).error("gateway", "bad")
    assert "\x1b[31m" in out.getvalue()


def test_text_format_leaves_out_what_every_powertools_line_repeats() -> None:
    line = json.dumps(
        {
            "level": "INFO",
            "message": "connected",
            "location": "handler:31",
            "service": "chat",
            "cold_start": False,
            "function_name": "local-ConnectFunction-X",
            "function_arn": "arn:aws:lambda:us-east-1:1:function:local-ConnectFunction-X",
            "function_memory_size": 256,
            "connection_id": "abc=",
        }
    )
    text, js = io.StringIO(), io.StringIO()
    Log(text).handler_output("ConnectFunction", line, request_id="r4")
    Log(js, fmt="json").handler_output("ConnectFunction", line, request_id="r4")

    shown = text.getvalue()
    assert shown.rstrip().endswith('INFO connected {"connection_id":"abc="}'), shown
    assert "function_arn" not in shown and "handler:31" not in shown
    # Machines still get everything the handler wrote.
    assert json.loads(js.getvalue())["function_arn"].endswith("local-ConnectFunction-X")


ERROR = {
    "errorType": "ValueError",
    "errorMessage": "boom: bad input",
    "stackTrace": ['  File "app.py", line 3, in handler\n', "    explode()\n"],
}


def test_a_function_error_is_one_line_and_its_stack_waits_for_debug() -> None:
    out = io.StringIO()
    Log(out, level="info").function_error("ChatFunction", ERROR, request_id="r1")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith("ChatFunction         [r1] ValueError: boom: bad input")
    debug = io.StringIO()
    Log(debug, level="debug").function_error("ChatFunction", ERROR, request_id="r1")
    text = debug.getvalue()
    assert "Traceback (most recent call last):" in text and "in handler" in text


def test_an_authorizers_unauthorized_is_a_refusal_at_info() -> None:
    out = io.StringIO()
    log = Log(out, level="info")
    refusal = {"errorType": "Unauthorized", "errorMessage": "Unauthorized", "stackTrace": ["x\n"]}
    records: list[Any] = []
    log.add_listener(records.append)
    log.function_error("AuthorizerFunction", refusal, request_id="r2", refusal=True)
    assert [(r.level, r.message) for r in records] == [("info", "refused: Unauthorized")]
    assert out.getvalue().count("\n") == 1
    # Anything else an authorizer raises is an error like any other function's.
    log.function_error("AuthorizerFunction", ERROR, request_id="r3", refusal=True)
    assert records[-2].level == "error"
