"""The embedded AWS: a moto server in this process, or an endpoint given from outside.

Handlers reach it with real boto3 clients over HTTP, exactly as they would reach AWS, so nothing
on their path is mocked. moto keeps its state in module globals, so every server started in one
process shares one account; :meth:`EmbeddedAws.stop` resets that state so the next stack started
in the same process (tests) begins empty.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import urllib.request
from typing import Any

import boto3
from botocore.config import Config

from local.model import ACCOUNT_ID, REGION, FunctionSpec

__all__ = [
    "FAKE_ACCESS_KEY",
    "FAKE_SECRET_KEY",
    "EmbeddedAws",
    "ChildMotoServer",
    "SerialisedMotoServer",
    "lambda_env",
]

FAKE_ACCESS_KEY = "testing"
FAKE_SECRET_KEY = "testing"

# botocore >= 1.44.4 sends DynamoDB (Streams) calls to an account-id endpoint moto does not route;
# "disabled" keeps every request on the one endpoint we give.
_CONFIG = Config(
    account_id_endpoint_mode="disabled",
    retries={"max_attempts": 3, "mode": "standard"},
    max_pool_connections=64,
)


class SerialisedMotoServer:
    """moto's server on a free 127.0.0.1 port, answering one DynamoDB request at a time.

    moto's backends are not thread-safe, and werkzeug serves each request on its own thread:
    concurrent DynamoDB calls fail inside moto ("dictionary changed size during iteration"), and
    a cancelled TransactWriteItems puts back a copy of the tables taken before it, wiping writes
    that other requests made meanwhile (duplicate ``seq`` under concurrent sends). moto's Python
    holds the GIL anyway, so one lock costs little throughput and makes every request atomic.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, speedups: bool = True) -> None:
        # Imported here: moto's server pulls in Flask and every backend, which a stack pointed
        # at real AWS or an external endpoint never needs.
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        from local import moto_transactions
        from local.moto_http import KeepAliveHandler, RequestCounter

        # Safe only because DynamoDB requests are serialised below.
        moto_transactions.install()
        if speedups:
            from local import moto_speedups

            moto_speedups.install()
        app: Any = DomainDispatcherApplication(create_backend_app)
        if speedups:
            from local import moto_direct

            moto_direct.install()
            app = moto_direct.wrap(app)
        lock = threading.Lock()
        self.requests = RequestCounter()
        counted = self.requests.wrap(app)

        def serialised(environ: dict[str, Any], start_response: Any) -> Any:
            # Only DynamoDB (and its streams, which read the same tables): SQS long polls wait
            # inside moto, and must not hold up everything else while they do.
            if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
                return counted(environ, start_response)
            with lock:
                # Drain the body under the lock too: moto builds some responses lazily.
                return list(counted(environ, start_response))

        handler = KeepAliveHandler if speedups else MotoRequestHandler
        self._server = make_server(host, port, serialised, threaded=True, request_handler=handler)
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        # Kept-alive connections would go on being served by their threads: end them.
        from local.moto_http import close_connections

        close_connections(self._server)
        if self._thread is not None:
            self._thread.join()


class ChildMotoServer:
    """:class:`SerialisedMotoServer` in a child process (``python -m local.aws_server``).

    Same answers, but moto's Python runs on its own interpreter: in-process it shares the GIL
    with the gateway, the ``@connections`` API and the event sources, and under load that one
    process is the stack's ceiling.
    """

    def __init__(self, *, start_timeout: float = 60.0, speedups: bool = True) -> None:
        self._start_timeout = start_timeout
        self._speedups = speedups
        self._proc: subprocess.Popen[str] | None = None
        self.endpoint_url = ""

    def start(self) -> None:
        argv = [sys.executable, "-m", "local.aws_server", "--port", "0", "--stop-on-eof"]
        if not self._speedups:
            argv.append("--no-speedups")
        self._proc = subprocess.Popen(
            argv,
            # Our end of stdin closes when this process ends in any way (even os._exit or a
            # kill), and the child stops on that: it can never outlive the stack.
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            # Ctrl-C goes to the terminal's process group; the stack stops this child itself,
            # after the $disconnect handlers that still need it have run.
            start_new_session=True,
        )
        stdout = self._proc.stdout
        assert stdout is not None
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(self._start_timeout)
        if not line or not line[0].startswith("ready "):
            self.stop()
            raise RuntimeError(
                "the embedded AWS process did not start (python -m local.aws_server)"
            )
        self.endpoint_url = line[0].split(" ", 1)[1].strip()

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        for pipe in (self._proc.stdin, self._proc.stdout):
            if pipe is not None:
                pipe.close()
        self._proc = None


