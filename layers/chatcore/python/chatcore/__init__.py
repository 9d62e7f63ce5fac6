"""The shared core of the chat backend: protocol, auth, storage and fan-out.

Pure modules (``protocol``, ``rooms``, ``plan``, ``notify``, ``errors``, ``config``) decide and do
no I/O; adapters (``store``, ``gateway``, ``delivery``, ``secrets``) talk to AWS through clients
given to them or built by the cached factories in ``clients``.
"""

from __future__ import annotations

__all__: list[str] = []
