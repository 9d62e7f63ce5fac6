"""One readable log for the whole local stack.

Every line names its source (a function's logical id, ``gateway``, ``management``, ``stream``,
``sqs``, ``sns``, ``ttl``, ...) and, when there is one, the request id. Text for people, with
colour only on a terminal; ``fmt="json"`` writes one JSON object per line for machines. Lines a
handler prints that are themselves JSON objects (Powertools' structured logs) are parsed and
re-tagged rather than quoted, so a JSON consumer sees one object per line either way.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

__all__ = ["LEVELS", "Log", "LogRecord"]

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}

_COLOURS = {"debug": "\x1b[2m", "info": "", "warning": "\x1b[33m", "error": "\x1b[31m"}
_SOURCE_COLOUR = "\x1b[36m"
_RESET = "\x1b[0m"


@dataclass
class LogRecord:
    """One line of the stack log, before formatting."""

    ts: float
    source: str
    message: str
    level: str = "info"
    request_id: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    # A handler's own structured line (already a JSON object), kept whole for JSON output.
    structured: dict[str, Any] | None = None


class Log:
    """The stack log. Thread-safe: the moto server and worker readers may write from any thread."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        fmt: str = "text",
        level: str = "info",
        color: bool | None = None,
    ) -> None:
        if fmt not in ("text", "json"):
            raise ValueError(f"log format must be text or json, not {fmt!r}")
        self.stream = stream if stream is not None else sys.stderr
        self.fmt = fmt
        self.min_level = LEVELS[level]
        if color is None:
            isatty = getattr(self.stream, "isatty", None)
            color = bool(isatty and isatty()) and fmt == "text"
        self.color = color
        self._lock = threading.Lock()
        self._listeners: list[Callable[[LogRecord], None]] = []

    def add_listener(self, fn: Callable[[LogRecord], None]) -> Callable[[], None]:
        """Call ``fn`` with every record, whatever its level; returns the function removing it."""
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn)

    def line(
        self,
        source: str,
        message: str,
        *,
        level: str = "info",
        request_id: str | None = None,
        **fields: Any,
    ) -> None:
        self.emit(LogRecord(time.time(), source, message, level, request_id, fields))

    def debug(self, source: str, message: str, **kw: Any) -> None:
        self.line(source, message, level="debug", **kw)

    def info(self, source: str, message: str, **kw: Any) -> None:
        self.line(source, message, level="info", **kw)

    def warning(self, source: str, message: str, **kw: Any) -> None:
        self.line(source, message, level="warning", **kw)

    def error(self, source: str, message: str, **kw: Any) -> None:
        self.line(source, message, level="error", **kw)

    def handler_output(self, source: str, text: str, *, request_id: str | None) -> None:
        """A line a handler printed; JSON objects (Powertools) are parsed and re-tagged."""
        text = text.rstrip("\r\n")
        structured: dict[str, Any] | None = None
        level = "info"
        if text.startswith("{"):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                structured = parsed
                raw_level = str(parsed.get("level", "info")).lower()
                raw_level = "warning" if raw_level == "warn" else raw_level
                level = raw_level if raw_level in LEVELS else "info"
        self.emit(LogRecord(time.time(), source, text, level, request_id, {}, structured))

    def function_error(
        self,
        source: str,
        error: dict[str, Any],
        *,
        request_id: str | None,
        refusal: bool = False,
        **fields: Any,
    ) -> None:
        """A failed invocation: one line with the error's type and message.

        The stack trace follows at debug level only (``--log-level debug``), so one bad request
        is one line. ``refusal``: the function is an authorizer and its error is API Gateway's
        ``Unauthorized`` (a 401 by design, not a failure), logged at info.
        """
        error_type = str(error.get("errorType") or "Error")
        message = str(error.get("errorMessage") or "")
        if refusal and message == "Unauthorized":
            self.info(source, "refused: Unauthorized", request_id=request_id, **fields)
            return
        first_line = message.splitlines()[0] if message else ""
        self.error(
            source, f"{error_type}: {first_line}".rstrip(": "), request_id=request_id, **fields
        )
        trace = "".join(error.get("stackTrace") or []).rstrip("\n")
        if trace:
            self.debug(
                source,
                f"{error_type}: {message}\nTraceback (most recent call last):\n{trace}",
                request_id=request_id,
            )

    def access(
        self,
        kind: str,
        route: str,
        status: int,
        latency_ms: float,
        connection_id: str | None,
        *,
        request_id: str | None = None,
        source: str = "gateway",
        **fields: Any,
    ) -> None:
        """One access line per connect / message route / disconnect / management call."""
        conn = connection_id or "-"
        self.emit(
            LogRecord(
                time.time(),
                source,
                f"{kind} {route} {status} {latency_ms:.1f}ms {conn}",
                "warning" if status >= 500 else "info",
                request_id,
                {
                    "access": kind,
                    "route": route,
                    "status": status,
                    "latency_ms": round(latency_ms, 3),
                    "connection_id": connection_id,
                    **fields,
                },
            )
        )

    def emit(self, record: LogRecord) -> None:
        for fn in list(self._listeners):
            fn(record)
        if LEVELS.get(record.level, 20) < self.min_level:
            return
        text = self._json(record) if self.fmt == "json" else self._text(record)
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()

    def _json(self, r: LogRecord) -> str:
        out: dict[str, Any]
        if r.structured is not None:
            # The handler's own object, with our tags added but never overwriting its keys.
            out = dict(r.structured)
            out.setdefault("source", r.source)
            if r.request_id:
                out.setdefault("request_id", r.request_id)
            out.setdefault("ts", _iso(r.ts))
        else:
            out = {"ts": _iso(r.ts), "level": r.level, "source": r.source}
            if r.request_id:
                out["request_id"] = r.request_id
            out["message"] = r.message
            out.update(r.fields)
        return json.dumps(out, default=str, separators=(",", ":"))

    def _text(self, r: LogRecord) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(r.ts)) + f".{int(r.ts * 1000) % 1000:03d}"
        source = f"{r.source:<20}"
        rid = f" [{r.request_id}]" if r.request_id else ""
        message = r.message
        if r.structured is not None:
            s = r.structured
            rest = {k: v for k, v in s.items() if k not in _TEXT_HIDDEN}
            if "message" in s or "level" in s:
                message = f"{str(s.get('level', '')).upper()} {s.get('message', '')}".strip()
                if rest:
                    message += " " + json.dumps(rest, default=str, separators=(",", ":"))
            # Anything else (e.g. an embedded-metrics object) is shown as printed.
        if self.color:
            colour = _COLOURS.get(r.level, "")
            source = f"{_SOURCE_COLOUR}{source}{_RESET}"
            if colour:
                message = f"{colour}{message}{_RESET}"
        return f"{clock} {source}{rid} {message}"


# Keys every Powertools line repeats; the text format leaves them out so that what the handler
# said stands out (the JSON format keeps the whole object).
_TEXT_HIDDEN = frozenset(
    {
        "level",
        "message",
        "timestamp",
        "function_request_id",
        "location",
        "service",
        "cold_start",
        "function_name",
        "function_arn",
        "function_memory_size",
        "xray_trace_id",
        "sampling_rate",
    }
)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}Z"