class EmbeddedAws:
    """Where the stack's AWS lives.

    ``EmbeddedAws()`` starts a moto server on a free 127.0.0.1 port, in this process
    (``own_process=True``: in a child process).
    ``EmbeddedAws(endpoint_url=...)`` uses another endpoint (a long-running moto server) and
    ``EmbeddedAws(real=True, region=...)`` uses real AWS with the caller's credentials; neither
    starts anything.
    """

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        region: str = REGION,
        real: bool = False,
        account_id: str = ACCOUNT_ID,
        own_process: bool = False,
    ) -> None:
        self.region = region
        self.own_process = own_process
        self.account_id = account_id
        self.real = real
        self._server: Any = None
        self._started = False
        self.endpoint_url: str | None = endpoint_url
        if real and endpoint_url:
            raise ValueError("an endpoint URL and real AWS exclude each other")

    @property
    def embedded(self) -> bool:
        """True when this object runs the moto server itself."""
        return self._server is not None

    def start(self) -> EmbeddedAws:
        if self._started:
            return self
        if not self.real and self.endpoint_url is None:
            # Imported here: moto's server pulls in Flask and every backend, which a stack
            # pointed at real AWS or an external endpoint never needs.
            # werkzeug writes an access line per request unless its logger is already set up;
            # one per boto3 call would drown the stack log.
            logging.getLogger("werkzeug").setLevel(logging.WARNING)

            server: SerialisedMotoServer | ChildMotoServer = (
                ChildMotoServer() if self.own_process else SerialisedMotoServer()
            )
            server.start()
            self._server = server
            self.endpoint_url = server.endpoint_url
        self._started = True
        return self

    def stop(self) -> None:
        if self._server is not None:
            self.reset()
            self._server.stop()
            self._server = None
            self.endpoint_url = None
        self._started = False

    def reset(self) -> None:
        """Empty every moto backend (only for a moto endpoint)."""
        if self.real or self.endpoint_url is None:
            return
        req = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(req, timeout=10):
            pass

    def client(self, service: str, **kwargs: Any) -> Any:
        """A boto3 client for ``service`` on this endpoint (fake credentials unless real AWS)."""
        if self.real:
            return boto3.session.Session(region_name=self.region).client(
                service, config=_CONFIG, **kwargs
            )
        if self.endpoint_url is None:
            raise RuntimeError("EmbeddedAws.start() has not been called")
        return boto3.session.Session(
            aws_access_key_id=FAKE_ACCESS_KEY,
            aws_secret_access_key=FAKE_SECRET_KEY,
            region_name=self.region,
        ).client(service, endpoint_url=self.endpoint_url, config=_CONFIG, **kwargs)

    def environment(self) -> dict[str, str]:
        """What every worker needs so that its own boto3 reaches this AWS and nothing else."""
        env = {
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            # The machine's ~/.aws files must not leak profiles or endpoints into a handler.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        if self.real:
            creds = boto3.session.Session().get_credentials()
            if creds is None:
                raise RuntimeError("no AWS credentials found for --aws real")
            frozen = creds.get_frozen_credentials()
            env["AWS_ACCESS_KEY_ID"] = frozen.access_key
            env["AWS_SECRET_ACCESS_KEY"] = frozen.secret_key
            if frozen.token:
                env["AWS_SESSION_TOKEN"] = frozen.token
        else:
            if self.endpoint_url is None:
                raise RuntimeError("EmbeddedAws.start() has not been called")
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
            env["AWS_ACCESS_KEY_ID"] = FAKE_ACCESS_KEY
            env["AWS_SECRET_ACCESS_KEY"] = FAKE_SECRET_KEY
        return env

    def __enter__(self) -> EmbeddedAws:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def lambda_env(fn: FunctionSpec, *, region: str = REGION) -> dict[str, str]:
    """Lambda's reserved variables for ``fn``; they win over anything the template sets."""
    return {
        "AWS_LAMBDA_FUNCTION_NAME": fn.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn.name}",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "_HANDLER": fn.handler,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.runtime}",
        "LAMBDA_TASK_ROOT": str(fn.code_dir),
        "LAMBDA_RUNTIME_DIR": str(fn.code_dir),
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
    }
