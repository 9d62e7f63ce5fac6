"""Logger, Metrics and Tracer shared by every function (Powertools).

Logs are JSON with the connection id and the API Gateway request id appended per request. Never
pass a token or message text to the logger: log sizes, codes and ids. Metrics (EMF):
``MessagesStored``, ``Deliveries`` (posts), ``EventsDelivered`` (the events those posts carried),
``MessagesBatched`` / ``BatchedFrames`` (messages sent together in ``messages`` frames, and those
frames), ``GoneConnections``, ``ThrottledPosts``, ``PresenceSkipped`` and ``RejectedFrames`` with
a ``code`` dimension. ``EventsDelivered - Deliveries`` is the posts batching saved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from chatcore.fanout import FanoutResult

__all__ = [
    "DEFAULT_NAMESPACE",
    "count",
    "flush",
    "instrument",
    "logger",
    "metrics",
    "record_batching",
    "record_fanout",
    "rejected",
    "tracer",
]

DEFAULT_NAMESPACE = "ServerlessChat"

logger = Logger()
metrics = Metrics()
tracer = Tracer()


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


def flush() -> None:
    # Powertools warns on an empty flush, and pytest turns warnings into errors.
    if metrics.metric_set:
        metrics.flush_metrics()


def instrument(
    handler: Callable[[dict[str, Any], Any], Any],
) -> Callable[[dict[str, Any], Any], Any]:
    """Lambda context in the logs, an X-Ray segment, metrics flushed after every invocation."""

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler(capture_response=False)
    def wrapped(event: dict[str, Any], context: Any) -> Any:
        try:
            return handler(event, context)
        finally:
            flush()

    wrapped.__wrapped__ = handler
    return wrapped
