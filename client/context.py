"""What the CLI needs from the outside world, gathered in one object tests can replace."""

from __future__ import annotations

import enum
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

__all__ = ["Environment", "ExitStatus"]


class ExitStatus(enum.IntEnum):
    """Exit codes of ``chat``; each kind of failure has its own, so scripts can branch on it."""

    OK = 0
    ERROR = 1  # anything not covered below
    USAGE = 2  # bad flags or arguments (argparse's own code)
    UNREACHABLE = 3  # the server (or the AWS endpoint) could not be reached
    AUTH = 4  # the token was rejected at the upgrade
    TIMEOUT = 5  # no reply in time
    SERVER_ERROR = 6  # the server answered ``error {code}`` (not_member, forbidden, ...)
    CONFIG = 7  # missing configuration: no dev secret, no topic, no credentials
    LOSS = 8  # the load test lost more messages than allowed
    INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


@dataclass
class Environment:
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    cwd: Path = field(default_factory=Path.cwd)
    clock: Callable[[], float] = time.time  # wall clock, for timestamps shown to people

    @staticmethod
    def _isatty(stream: TextIO) -> bool:
        isatty = getattr(stream, "isatty", None)
        try:
            return bool(isatty()) if isatty is not None else False
        except ValueError:  # a closed stream
            return False

    @property
    def stdout_isatty(self) -> bool:
        return self._isatty(self.stdout)

    @property
    def stderr_isatty(self) -> bool:
        return self._isatty(self.stderr)

    @property
    def color(self) -> bool:
        # https://no-color.org: any non-empty NO_COLOR turns colour off.
        return self.stdout_isatty and not self.environ.get("NO_COLOR")
