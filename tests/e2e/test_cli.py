"""``python -m local`` as a user runs it: a real subprocess, real signals."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import boto3
import pytest
from websockets.exceptions import ConnectionClosed

from local.testing import TestSocket
from tests.e2e.conftest import ECHO_TEMPLATE, ROOT
from tests.e2e.harness import TIMEOUT


def lines_of(stream: IO[str]) -> queue.Queue[str | None]:
    """Lines of a subprocess stream, read on a thread so waits can have timeouts."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def wait_for_line(lines: queue.Queue[str | None], pattern: str, seen: list[str]) -> re.Match[str]:
    while True:
        line = lines.get(timeout=6 * TIMEOUT)
        if line is None:
            raise AssertionError("the process ended before printing " + pattern + "".join(seen))
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match


def run_local(*args: str, cwd: Path = ROOT) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "local", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def echo_process(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    config = tmp_path / "local.yaml"
    config.write_text(
        "ssm:\n  /echo/dev-secret: a-local-only-secret-of-at-least-32-bytes\n"
        "dev_token:\n  secret_parameter: /echo/dev-secret\n"
    )
    proc = run_local(
        "--template",
        str(ECHO_TEMPLATE),
        "--config",
        str(config),
        "--port",
        "0",
        "--management-port",
        "0",
        "--https-port",
        "0",
        "--static",
        str(tmp_path),
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(TIMEOUT)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stop_signal_closes_connections_with_1001_runs_disconnect_and_exits_0(
    echo_process: subprocess.Popen[str], stop_signal: signal.Signals
) -> None:
    assert echo_process.stdout is not None and echo_process.stderr is not None
    out = lines_of(echo_process.stdout)
    seen: list[str] = []
    ws_url = wait_for_line(out, r"WebSocket\s+(ws://\S+)", seen).group(1)
    wait_for_line(out, r"@connections\s+http://", seen)
    wait_for_line(out, r"Dev token\s+\S+\.\S+\.\S+", seen)
    wait_for_line(out, r"websocat '" + re.escape(ws_url), seen)
    wait_for_line(out, r"Ctrl-C", seen)

    with TestSocket.open(ws_url, timeout=TIMEOUT) as ws:
        ws.send_json({"action": "echo", "text": "before shutdown"})
        assert ws.receive_json(timeout=3 * TIMEOUT)["echo"] == "before shutdown"
        echo_process.send_signal(stop_signal)
        with pytest.raises(ConnectionClosed):
            ws.receive(timeout=3 * TIMEOUT)
        assert ws.close_code == 1001

    assert echo_process.wait(6 * TIMEOUT) == 0
    log = echo_process.stderr.read()
    assert re.search(r"disconnect \$disconnect 200 ", log), log
    assert "Traceback" not in log


def test_a_template_it_cannot_run_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "template.yaml"
    bad.write_text(
        ECHO_TEMPLATE.read_text().replace("IntegrationType: AWS_PROXY", "IntegrationType: HTTP", 1)
    )
    (tmp_path / "src").symlink_to(ECHO_TEMPLATE.parent / "src")
    proc = run_local("--template", str(bad), "--port", "0", cwd=tmp_path)
    out, err = proc.communicate(timeout=6 * TIMEOUT)
    assert proc.returncode == 2
    assert err.count("\n") == 1, err
    assert "ConnectIntegration" in err and "IntegrationType" in err
    assert "Traceback" not in err + out


def test_a_handler_that_cannot_be_imported_stops_the_start_with_one_line(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(ECHO_TEMPLATE.parent / "src", tmp_path / "src")
    (tmp_path / "template.yaml").write_text(ECHO_TEMPLATE.read_text())
    handlers = tmp_path / "src" / "handlers.py"
    handlers.write_text(handlers.read_text() + "\nimport a_module_that_is_not_installed\n")
    proc = run_local(
        "--template",
        "template.yaml",
        "--port",
        "0",
        "--management-port",
        "0",
        "--https-port",
        "0",
        cwd=tmp_path,
    )
    out, err = proc.communicate(timeout=6 * TIMEOUT)
    assert proc.returncode == 2
    assert err.count("\n") == 1, err
    assert "Runtime.ImportModuleError" in err and "a_module_that_is_not_installed" in err
    assert "Function" in err  # names the function that failed
    assert "Traceback" not in err + out


def test_help_lists_the_options() -> None:
    proc = run_local("--help")
    out, _ = proc.communicate(timeout=3 * TIMEOUT)
    assert proc.returncode == 0
    for flag in (
        "--template",
        "--port",
        "--management-port",
        "--https-port",
        "--endpoint",
        "--idle-timeout",
        "--max-duration",
        "--log-format",
        "--static",
        "--workers",
        "--parameter-overrides",
        "--config",
        "--region",
        "--host",
    ):
        assert flag in out


MOTO_SERVER = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()  # runs until the test closes our stdin
server.stop()
"""


def test_endpoint_flag_uses_another_aws_endpoint(tmp_path: Path) -> None:
    moto = subprocess.Popen(
        [sys.executable, "-c", MOTO_SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert moto.stdout is not None and moto.stdin is not None
    try:
        endpoint = f"http://127.0.0.1:{moto.stdout.readline().strip()}"
        proc = run_local(
            "--template",
            str(ECHO_TEMPLATE),
            "--endpoint",
            endpoint,
            "--port",
            "0",
            "--management-port",
            "0",
            "--https-port",
            "0",
            cwd=tmp_path,  # no local.yaml here: the template's own defaults
        )
        assert proc.stdout is not None
        try:
            out = lines_of(proc.stdout)
            seen: list[str] = []
            ws_url = wait_for_line(out, r"WebSocket\s+(ws://\S+)", seen).group(1)
            assert wait_for_line(out, r"AWS endpoint\s+(\S+)", seen).group(1) == endpoint
            wait_for_line(out, r"Ctrl-C", seen)
            with TestSocket.open(ws_url, timeout=TIMEOUT) as ws:
                ws.send_json({"action": "echo", "text": "elsewhere"})
                cid = ws.receive_json(timeout=3 * TIMEOUT)["connectionId"]
            # The connect handler wrote its record into the other endpoint's DynamoDB.
            dynamodb = boto3.session.Session(
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                region_name="us-east-1",
            ).client("dynamodb", endpoint_url=endpoint)
            (table,) = dynamodb.list_tables()["TableNames"]
            items = dynamodb.query(
                TableName=table,
                KeyConditionExpression="pk = :c",
                ExpressionAttributeValues={":c": {"S": cid}},
            )["Items"]
            assert any(item["sk"]["S"].startswith("connect#") for item in items)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(6 * TIMEOUT) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=TIMEOUT)
    finally:
        moto.stdin.close()
        moto.wait(3 * TIMEOUT)
        moto.stdout.close()
