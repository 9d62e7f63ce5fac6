"""``python -m local.aws_server``: the embedded AWS (moto, with the stack's fixes) on its own.

The local stack starts it as a child process with ``--aws-process``, so that moto's Python and
the gateway's event loop do not share one GIL under load. It can also be run by hand, for a
long-running AWS that several stacks or test runs share (``python -m local --endpoint URL``).
It prints ``ready <url>`` once it accepts requests, and stops on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from local.aws import SerialisedMotoServer

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.aws_server",
        description="moto server answering one DynamoDB request at a time, with two-phase "
        "transactions (see local/aws.py and local/moto_transactions.py)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (%(default)s)")
    parser.add_argument("--port", type=int, default=5000, help="port, 0 = any free (%(default)s)")
    parser.add_argument(
        "--stop-on-eof",
        action="store_true",
        help="also stop when standard input closes (the local stack's pipe: the server never "
        "outlives the stack, however the stack ends)",
    )
    parser.add_argument(
        "--no-speedups",
        action="store_true",
        help="moto's own Query, projection and serialiser, Flask for every request, and "
        "werkzeug's one request per connection (local/moto_speedups.py, local/moto_direct.py, "
        "local/moto_http.py): to compare answers or speed",
    )
    args = parser.parse_args(argv)

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = SerialisedMotoServer(args.host, args.port, speedups=not args.no_speedups)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    if args.stop_on_eof:

        def stop_at_eof() -> None:
            sys.stdin.read()
            stopped.set()

        threading.Thread(target=stop_at_eof, name="stdin", daemon=True).start()
    server.start()
    print(f"ready {server.endpoint_url}", flush=True)
    stopped.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
