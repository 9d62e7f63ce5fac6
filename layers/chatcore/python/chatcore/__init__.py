"""The shared core of the chat backend (the ``CoreLayer`` Lambda layer).

Pure modules decide and do no I/O: ``errors``, ``config``, ``protocol`` (frames and events),
``rooms`` (names and access), ``auth`` (JWT, Origin, policy), ``fanout`` (planning, chunking,
backoff), ``frames`` (a stream batch's messages packed into ``messages`` frames per room),
``notify`` (SNS schema), ``requests`` (typed views of API Gateway events), ``sending`` (what a
send does, given what it read).

Adapters take injected clients: ``store`` (``ConnectionStore``, ``MessageLog``), ``publisher``
(a send: one BatchGetItem, one TransactWriteItems), ``gateway`` (``@connections``),
``delivery`` (post, clean up 410s, queue big rooms), ``keys`` (JWT secret from SSM / Secrets
Manager). ``clients`` holds the cached boto3 factories and the ``@connections`` seam; ``wiring``
builds adapters from a ``Config``; ``items`` holds the tables' keys and the attribute
serialisation the adapters share.

Use cases sit on top: ``chat`` (every client action), ``routes`` (frame -> reply, errors
included), ``recipients`` and ``dispatch`` (stream batches, notifications, fan-out chunks);
``observability`` holds the Powertools Logger, Metrics and Tracer.
"""

from __future__ import annotations

__all__: list[str] = []
