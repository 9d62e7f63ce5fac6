"""``python -m local`` (``make run``): run a SAM template with a WebSocket API and/or HTTP APIs on
this machine.

Prints where everything is (WebSocket URL, ``@connections`` URL, HTTP API URL, browser page, a
ready dev token)
and runs until Ctrl-C or SIGTERM, which close every connection with 1001, run each
``$disconnect``, stop everything and exit 0. A template or configuration it cannot run is one
line on stderr and exit status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import enum
import errno
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from local.model import REGION, TemplateError
from local.runtime.pool import WorkerDied

__all__ = ["ExitStatus", "build_parser", "main"]


class ExitStatus(enum.IntEnum):
    OK = 0
    ERROR = 1  # something went wrong while running
    USAGE = 2  # a template, configuration or flag the stack cannot run with


class UsageError(Exception):
    """A problem the user can fix with a flag or a file; printed as one line."""


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be between 0 and 65535 (0: any free port)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m local",
        description=(
            "Run a SAM template (API Gateway WebSocket API, Python Lambda functions, DynamoDB, "
            "SNS, SQS) on this machine: no AWS account, no Docker."
        ),
        epilog="Ctrl-C closes every connection (1001), runs $disconnect for each, and exits 0.",
    )
    parser.add_argument("--template", default="template.yaml", help="SAM template (%(default)s)")
    parser.add_argument(
        "--config",
        default=None,
        help="local-only settings: parameters, SSM seeds, dev tokens (default: ./local.yaml "
        "when present)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (%(default)s)")
    parser.add_argument(
        "--port", type=_port, default=3001, help="WebSocket gateway and browser page (%(default)s)"
    )
    parser.add_argument(
        "--management-port",
        type=_port,
        default=3002,
        help="@connections over HTTP (%(default)s)",
    )
    parser.add_argument(
        "--https-port",
        type=_port,
        default=3443,
        help="@connections over HTTPS, what requestContext.domainName leads to (%(default)s)",
    )
    parser.add_argument(
        "--http-port",
        type=_port,
        default=3003,
        help="the HTTP API (the first one; others get free ports) (%(default)s)",
    )
    parser.add_argument(
        "--parameter-overrides",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="template parameters, like sam deploy's (beat local.yaml's)",
    )
    parser.add_argument(
        "--endpoint",
        default=None,
        metavar="URL",
        help="use this AWS endpoint (e.g. a long-running moto server) instead of the embedded "
        "one; 'aws' uses real AWS with your credentials",
    )
    parser.add_argument("--region", default=REGION, help="AWS region (%(default)s)")
    parser.add_argument(
        "--idle-timeout",
        type=_positive,
        default=600.0,
        metavar="SECONDS",
        help="close connections without a client message for this long (API Gateway: 600)",
    )
    parser.add_argument(
        "--max-duration",
        type=_positive,
        default=7200.0,
        metavar="SECONDS",
        help="close connections older than this (API Gateway: 7200)",
    )
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--log-level", choices=("debug", "info", "warning", "error"), default="info"
    )
    parser.add_argument(
        "--static",
        default=None,
        metavar="DIR",
        help="files served at the gateway's / (default: client/web when present)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=4,
        metavar="N",
        help="worker processes per function at most (%(default)s)",
    )
    parser.add_argument(
        "--aws-process",
        action="store_true",
        help="run the embedded moto server in a child process instead of in this one "
        "(more throughput for load tests)",
    )
    parser.add_argument(
        "--no-prewarm",
        dest="prewarm",
        action="store_false",
        help="start workers on first use instead of at start-up (faster start; import errors "
        "then show at the first invocation)",
    )
    return parser


def _overrides(items: Sequence[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in items:
        # SAM accepts "A=1 B=2" in one argument as well as separate ones.
        for part in item.split():
            key, sep, value = part.partition("=")
            if not sep or not key:
                raise UsageError(f"--parameter-overrides: {part!r} is not KEY=VALUE")
            result[key] = value
    return result


def _banner(stack: object, out: TextIO) -> None:
    from local.stack import LocalStack

    assert isinstance(stack, LocalStack)
    api = stack.api
    lines = [
        f"Local stack running {stack.template_path.name}"
        + (f" (API {api.name}, stage {api.stage})" if api else "")
    ]
    if api is not None:
        lines += [
            f"  WebSocket      {stack.ws_url}",
            f"  @connections   {stack.management_url}",
            f"                 {stack.management_https_url}  (CA: {stack.ca_bundle})",
        ]
    for i, server in enumerate(stack.http_apis):
        label = "HTTP API" if i == 0 else ""
        lines.append(f"  {label:<14} {server.url}" + (f"  ({server.spec.name})" if i else ""))
    if stack.http_apis:
        lines.append(f"  OIDC issuer    {stack.issuer_url}")
    if api is not None:
        lines.append(
            f"  Browser page   {stack.page_url}"
            + ("" if stack.static_dir else "  (no --static directory: nothing to serve)")
        )
        lines.append(
            f"  Live view      {stack.page_url}_local/  (invocations, errors, latency, queues)"
        )
    lines.append(f"  AWS endpoint   {stack.aws_endpoint or 'real AWS, ' + stack.region}")
    if stack.s3 is not None:
        lines.append(f"  S3 (uploads)   {stack.s3.url}  (pre-signed POST/GET checked as S3 does)")
    if stack.dev_tokens and api is not None:
        token = stack.dev_token("dev", "Dev")
        lines += [
            f"  Dev token      {token}",
            "                 (user 'dev'; more at " + stack.page_url + "_local/token?user=NAME)",
            f"  Try            websocat '{stack.ws_url}?token={token}'",
        ]
    elif api is not None:
        lines.append("  Dev token      none: no dev_token / JWT secret in the local config")
    if stack.http_apis and stack.local_tokens:
        base = stack.http_apis[0].base_url
        lines.append(f"  HTTP tokens    {base}/_local/token?user=NAME&scope=SCOPES")
    lines.append("Ctrl-C to stop.")
    out.write("\n".join(lines) + "\n")
    out.flush()


async def _run(args: argparse.Namespace, out: TextIO) -> ExitStatus:
    from local.stack import LocalStack

    config = args.config
    if config is None and Path("local.yaml").is_file():
        config = "local.yaml"
    elif config is not None and not Path(config).is_file():
        raise UsageError(f"--config {config}: file not found")
    static = args.static
    if static is None and Path("client/web").is_dir():
        static = "client/web"
    elif static is not None and not Path(static).is_dir():
        raise UsageError(f"--static {static}: not a directory")
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    real_aws = args.endpoint == "aws"
    stack = LocalStack(
        args.template,
        config=config,
        parameter_overrides=_overrides(args.parameter_overrides),
        host=args.host,
        port=args.port,
        management_port=args.management_port,
        https_port=args.https_port,
        http_port=args.http_port,
        endpoint=None if real_aws else args.endpoint,
        real_aws=real_aws,
        region=args.region,
        idle_timeout=args.idle_timeout,
        max_duration=args.max_duration,
        log_format=args.log_format,
        log_level=args.log_level,
        static_dir=static,
        workers=args.workers,
        prewarm=args.prewarm,
        aws_process=args.aws_process,
    )

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals > 1:
            # A second Ctrl-C means "now": skip the graceful part.
            os._exit(130)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)

    starting = asyncio.ensure_future(stack.start())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        starting.cancel()
        try:
            await starting
        except asyncio.CancelledError:
            pass
        return ExitStatus.OK
    stopping.cancel()
    starting.result()  # raises what start() raised (start() has already cleaned up)
    _banner(stack, out)
    await stop.wait()
    stack.log.info("stack", "stopping: closing connections with 1001")
    await stack.stop()
    return ExitStatus.OK


def _port_problem(exc: OSError) -> str | None:
    if exc.errno == errno.EADDRINUSE:
        return f"a port is already in use ({exc.strerror}); pick others with --port, " + (
            "--management-port, --https-port, --http-port (0 = any free port)"
        )
    return None


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = out or sys.stdout
    err = sys.stderr
    try:
        return int(asyncio.run(_run(args, out)))
    except TemplateError as exc:
        err.write(f"error: template {args.template}: {exc}\n")
        return ExitStatus.USAGE
    except WorkerDied as exc:
        # Only start-up can get here (prewarm): a handler that cannot be imported or initialised.
        err.write(f"error: a function could not start: {exc.error.get('errorType')}: {exc}\n")
        return ExitStatus.USAGE
    except UsageError as exc:
        err.write(f"error: {exc}\n")
        return ExitStatus.USAGE
    except KeyboardInterrupt:
        return ExitStatus.OK
    except OSError as exc:
        problem = _port_problem(exc)
        err.write(f"error: {problem or exc}\n")
        return ExitStatus.USAGE if problem else ExitStatus.ERROR
    except Exception as exc:  # the last line of defence: one line, never a traceback
        from local.template import LocalConfigError

        if isinstance(exc, LocalConfigError):
            err.write(f"error: {exc}\n")
            return ExitStatus.USAGE
        err.write(f"error: {type(exc).__name__}: {exc}\n")
        return ExitStatus.ERROR
