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
