"""The local stack as the benchmarks see it: ``python -m local`` in its own process.

The stack runs exactly as ``make run`` starts it (same template, ``local.yaml``, default worker
pools and log level), on free ports, with its log written to a file. The benchmark reads the
start-up banner for the URLs, mints dev tokens with the secret of ``local.yaml``, and talks to
the embedded AWS with boto3 like any other client.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from bench.common import ROOT, descendants, raise_fd_limit, rss_bytes, tree_rss
from local.devtokens import DevTokenSettings, dev_token_settings, mint_dev_token
from local.template import load_local_config

_BANNER = {
    "ws_url": re.compile(r"^\s+WebSocket\s+(\S+)"),
    "management_url": re.compile(r"^\s+@connections\s+(\S+)"),
    "management_https_url": re.compile(r"^\s+(https://\S+)\s+\(CA: (.+)\)"),
    "aws_endpoint": re.compile(r"^\s+AWS endpoint\s+(\S+)"),
}


def _child_limits() -> None:
    # The stack holds one socket per client connection: give it the whole open-files budget.
    raise_fd_limit()


@dataclass
class StackProcess:
    """A running ``python -m local``; use as a context manager (it stops by itself)."""

    log_path: Path
    workers: int | None = None
    log_level: str = "info"
    extra_args: list[str] = field(default_factory=list)
    start_timeout: float = 120.0
    stop_timeout: float = 60.0

    proc: subprocess.Popen[bytes] | None = None
    ws_url: str = ""
    management_url: str = ""
    management_https_url: str = ""
    ca_bundle: str = ""
    aws_endpoint: str = ""
    started_seconds: float = 0.0
    _tokens: DevTokenSettings | None = None
    _log_file: Any = None

    # -------------------------------------------------------------- lifecycle

    def start(self) -> StackProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        args = [
            sys.executable,
            "-m",
            "local",
            "--port",
            "0",
            "--management-port",
            "0",
            "--https-port",
            "0",
            "--http-port",
            "0",
            "--log-level",
            self.log_level,
            # Benchmarks hold idle connections for minutes; API Gateway's 10 minutes could end
            # a long 10,000-connection run half-way.
            "--idle-timeout",
            "3600",
            *(["--workers", str(self.workers)] if self.workers else []),
            *self.extra_args,
        ]
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        begun = time.monotonic()
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            env=env,
            preexec_fn=_child_limits,
        )
        assert self.proc.stdout is not None
        found: dict[str, str] = {}
        deadline = begun + self.start_timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode("utf-8", "replace")
            if not line:
                break
            for key, pattern in _BANNER.items():
                m = pattern.match(line)
                if m:
                    found[key] = m.group(1)
                    if key == "management_https_url":
                        found["ca_bundle"] = m.group(2)
            if line.startswith("Ctrl-C to stop"):
                break
        missing = {"ws_url", "management_url", "aws_endpoint"} - found.keys()
        if missing:
            self.stop()
            raise RuntimeError(
                f"the local stack did not start (missing {sorted(missing)}); see {self.log_path}"
            )
        self.started_seconds = time.monotonic() - begun
        self.ws_url = found["ws_url"]
        self.management_url = found["management_url"]
        self.management_https_url = found.get("management_https_url", "")
        self.ca_bundle = found.get("ca_bundle", "")
        self.aws_endpoint = found["aws_endpoint"]
        config = load_local_config(ROOT / "local.yaml")
        self._tokens = dev_token_settings(config.dev_token, config.ssm, config.parameters)
        return self

    def stop(self) -> dict[str, Any]:
        """SIGTERM (every connection closed, ``$disconnect`` for each); SIGKILL after a while."""
        info: dict[str, Any] = {}
        proc = self.proc
        if proc is None:
            return info
        kids = descendants(proc.pid)
        begun = time.monotonic()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(self.stop_timeout)
                info["graceful"] = True
            except subprocess.TimeoutExpired:
                info["graceful"] = False
                proc.kill()
                proc.wait(10)
        info["stop_seconds"] = round(time.monotonic() - begun, 2)
        # Workers run in their own session: make sure none outlives its stack.
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if proc.stdout is not None:
            proc.stdout.close()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self.proc = None
        return info

    def __enter__(self) -> StackProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------- what benchmarks need

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss(self) -> int:
        return rss_bytes(self.pid)

    def tree_rss(self) -> dict[str, int]:
        return tree_rss(self.pid)

    def token(self, user: str, name: str | None = None) -> str:
        assert self._tokens is not None, "local.yaml has no dev token settings"
        return mint_dev_token(self._tokens, user=user, name=name)

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.aws_endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(
                retries={"max_attempts": 5, "mode": "standard"},
                max_pool_connections=16,
                account_id_endpoint_mode="disabled",
            ),
        )

    def management_client(self, https: bool = True) -> Any:
        url = self.management_https_url if https and self.management_https_url else None
        return boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=url or self.management_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            verify=self.ca_bundle if url else None,
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )

    def table(self, logical_id: str) -> str:
        """Physical name of one of the template's tables (``ConnectionsTable``...)."""
        names = self.client("dynamodb").list_tables()["TableNames"]
        for name in names:
            if logical_id in name:
                return str(name)
        raise LookupError(f"no table for {logical_id} among {names}")
