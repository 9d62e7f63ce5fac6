"""How events look to a person (``chat connect``, ``chat listen``) and to a script (``--json``)."""

from __future__ import annotations

import json
import time
from typing import Any

from client.events import (
    Banned,
    ErrorEvent,
    Event,
    Kicked,
    Message,
    MessageDeleted,
    Messages,
    MessageUpdated,
    Notification,
    Presence,
    Reaction,
    ReauthRequired,
    Receipt,
    Typing,
    UnknownEvent,
)
from client.progress import human_size

__all__ = ["Style", "event_json", "format_event", "format_message"]


class Style:
    """ANSI styling that turns into plain text when colour is off."""

    CODES = {"dim": "2", "bold": "1", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}

    def __init__(self, *, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, *styles: str) -> str:
        if not self.color or not styles:
            return text
        codes = ";".join(self.CODES[s] for s in styles)
        return f"\x1b[{codes}m{text}\x1b[0m"


def _clean(text: str) -> str:
    # Another user's text must not be able to move the cursor or recolour the terminal.
    return "".join(ch if ch.isprintable() or ch == "\t" else "\ufffd" for ch in text)


def _clock(ts_ms: int) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts_ms / 1000)) if ts_ms else "--:--:--"


def format_message(message: Message, *, me: str | None, style: Style) -> str:
    own = me is not None and message.sender == me
    who = _clean(message.name or message.sender)
    marker = style("›", "green", "bold") if own else " "
    name = style(f"{who} (you)", "green", "bold") if own else style(who, "cyan", "bold")
    room = style(f"[{_clean(message.room)}]", "dim")
    if message.deleted:
        gone = style(f"#{message.seq} (deleted)", "dim")
        return f"{style(_clock(message.ts), 'dim')}   {room} {gone}"
    text = _clean(message.text)
    if message.version:
        text += style(" (edited)", "dim")
    if message.reactions:
        text += style("  " + " ".join(f"{e}{n}" for e, n in message.reactions), "dim")
    line = f"{style(_clock(message.ts), 'dim')} {marker} {room} {name}: {text}"
    for file in message.attachments:
        # `chat download ID` fetches it.
        size = human_size(int(file.get("size", 0)))
        line += style(f" [file {_clean(str(file.get('name')))} {size} {file['id']}]", "yellow")
    return line


def format_event(event: Event, *, me: str | None, style: Style) -> str | None:
    """One line for a person, or None for events not worth a line."""
    if isinstance(event, Message):
        return format_message(event, me=me, style=style)
    if isinstance(event, Messages):
        # ChatClient hands these out one message at a time; a raw parse may still meet one.
        return "\n".join(format_message(m, me=me, style=style) for m in event.messages) or None
    if isinstance(event, Presence):
        if event.user is not None:
            verb = "joined" if event.event == "join" else "left"
            return style(f"* {_clean(event.user.name)} {verb} {_clean(event.room)}", "dim")
        users = ", ".join(_clean(u.name) for u in event.users or ())
        return style(f"* in {_clean(event.room)}: {users or 'nobody'}", "dim")
    if isinstance(event, Typing):
        return style(f"* {_clean(event.name)} is typing in {_clean(event.room)}", "dim")
    if isinstance(event, Notification):
        payload = event.payload
        text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        return style(f"! notification: {_clean(text)}", "yellow", "bold")
    if isinstance(event, MessageUpdated):
        where = f"{_clean(event.room)} #{event.seq}"
        return style(f"* {where} edited: {_clean(event.text)}", "dim")
    if isinstance(event, MessageDeleted):
        return style(f"* {_clean(event.room)} #{event.seq} was deleted", "dim")
    if isinstance(event, Reaction):
        verb = "reacted" if event.op == "add" else "took back"
        where = f"{_clean(event.room)} #{event.seq}"
        return style(
            f"* {_clean(event.user)} {verb} {_clean(event.emoji)} on {where} ({event.count})", "dim"
        )
    if isinstance(event, Receipt):
        return None  # read receipts are for pages that show them, not worth a line
    if isinstance(event, (Kicked, Banned)):
        verb = "kicked out of" if isinstance(event, Kicked) else "banned from"
        return style(f"! you were {verb} {_clean(event.room)} by {_clean(event.by)}", "red")
    if isinstance(event, ReauthRequired):
        return style("! your token ends soon; reconnect with a new one", "yellow")
    if isinstance(event, ErrorEvent):
        return style(f"! error {event.code}: {_clean(event.message)}", "red")
    if isinstance(event, UnknownEvent):
        return style(f"? {_clean(json.dumps(event.raw, ensure_ascii=False))}", "dim")
    return None


def event_json(event: Event | dict[str, Any]) -> str:
    """One JSON line (a ``messages`` frame: one line per message, each as if it came alone)."""
    if isinstance(event, Messages):
        return "\n".join(event_json(m) for m in event.messages)
    raw = event.raw if isinstance(event, Event) else event
    return json.dumps(raw, ensure_ascii=False, separators=(",", ":"))
