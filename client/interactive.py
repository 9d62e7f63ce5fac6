"""``chat connect``: an interactive chat in the terminal."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import threading
from collections.abc import Awaitable, Callable
from typing import TextIO

from client.chat import ChatClient, State
from client.context import Environment, ExitStatus
from client.errors import ChatError, ServerError
from client.render import Style, format_event, format_message

__all__ = ["HELP", "run_interactive"]

HELP = """\
commands:
  /join ROOM            join a room and make it the current one
  /leave [ROOM]         leave a room (default: the current one)
  /send ROOM TEXT       send to a room without switching to it
  /dm USER TEXT         direct message
  /history [ROOM] [N]   the last N messages (default 20)
  /who [ROOM]           who is in a room
  /typing               tell the current room you are typing
  /upload PATH [TEXT]   send a file to the current room (progress on stderr)
  /quit                 leave (Ctrl-D works too)
  /help                 this list
anything else is sent to the current room"""


class Session:
    def __init__(self, chat: ChatClient, env: Environment) -> None:
        self.chat = chat
        self.env = env
        self.style = Style(color=env.color)
        self.current: str | None = None
        self.was_lost = False
        # (room, path) -> attachment ids; set by run_interactive (client.attachments).
        self.upload: Callable[[str, str], Awaitable[list[str]]] | None = None

    def out(self, line: str) -> None:
        self.env.stdout.write(line + "\n")
        self.env.stdout.flush()

    def note(self, line: str) -> None:
        self.out(self.style(line, "dim"))

    def fail(self, line: str) -> None:
        self.out(self.style(line, "red"))

    def on_state(self, state: State) -> None:
        if state is State.RECONNECTING:
            self.was_lost = True
            self.fail("connection lost; reconnecting...")
        elif state is State.OPEN and self.was_lost:
            self.was_lost = False
            self.note("reconnected; missed messages follow")
        elif state is State.CLOSED and self.was_lost:
            self.fail("disconnected for good; /quit and try again")

    async def pump(self) -> None:
        async for event in self.chat.events():
            line = format_event(event, me=self.chat.user_id, style=self.style)
            if line is not None:
                self.out(line)

    async def join(self, room: str) -> None:
        joined = await self.chat.join(room)
        self.current = room
        self.note(f"joined {room} (latest #{joined.seq}); plain lines now go there")

    async def handle(self, line: str) -> bool:
        """Run one input line; False means quit."""
        if not line.startswith("/"):
            if self.current is None:
                self.fail("join a room first: /join ROOM")
            else:
                await self.chat.send(self.current, line)
            return True
        try:
            words = shlex.split(line[1:])
        except ValueError:
            words = line[1:].split()
        if not words:
            return True
        name, rest = words[0].lower(), words[1:]
        if name in ("quit", "exit", "q"):
            return False
        if name == "help":
            self.out(HELP)
        elif name == "join" and len(rest) == 1:
            await self.join(rest[0])
        elif name == "leave" and len(rest) <= 1 and (rest or self.current):
            room = rest[0] if rest else self.current
            assert room is not None
            await self.chat.leave(room)
            self.note(f"left {room}")
            if room == self.current:
                self.current = next(iter(sorted(self.chat.rooms)), None)
        elif name == "send" and len(rest) >= 2:
            if rest[0] not in self.chat.rooms:
                await self.chat.join(rest[0])  # only members may send
            await self.chat.send(rest[0], " ".join(rest[1:]))
        elif name == "dm" and len(rest) >= 2:
            await self.chat.dm(rest[0], " ".join(rest[1:]))
        elif name == "history" and len(rest) <= 2 and (rest or self.current):
            room, count = self.current, 20
            for word in rest:
                if word.isdigit():
                    count = int(word)
                else:
                    room = word
            assert room is not None
            reply = await self.chat.history(room, limit=count)
            for message in reply.messages:
                self.out(format_message(message, me=self.chat.user_id, style=self.style))
            self.note(f"{len(reply.messages)} message(s) from {room}")
        elif name == "who" and len(rest) <= 1 and (rest or self.current):
            room = rest[0] if rest else self.current
            assert room is not None
            presence = await self.chat.who(room)
            names = ", ".join(f"{u.name} ({u.id})" for u in presence.users or ())
            self.note(f"in {room}: {names or 'nobody'}")
        elif name == "typing" and self.current:
            await self.chat.typing(self.current)
        elif name == "upload" and rest and self.current and self.upload is not None:
            ids = await self.upload(self.current, rest[0])
            await self.chat.send(self.current, " ".join(rest[1:]), attachments=ids)
        else:
            self.fail(f"cannot run /{name} {' '.join(rest)}".rstrip() + "; /help lists commands")
        return True


def _read_lines(stream: TextIO) -> asyncio.Queue[str | None]:
    """Lines of ``stream`` (None at the end), read on a daemon thread.

    Not ``asyncio.to_thread``: a read blocked in the loop's executor would keep ``asyncio.run``
    from returning after Ctrl-C until the user pressed Enter.
    """
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        try:
            for line in iter(stream.readline, ""):
                loop.call_soon_threadsafe(lines.put_nowait, line)
        except (OSError, ValueError):
            pass
        finally:
            with contextlib.suppress(RuntimeError):  # the loop may already be closed
                loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=pump, name="chat-stdin", daemon=True).start()
    return lines


def _uploader(
    args: argparse.Namespace, env: Environment, chat: ChatClient
) -> Callable[[str, str], Awaitable[list[str]]]:
    async def upload(room: str, path: str) -> list[str]:
        from client.attachments import AttachmentError
        from client.cli import upload_files

        try:
            return await upload_files(
                argparse.Namespace(**{**vars(args), "room": room, "file": [path]}), env, chat
            )
        except AttachmentError as exc:
            raise ChatError(f"upload refused: {exc}") from None

    return upload


async def run_interactive(args: argparse.Namespace, env: Environment, chat: ChatClient) -> int:
    session = Session(chat, env)
    chat.on_state = session.on_state
    session.upload = _uploader(args, env, chat)
    async with chat:
        pump = asyncio.create_task(session.pump())
        try:
            me = chat.user_id or "?"
            session.note(f"connected to {chat.url} as {me}; /help lists commands")
            for room in args.room:
                await session.join(room)
            lines = _read_lines(env.stdin)
            while True:
                line = await lines.get()
                if line is None:  # end of input
                    break
                line = line.rstrip("\n")
                if not line.strip():
                    continue
                try:
                    if not await session.handle(line):
                        break
                except ServerError as exc:
                    session.fail(f"error {exc.code}: {exc.message}")
                except ChatError as exc:
                    session.fail(str(exc))
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
    return ExitStatus.OK
