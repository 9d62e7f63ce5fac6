"""Logger, Metrics and (when tracing is on) Tracer shared by every function (Powertools).

Logs are JSON with the connection id and the API Gateway request id appended per request. Never
pass a token or message text to the logger: log sizes, codes and ids. Metrics (EMF):
``MessagesStored``, ``Deliveries`` (posts), ``EventsDelivered`` (the events those posts carried),
``MessagesBatched`` / ``BatchedFrames`` (messages sent together in ``messages`` frames, and those
frames), ``GoneConnections``, ``ThrottledPosts``, ``PresenceSkipped`` and ``RejectedFrames`` with
a ``code`` dimension. ``EventsDelivered - Deliveries`` is the posts batching saved.
pass a token or message text to the logger: log sizes, codes and ids. Metrics (EMF, namespace
``ServerlessChat``, dimension ``service``): ``MessagesStored``, ``Deliveries``,
``GoneConnections``, ``ThrottledPosts``, ``FailedPosts``, ``PresenceSkipped``,
``DroppedNotifications``, ``DeliveryLatency`` (milliseconds from the chat function storing a
message to the broadcaster having posted it) and ``RejectedFrames`` with a ``code`` dimension.
The dashboard and alarms in ``template.yaml`` read exactly these names.

Tracing costs nothing when it is off: ``aws_xray_sdk`` (about 200 ms to import, and it patches
botocore) is only imported when :func:`tracing_enabled` says X-Ray is listening, which is the
case on Lambda with ``Tracing: Active`` (the template sets ``POWERTOOLS_TRACE_DISABLED`` from its
``TracingMode`` parameter) and never in tests or the local stack.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from chatcore.fanout import FanoutResult

__all__ = [
    "DEFAULT_NAMESPACE",
    "METRICS",
    "count",
    "flush",
    "instrument",
    "logger",
    "metrics",
    "record_batching",
    "record_delivery_latency",
    "record_fanout",
    "rejected",
    "tracer",
    "tracing_enabled",
]

DEFAULT_NAMESPACE = "ServerlessChat"

# Every metric name the functions emit (the dashboard and alarms must use only these).
METRICS = frozenset(
    {
        "MessagesStored",
        "Deliveries",
        "GoneConnections",
        "ThrottledPosts",
        "FailedPosts",
        "PresenceSkipped",
        "DroppedNotifications",
        "DeliveryLatency",
        "RejectedFrames",
    }
)

_TRUTHY = frozenset({"1", "true", "yes", "on", "y", "t"})

logger = Logger()
metrics = Metrics()


def tracing_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether X-Ray can record this process: on Lambda, tracing not disabled, a daemon known.

    ``POWERTOOLS_TRACE_DISABLED`` wins (the template sets it when ``TracingMode`` is not
    ``Active``, because Lambda sets ``AWS_XRAY_DAEMON_ADDRESS`` in every function either way);
    outside Lambda (tests, the local stack, ``sam local``) there is nothing to send traces to.
    """
    env = os.environ if environ is None else environ
    if env.get("POWERTOOLS_TRACE_DISABLED", "").strip().lower() in _TRUTHY:
        return False
    if not env.get("AWS_LAMBDA_FUNCTION_NAME") or env.get("AWS_SAM_LOCAL"):
        return False
    return bool(env.get("AWS_XRAY_DAEMON_ADDRESS") or env.get("_X_AMZN_TRACE_ID"))


def _make_tracer() -> Any:
    # Imported here, not at the top: this import is aws_xray_sdk's whole cost.
    from aws_lambda_powertools import Tracer

    return Tracer()


# Decided once per container, at import (during Lambda's init, off the first request's path).
tracer: Any = _make_tracer() if tracing_enabled() else None


def _namespace() -> str:
    if not metrics.namespace:
        # POWERTOOLS_METRICS_NAMESPACE unset (tests, a bare deploy): still emit valid EMF.
        metrics.namespace = DEFAULT_NAMESPACE
    return str(metrics.namespace)


def count(name: str, value: int = 1) -> None:
    if value:
        _namespace()
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def rejected(code: str) -> None:
    """One rejected client frame, by error code (its own EMF blob for the dimension)."""
    with single_metric(
        name="RejectedFrames", unit=MetricUnit.Count, value=1, namespace=_namespace()
    ) as metric:
        metric.add_dimension(name="code", value=code)


def record_fanout(result: FanoutResult) -> None:
    count("Deliveries", result.delivered)
    count("EventsDelivered", result.events_delivered)
    count("GoneConnections", result.gone)
    count("ThrottledPosts", result.throttled)
    count("FailedPosts", result.failed)


def record_batching(*, batched_frames: int, batched_messages: int) -> None:
    """``messages`` frames a stream batch posted, and the messages they carried together."""
    count("BatchedFrames", batched_frames)
    count("MessagesBatched", batched_messages)


def delivery_latencies(
    images: Iterable[Mapping[str, Any]], *, now_ms: int | None = None
) -> list[int]:
    """Milliseconds from each stored message's ``ts`` to ``now_ms`` (pure; skips what has none)."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    out = []
    for image in images:
        raw = image.get("ts")
        if isinstance(raw, Mapping):  # a stream NewImage attribute: {"N": "1700000000000"}
            raw = raw.get("N")
        try:
            ts = int(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        out.append(max(0, now - ts))
    return out


def record_delivery_latency(
    records: Iterable[tuple[str, Mapping[str, Any]]], *, failed: Iterable[str] = ()
) -> None:
    """``DeliveryLatency`` for each delivered ``(sequence number, image)`` of a stream batch."""
    skip = set(failed)
    latencies = delivery_latencies(image for seq, image in records if seq not in skip)
    if latencies:
        _namespace()
    for value in latencies:
        # One EMF entry holds every value: CloudWatch computes p99 over all of them.
        metrics.add_metric(name="DeliveryLatency", unit=MetricUnit.Milliseconds, value=value)


def flush() -> None:
    # Powertools warns on an empty flush, and pytest turns warnings into errors.
    if metrics.metric_set:
        metrics.flush_metrics()


def instrument(
    handler: Callable[[dict[str, Any], Any], Any],
) -> Callable[[dict[str, Any], Any], Any]:
    """Lambda context in the logs, metrics flushed after every invocation, an X-Ray segment
    when tracing is on."""

    def run(event: dict[str, Any], context: Any) -> Any:
        try:
            return handler(event, context)
        finally:
            flush()

    traced = tracer.capture_lambda_handler(run, capture_response=False) if tracer else run
    wrapped: Any = logger.inject_lambda_context(traced, clear_state=True)
    wrapped.__wrapped__ = handler
    return wrapped
