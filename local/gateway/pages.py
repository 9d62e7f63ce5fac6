"""Plain HTTP GETs on the gateway's port: the browser page and small local-only endpoints.

``/`` and the files next to it come from the static directory (the bundled ``client/web``),
``/_local/config`` tells the page where to connect, ``/_local/token`` mints a dev token when
the stack has a token minter (``local.yaml``): ``?user=..&name=..&rooms=a,b&scope=a+b``, so one
URL gives a user's token and a service's (``chat/notify`` ...) as the HTTP API's port does;
``/_local/`` is the stack's live view (``live.html`` next to this file, polling
``/_local/stats``, see ``local.stats``). Pure: turns a path and query into a response.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["LIVE_PAGE", "HttpAnswer", "StatsSource", "TokenMinter", "answer_get"]

# (user, name, rooms, scopes) -> token
TokenMinter = Callable[[str, "str | None", Sequence[str], Sequence[str]], str]
StatsSource = Callable[[], Mapping[str, Any]]

LIVE_PAGE = Path(__file__).with_name("live.html")


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    content_type: str
    body: bytes

    @classmethod
    def json(cls, status: int, value: Any) -> HttpAnswer:
        return cls(status, "application/json", json.dumps(value).encode())


def _static(directory: Path | None, path: str) -> HttpAnswer:
    if directory is None:
        return HttpAnswer.json(404, {"message": "Not Found"})
    relative = path.lstrip("/") or "index.html"
    root = directory.resolve()
    target = (root / relative).resolve()
    # Nothing outside the static directory, whatever the path says.
    if not target.is_relative_to(root) or not target.is_file():
        return HttpAnswer.json(404, {"message": "Not Found"})
    ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    if ctype.startswith("text/") or ctype in ("application/javascript", "application/json"):
        ctype += "; charset=utf-8"
    return HttpAnswer(200, ctype, target.read_bytes())


def answer_get(
    path: str,
    query: Mapping[str, str],
    *,
    static_dir: Path | None,
    config: Mapping[str, Any],
    mint: TokenMinter | None,
    stats: StatsSource | None = None,
) -> HttpAnswer:
    if path in ("/_local", "/_local/"):
        return HttpAnswer(200, "text/html; charset=utf-8", LIVE_PAGE.read_bytes())
    if path == "/_local/stats":
        if stats is None:
            return HttpAnswer.json(404, {"message": "this stack collects no live figures"})
        return HttpAnswer.json(200, dict(stats()))
    if path == "/_local/config":
        return HttpAnswer.json(200, dict(config))
    if path == "/_local/token":
        if mint is None:
            return HttpAnswer.json(404, {"message": "dev tokens are not configured (local.yaml)"})
        user = query.get("user", "").strip()
        if not user:
            return HttpAnswer.json(400, {"message": "query parameter 'user' is required"})
        name = query.get("name") or None
        rooms = [r for r in query.get("rooms", "").split(",") if r]
        # Space-separated, as in the token's own claim (``+`` in a query string is a space).
        scopes = query.get("scope", "").split()
        token = mint(user, name, rooms, scopes)
        answer: dict[str, Any] = {"token": token, "user": user, "name": name or user}
        if scopes:
            answer["scope"] = " ".join(scopes)
        return HttpAnswer.json(200, answer)
    return _static(static_dir, path)
