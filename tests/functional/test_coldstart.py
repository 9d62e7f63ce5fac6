"""Cold start: every handler imports with nothing but a region, and imports nothing it may not need.

Each import runs in a fresh interpreter, the way Lambda's init phase (and the local stack's
worker) runs it: the function's directory as the working directory, the layer on the path. No
figure is asserted here (``python -m bench.coldstart`` measures them); what is asserted is what a
cold start loads: no botocore or boto3 (clients come on first use), no X-Ray SDK unless tracing is
on, PyJWT only in the authorizer.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer as BotoDeserializer
from boto3.dynamodb.types import TypeSerializer as BotoSerializer

from bench.coldstart import parse_importtime
from chatcore.dynamodb_types import TypeDeserializer, TypeSerializer
from chatcore.observability import delivery_latencies, tracing_enabled

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "chatcore" / "python"
FUNCTIONS = sorted(p.name for p in (ROOT / "functions").iterdir() if (p / "app.py").is_file())

_PROBE = """
import json, sys
import app
from chatcore import clients, observability
# botocore.exceptions is cheap and imported for its classes; its session and clients are not.
heavy = ("boto3", "botocore.session", "botocore.client", "s3transfer", "urllib3",
         "aws_xray_sdk", "jwt", "cryptography")
print(json.dumps({
    "loaded": sorted(m for m in heavy if m in sys.modules),
    "clients": clients.dynamodb.cache_info().currsize + clients.session.cache_info().currsize,
    "tracer": observability.tracer is not None,
    "handler": callable(app.handler),
}))
"""


def _import(function: str, **env: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=ROOT / "functions" / function,
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1", "PYTHONPATH": str(LAYER)}
        | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


@pytest.mark.parametrize("function", FUNCTIONS)
def test_handler_imports_with_only_a_region_and_creates_no_client(function: str) -> None:
    result = _import(function)
    assert result["handler"] is True
    assert result["clients"] == 0
    assert result["tracer"] is False
    # Heavy modules wait for the request that needs them.
    assert result["loaded"] == []


def test_provisioned_concurrency_init_builds_the_client_ahead_of_traffic() -> None:
    # Lambda runs a provisioned environment's init before any request: spend it there.
    result = _import("chat", AWS_LAMBDA_INITIALIZATION_TYPE="provisioned-concurrency")
    assert result["clients"] == 2  # the session and the DynamoDB client
    assert "botocore.client" in result["loaded"] and "boto3" not in result["loaded"]
    authorizer = _import("authorizer", AWS_LAMBDA_INITIALIZATION_TYPE="provisioned-concurrency")
    assert "jwt" in authorizer["loaded"]


def test_active_tracing_loads_the_xray_tracer() -> None:
    result = _import(
        "connect",
        AWS_LAMBDA_FUNCTION_NAME="chat-connect",
        AWS_XRAY_DAEMON_ADDRESS="127.0.0.1:2000",
    )
    assert result["tracer"] is True
    assert "aws_xray_sdk" in result["loaded"]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),  # tests, the local stack: not Lambda
        ({"AWS_LAMBDA_FUNCTION_NAME": "f"}, False),  # Lambda, but no daemon to send to
        ({"AWS_LAMBDA_FUNCTION_NAME": "f", "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000"}, True),
        ({"AWS_LAMBDA_FUNCTION_NAME": "f", "_X_AMZN_TRACE_ID": "Root=1-a-b;Sampled=1"}, True),
        (
            {
                "AWS_LAMBDA_FUNCTION_NAME": "f",
                "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
                "POWERTOOLS_TRACE_DISABLED": "true",  # what TracingMode=PassThrough sets
            },
            False,
        ),
        (
            {
                "AWS_LAMBDA_FUNCTION_NAME": "f",
                "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
                "AWS_SAM_LOCAL": "true",
            },
            False,
        ),
    ],
)
def test_tracing_is_on_only_where_xray_listens(env: dict[str, str], expected: bool) -> None:
    assert tracing_enabled(env) is expected


VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -17,
    10**30,
    Decimal("3.14159"),
    "",
    "héllo",
    b"\x00\x01",
    bytearray(b"ab"),
    [1, "a", None, [True]],
    {"a": {"b": [Decimal("1.5"), "x"]}, "n": 7},
    {"x", "y"},
    {1, 2, Decimal("3.5")},
    {b"a", b"b"},
    set(),
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_attribute_values_match_boto3(value: Any) -> None:
    ours = TypeSerializer().serialize(value)
    theirs = BotoSerializer().serialize(value)
    if isinstance(value, set):
        # Set order is arbitrary on both sides.
        ((kind, items),) = ours.items()
        assert {kind: sorted(items)} == {k: sorted(v) for k, v in theirs.items()}
    else:
        assert ours == theirs
    back = TypeDeserializer().deserialize(theirs)
    expected = BotoDeserializer().deserialize(theirs)
    if isinstance(value, bytes | bytearray):
        assert back == expected.value  # boto3 wraps bytes in its Binary class
    elif isinstance(value, set) and all(isinstance(v, bytes) for v in value):
        assert back == {b.value for b in expected}
    else:
        assert back == expected


@pytest.mark.parametrize("bad", [1.5, {1.5}, {1, "a"}, object()], ids=repr)
def test_attribute_values_refuse_what_boto3_refuses(bad: Any) -> None:
    with pytest.raises(TypeError):
        BotoSerializer().serialize(bad)
    with pytest.raises(TypeError):
        TypeSerializer().serialize(bad)


def test_delivery_latency_is_measured_from_the_stored_timestamp() -> None:
    images = [{"ts": 1_000}, {"ts": {"N": "1500"}}, {"text": "no ts"}, {"ts": 2_500}]
    assert delivery_latencies(images, now_ms=2_000) == [1_000, 500, 0]


def test_importtime_parser_reads_the_app_line_and_its_children() -> None:
    stderr = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:       100 |        100 | site",
            "import time:        50 |       5000 |     botocore.utils",
            "import time:       200 |       9000 |   botocore",
            "import time:       300 |       1300 |   chatcore.config",
            "import time:      1000 |      11300 | app",
        ]
    )
    total, children = parse_importtime(stderr)
    assert total == pytest.approx(11.3)
    assert children == [("botocore", 9.0), ("chatcore.config", 1.3)]
