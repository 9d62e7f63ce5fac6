"""The Lambda emulation: real worker processes running the fixture handlers."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from local.runtime import Runtime
from local.template import load_stack
from tests.e2e.lambda_support import APPS, TIMEOUT, LogWatch, wait_for

BASE_ENV = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def watch() -> LogWatch:
    return LogWatch()


@pytest.fixture
async def runtime(watch: LogWatch, tmp_path: Path) -> AsyncIterator[Runtime]:
    stack = load_stack(
        APPS / "lambdas" / "template.yaml", parameter_overrides={"MarkDir": str(tmp_path)}
    )
    rt = Runtime(
        stack, base_env=BASE_ENV, log=watch.log, max_workers=4, async_retry_delays=(0.05, 0.05)
    )
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()


async def test_invoke_returns_payload_and_lambda_context(runtime: Runtime) -> None:
    result = await runtime.invoke("EchoFunction", {"hello": "world"})

    assert result.ok, result.error
    assert result.error is None
    assert result.payload["event"] == {"hello": "world"}
    ctx = result.payload["context"]
    assert ctx["aws_request_id"] == result.request_id
    fn = runtime.pool("EchoFunction").fn
    assert ctx["function_name"] == fn.name
    assert ctx["function_version"] == "$LATEST"
    assert ctx["invoked_function_arn"] == fn.arn
    assert ctx["invoked_function_arn"].endswith(f":function:{fn.name}")
    assert ctx["memory_limit_in_mb"] == 256  # from the template's Globals
    assert ctx["log_group_name"] == f"/aws/lambda/{fn.name}"
    assert "[$LATEST]" in ctx["log_stream_name"]
    # Timeout is 3 s: the remaining time counts down from there.
    assert 0 < ctx["remaining_ms"] <= 3000
    assert result.payload["cwd"] == str(runtime.pool("EchoFunction").fn.code_dir)
    assert result.payload["sys_path_head"][0] == str(runtime.pool("EchoFunction").fn.code_dir)


async def test_environment_is_the_functions_own(runtime: Runtime) -> None:
    names = [
        "ECHO_ONLY",
        "AWS_ENDPOINT_URL",
        "AWS_LAMBDA_FUNCTION_NAME",
        "_HANDLER",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "LAMBDA_TASK_ROOT",
        "AWS_EXECUTION_ENV",
        "HOME",
    ]
    os.environ["LEAKY_PARENT_VAR"] = "should-not-pass"
    try:
        echo, other = await asyncio.gather(
            runtime.invoke("EchoFunction", {"env": [*names, "LEAKY_PARENT_VAR"]}),
            runtime.invoke("OtherFunction", {"env": names}),
        )
    finally:
        del os.environ["LEAKY_PARENT_VAR"]

    assert echo.payload["env"]["ECHO_ONLY"] == "e"
    assert other.payload["env"]["ECHO_ONLY"] is None  # one function's variable, not another's
    assert echo.payload["env"]["LEAKY_PARENT_VAR"] is None  # nor the local stack's own
    assert echo.payload["env"]["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"
    assert echo.payload["env"]["AWS_LAMBDA_FUNCTION_NAME"] == runtime.pool("EchoFunction").fn.name
    assert other.payload["env"]["AWS_LAMBDA_FUNCTION_NAME"] == runtime.pool("OtherFunction").fn.name
    assert echo.payload["env"]["_HANDLER"] == "app.handler"
    assert echo.payload["env"]["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert echo.payload["env"]["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.13"
    assert echo.payload["env"]["LAMBDA_TASK_ROOT"].endswith("functions/echo")


async def test_cold_start_once_per_worker_then_warm(runtime: Runtime, watch: LogWatch) -> None:
    first = await runtime.invoke("EchoFunction", {})
    second = await runtime.invoke("EchoFunction", {})

    assert first.cold_start and not second.cold_start
    assert first.payload["pid"] == second.payload["pid"]  # the warm worker was reused
    colds = watch.matching(lambda r: r.source == "EchoFunction" and "cold start" in r.message)
    assert len(colds) == 1
    assert colds[0].request_id == first.request_id
    assert colds[0].fields["init_ms"] > 0


async def test_handler_output_is_logged_with_function_and_request_id(
    runtime: Runtime, watch: LogWatch
) -> None:
    result = await runtime.invoke("EchoFunction", {"n": 1})

    lines = watch.matching(
        lambda r: r.request_id == result.request_id and r.source == "EchoFunction"
    )
    texts = [r.message for r in lines]
    assert "echo got {'n': 1}" in texts
    assert "to stderr" in texts


async def test_handler_that_raises_gives_lambda_error_and_logged_traceback(
    runtime: Runtime, watch: LogWatch
) -> None:
    result = await runtime.invoke("FailFunction", {"why": "bad input"})

    assert not result.ok and result.payload is None
    assert result.error is not None
    assert result.error["errorType"] == "ValueError"
    assert result.error["errorMessage"] == "boom: bad input"
    assert any("in explode" in frame for frame in result.error["stackTrace"])
    errors = watch.matching(lambda r: r.level == "error" and r.request_id == result.request_id)
    assert errors and errors[0].source == "FailFunction"
    # One line at error level: the type and the message; the stack only at debug level.
    assert errors[0].message == "ValueError: boom: bad input"
    assert len(errors) == 1
    traces = watch.matching(lambda r: r.level == "debug" and r.request_id == result.request_id)
    assert any("Traceback" in r.message and "in explode" in r.message for r in traces)
    # The worker survives a handler error and serves the next invocation warm.
    again = await runtime.invoke("FailFunction", {})
    assert not again.cold_start


async def test_timeout_kills_the_worker_and_the_next_invocation_works(runtime: Runtime) -> None:
    first = await runtime.invoke("SlowFunction", {"seconds": 0})
    late = await runtime.invoke("SlowFunction", {"seconds": 30})

    assert not late.ok
    assert late.error is not None
    assert late.error["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert late.duration_ms < 1000 * TIMEOUT
    with pytest.raises(ProcessLookupError):
        os.kill(first.payload["pid"], 0)  # the timed-out process is gone
    after = await runtime.invoke("SlowFunction", {"seconds": 0})
    assert after.ok and after.cold_start
    assert after.payload["pid"] != first.payload["pid"]


async def test_reserved_concurrency_caps_concurrent_invocations(
    runtime: Runtime, tmp_path: Path
) -> None:
    # SlowFunction has ReservedConcurrentExecutions: 2.
    running = [
        asyncio.create_task(runtime.invoke("SlowFunction", {"seconds": 0.5, "mark": f"m{i}"}))
        for i in range(2)
    ]
    await wait_for(lambda: len(list(tmp_path.glob("start-*"))) == 2)
    third = await runtime.invoke("SlowFunction", {"seconds": 0})
    done = await asyncio.gather(*running)

    assert third.throttled and not third.ok
    assert third.error is not None and third.error["errorType"] == "TooManyRequestsException"
    assert all(r.ok for r in done)
    assert runtime.pool("SlowFunction").workers <= 2


async def test_reserved_concurrency_zero_always_throttles(runtime: Runtime) -> None:
    result = await runtime.invoke("ClosedFunction", {})

    assert result.throttled and not result.ok
    assert runtime.pool("ClosedFunction").workers == 0


async def test_pool_grows_so_concurrent_invocations_run_in_parallel(
    runtime: Runtime, tmp_path: Path
) -> None:
    # Four sleepers at once run in four workers: each must have started before any returns.
    tasks = [
        asyncio.create_task(runtime.invoke("WideFunction", {"seconds": 0.3, "mark": f"m{i}"}))
        for i in range(4)
    ]
    results = await asyncio.gather(*tasks)

    assert all(r.ok for r in results)
    assert len({r.payload["pid"] for r in results}) == 4
    assert runtime.pool("WideFunction").workers == 4


async def test_layer_is_importable_and_json_logs_are_retagged(
    runtime: Runtime, watch: LogWatch
) -> None:
    result = await runtime.invoke("LayeredFunction", {"who": "ada"})

    assert result.ok, result.error
    assert result.payload["greeting"] == "hello, ada"
    assert "/layers/shared/python/sharedlib/" in result.payload["from"]
    structured = watch.matching(
        lambda r: r.structured is not None and r.request_id == result.request_id
    )
    assert structured and structured[0].structured == {
        "level": "INFO",
        "message": "greeting",
        "who": "ada",
    }


async def test_a_worker_that_dies_is_replaced(runtime: Runtime) -> None:
    died = await runtime.invoke("CrashFunction", {"exit": True})
    unmarshallable = await runtime.invoke("CrashFunction", {})

    assert not died.ok and died.error is not None
    assert died.error["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in died.error["errorMessage"]
    assert not unmarshallable.ok and unmarshallable.error is not None
    assert unmarshallable.error["errorType"] == "Runtime.MarshalError"
    assert unmarshallable.cold_start  # a fresh worker took the dead one's place


async def test_async_invoke_retries_twice_then_gives_up(runtime: Runtime, watch: LogWatch) -> None:
    accepted = await runtime.invoke_async("FailFunction", {"why": "async"})
    final = await asyncio.wait_for(accepted.result, TIMEOUT)

    assert not final.ok
    attempts = watch.matching(
        lambda r: r.request_id == accepted.request_id and r.message == "about to fail"
    )
    assert len(attempts) == 3  # the first try and Lambda's two retries
    assert watch.matching(lambda r: "event dropped" in r.message)


async def test_payloads_over_six_megabytes_are_refused_like_lambda(runtime: Runtime) -> None:
    request = await runtime.invoke("EchoFunction", {"blob": "x" * (6 * 1024 * 1024)})
    response = await runtime.invoke("CrashFunction", {"big": 6 * 1024 * 1024 + 1})
    fits = await runtime.invoke("CrashFunction", {"big": 1024})

    assert not request.ok and request.error is not None
    assert request.error["errorType"] == "RequestEntityTooLargeException"
    assert not response.ok and response.error is not None
    assert response.error["errorType"] == "Function.ResponseSizeTooLarge"
    assert fits.ok and fits.payload == "x" * 1024


async def test_workers_are_out_of_reach_of_the_terminals_ctrl_c(runtime: Runtime) -> None:
    # Ctrl-C signals the terminal's foreground process group; workers must survive it so the
    # stack can still run $disconnect for every connection on its way out.
    result = await runtime.invoke("EchoFunction", {})

    assert os.getpgid(result.payload["pid"]) != os.getpgid(0)
