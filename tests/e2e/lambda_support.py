"""Helpers for the runtime and event-source tests: specs built by hand, a log that can be awaited.

Every wait scales from the e2e ``TIMEOUT`` (raise ``TEST_TIMEOUT_SCALE`` on a slow machine).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from local.logs import Log, LogRecord
from local.model import ACCOUNT_ID, REGION, EventSourceSpec, FunctionSpec, Stack
from tests.e2e.harness import TIMEOUT  # the one constant every e2e wait scales from

__all__ = ["APPS", "TIMEOUT", "LogWatch", "function", "stack_of", "wait_for"]

APPS = Path(__file__).resolve().parent.parent / "fixtures" / "apps"


def function(
    app: str,
    logical_id: str,
    code: str,
    *,
    timeout: float = 3.0,
    memory_mb: int = 128,
    environment: dict[str, str] | None = None,
    layers: list[str] = (),  # type: ignore[assignment]
    reserved: int | None = None,
    events: list[EventSourceSpec] | None = None,
) -> FunctionSpec:
    name = f"local-{logical_id}-ABC123"
    return FunctionSpec(
        logical_id=logical_id,
        name=name,
        arn=f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}",
        code_dir=APPS / app / "functions" / code,
        handler="app.handler",
        runtime="python3.13",
        timeout=timeout,
        memory_mb=memory_mb,
        environment=dict(environment or {}),
        layer_dirs=[APPS / app / "layers" / layer for layer in layers],
        reserved_concurrency=reserved,
        events=list(events or []),
    )


def stack_of(*functions: FunctionSpec, app: str = "lambdas") -> Stack:
    return Stack(
        name="local",
        template_path=APPS / app / "template.yaml",
        region=REGION,
        account_id=ACCOUNT_ID,
        parameters={},
        resources={},
        functions={fn.logical_id: fn for fn in functions},
        websocket_apis=[],
        outputs={},
    )


class LogWatch:
    """A stack log written to memory, whose records a test can await."""

    def __init__(self, level: str = "debug") -> None:
        self.stream = io.StringIO()
        self.log = Log(self.stream, level=level)
        self.records: list[LogRecord] = []
        self._changed = asyncio.Event()
        self.log.add_listener(self._on_record)

    def _on_record(self, record: LogRecord) -> None:
        self.records.append(record)
        self._changed.set()

    def matching(self, pred: Callable[[LogRecord], bool]) -> list[LogRecord]:
        return [r for r in self.records if pred(r)]

    async def wait(self, pred: Callable[[LogRecord], bool], count: int = 1) -> list[LogRecord]:
        async with asyncio.timeout(TIMEOUT):
            while len(found := self.matching(pred)) < count:
                self._changed.clear()
                await self._changed.wait()
        return found


async def wait_for(check: Callable[[], Any], *, timeout: float = TIMEOUT) -> Any:
    """Poll a cheap condition on the event loop until it is truthy (no fixed sleeps)."""
    async with asyncio.timeout(timeout):
        while not (value := check()):
            await asyncio.sleep(0.02)
    return value
