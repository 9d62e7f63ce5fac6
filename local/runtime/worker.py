"""The bootstrap each function's worker process runs (one process = one execution environment).

Started as ``python -I worker.py '<config json>'`` with the function's own environment and its
code directory as the working directory. ``-I`` keeps the parent's ``PYTHONPATH``, user site and
current directory off ``sys.path``; the path is then built the way Lambda builds it: the code
directory, each layer's ``python`` directory, then the interpreter's own (the venv's
site-packages, so dependencies import).

Protocol (JSON lines): the parent writes one ``{"rid", "deadline_ms", "event"}`` line per
invocation on stdin; the worker writes ``ready`` / ``init_error`` once, then ``log`` lines and one
``result`` or ``error`` per invocation on the original stdout. After start-up, file descriptors
1 and 2 both point at the stderr pipe and ``sys.stdout`` / ``sys.stderr`` are line writers that
send ``log`` messages tagged with the current request id, so a handler's prints can never corrupt
the protocol and always arrive before the result they belong to.

This file imports nothing from the project: it runs inside the function's world, not ours.
"""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import time
import traceback
from typing import Any

__all__ = ["main"]

_MAX_RESPONSE_BYTES = 6 * 1024 * 1024  # Lambda's synchronous response limit


class _Protocol:
    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = threading.Lock()

    def send(self, data: bytes) -> None:
        with self._lock:
            view = memoryview(data + b"\n")
            while view:
                n = os.write(self._fd, view)
                view = view[n:]

    def send_obj(self, obj: dict[str, Any]) -> None:
        self.send(json.dumps(obj, default=str).encode())


class _State:
    rid: str | None = None


class _LineSink(io.RawIOBase):
    """Raw stream that turns whatever a handler writes into tagged ``log`` messages, by line."""

    def __init__(self, proto: _Protocol, state: _State, stream: str) -> None:
        self._proto = proto
        self._state = state
        self._stream = stream
        self._partial = b""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = bytes(b)
        with self._lock:
            data = self._partial + data
            *lines, self._partial = data.split(b"\n")
            for line in lines:
                self._emit(line)
        return len(b)

    def drain(self) -> None:
        with self._lock:
            if self._partial:
                self._emit(self._partial)
                self._partial = b""

    def _emit(self, line: bytes) -> None:
        self._proto.send_obj(
            {"t": "log", "rid": self._state.rid, "line": line.decode("utf-8", "replace")}
        )


class Context:
    """The ``context`` object Lambda's Python runtime passes to a handler."""

    def __init__(self, cfg: dict[str, Any], rid: str, deadline_ms: int) -> None:
        self.aws_request_id = rid
        self.function_name = cfg["function_name"]
        self.function_version = cfg["function_version"]
        self.invoked_function_arn = cfg["function_arn"]
        self.memory_limit_in_mb = int(cfg["memory_mb"])
        self.log_group_name = cfg["log_group_name"]
        self.log_stream_name = cfg["log_stream_name"]
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))


def _stack_trace(exc: BaseException) -> list[str]:
    # Drop this bootstrap's own frame, as Lambda shows only the user's frames.
    tb = exc.__traceback__
    if tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return traceback.format_list(traceback.extract_tb(tb))


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": _stack_trace(exc),
    }


def _load_handler(handler: str) -> Any:
    module_name, _, attr = handler.rpartition(".")
    module_name = module_name.replace("/", ".")
    try:
        import importlib

        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        raise _InitError(
            {
                "errorType": "Runtime.UserCodeSyntaxError",
                "errorMessage": f"Syntax error in module '{module_name}': {exc}",
                "stackTrace": _stack_trace(exc),
            }
        ) from exc
    except ImportError as exc:
        raise _InitError(
            {
                "errorType": "Runtime.ImportModuleError",
                "errorMessage": f"Unable to import module '{module_name}': {exc}",
                "stackTrace": [],
            }
        ) from exc
    except Exception as exc:
        raise _InitError(_error(exc)) from exc
    fn = getattr(module, attr, None)
    if fn is None:
        raise _InitError(
            {
                "errorType": "Runtime.HandlerNotFound",
                "errorMessage": f"Handler '{attr}' missing on module '{module_name}'",
                "stackTrace": [],
            }
        )
    return fn


class _InitError(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error["errorMessage"])
        self.error = error


def main(argv: list[str]) -> int:
    cfg = json.loads(argv[1])

    # Take the protocol pipes away from fds 0/1 before any user code can touch them.
    proto = _Protocol(os.dup(1))
    proto_in = os.fdopen(os.dup(0), "rb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)

    state = _State()
    sinks = [_LineSink(proto, state, "stdout"), _LineSink(proto, state, "stderr")]
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(sinks[0]), encoding="utf-8", line_buffering=True, write_through=True
    )
    sys.stderr = io.TextIOWrapper(
        io.BufferedWriter(sinks[1]), encoding="utf-8", line_buffering=True, write_through=True
    )

    def flush() -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except ValueError:  # a handler closed it
                pass
        for sink in sinks:
            sink.drain()

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if p and os.path.abspath(p) != here]
    front = [cfg["code_dir"]]
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for layer in cfg["layer_dirs"]:
        site = os.path.join(layer, "python", "lib", version, "site-packages")
        if os.path.isdir(site):
            front.append(site)
        front.append(os.path.join(layer, "python"))
    sys.path[:] = front + rest

    started = time.perf_counter()
    try:
        handler = _load_handler(cfg["handler"])
    except _InitError as exc:
        flush()
        proto.send_obj({"t": "init_error", "error": exc.error})
        return 1
    flush()
    proto.send_obj({"t": "ready", "init_ms": (time.perf_counter() - started) * 1000})

    for raw in proto_in:
        msg = json.loads(raw)
        rid = msg["rid"]
        state.rid = rid
        context = Context(cfg, rid, msg["deadline_ms"])
        try:
            result = handler(msg["event"], context)
        except Exception as exc:
            flush()
            proto.send_obj({"t": "error", "rid": rid, "error": _error(exc)})
            state.rid = None
            continue
        flush()
        try:
            payload = json.dumps(result)
        except (TypeError, ValueError) as exc:
            err = {
                "errorType": "Runtime.MarshalError",
                "errorMessage": f"Unable to marshal response: {exc}",
                "stackTrace": [],
            }
            proto.send_obj({"t": "error", "rid": rid, "error": err})
        else:
            if len(payload) > _MAX_RESPONSE_BYTES:
                err = {
                    "errorType": "Function.ResponseSizeTooLarge",
                    "errorMessage": (
                        f"Response payload size ({len(payload)} bytes) exceeded maximum "
                        f"allowed payload size ({_MAX_RESPONSE_BYTES} bytes)."
                    ),
                    "stackTrace": [],
                }
                proto.send_obj({"t": "error", "rid": rid, "error": err})
                state.rid = None
                continue
            head = json.dumps({"t": "result", "rid": rid})[:-1]
            proto.send(f'{head}, "payload": {payload}}}'.encode())
        state.rid = None
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
