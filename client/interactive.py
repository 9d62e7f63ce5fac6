"""``chat connect``: an interactive chat in the terminal."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TextIO

from client.chat import ChatClient, State
from client.context import Environment, ExitStatus
from client.errors import ChatError, ServerError
from client.events import Message
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
  /edit [#SEQ] TEXT     edit a message of the current room (default: your last one)
  /delete [#SEQ]        delete a message (default: your last one)
  /react [#SEQ] EMOJI   react to a message (default: the latest one); /unreact likewise
  /read                 mark the current room read
  /rooms                your rooms with their unread counts
  /kick USER, /ban USER [SECONDS], /unban USER   moderate the current room
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
        self.mine: dict[str, str] = {}  # room -> id of my last message there
        self.latest: dict[str, tuple[int, str]] = {}  # room -> (seq, id) of the latest message

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
            if isinstance(event, Message):
                self.latest[event.room] = (event.seq, event.id)
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
                ack = await self.chat.send(self.current, line)
                self.mine[self.current] = ack.id
                self.latest[self.current] = (ack.seq, ack.id)
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
        elif name in CHANGES and self.current:
            await self.change(name, rest, self.current)
        elif name == "read" and self.current and not rest:
            seq = self.latest.get(self.current, (0, ""))[0]
            marker = await self.chat.read(self.current, seq)
            self.note(f"{self.current} read up to #{marker.seq}")
        elif name == "rooms" and not rest:
            listed = (await self.chat.room_list()).rooms
            for info in listed:
                unread = self.style(f"{info.unread} unread", "bold") if info.unread else "0 unread"
                self.out(f"  {info.room}  #{info.seq}  {unread}")
            self.note(f"{len(listed)} room(s)")
        elif name in ("kick", "ban", "unban") and self.current and 1 <= len(rest) <= 2:
            await self.moderate(name, rest, self.current)
        else:
            self.fail(f"cannot run /{name} {' '.join(rest)}".rstrip() + "; /help lists commands")
        return True

    async def change(self, name: str, rest: list[str], room: str) -> None:
        """/edit, /delete, /react, /unreact: a ``#SEQ`` first names the message."""
        target: str | None = None
        if rest and rest[0].startswith("#") and rest[0][1:].isdigit():
            target = await self._id_at(room, int(rest[0][1:]))
            rest = rest[1:]
        elif name in ("edit", "delete"):
            target = self.mine.get(room)
        else:
            target = self.latest.get(room, (0, None))[1]
        if target is None:
            self.fail(f"no message to {name} in {room}; name one with #SEQ")
            return
        if name == "edit" and rest:
            edited = await self.chat.edit(room, target, " ".join(rest))
            self.note(f"edited (version {edited.version})")
        elif name == "delete" and not rest:
            await self.chat.delete(room, target)
            self.note("deleted")
        elif name in ("react", "unreact") and len(rest) == 1:
            method = self.chat.react if name == "react" else self.chat.unreact
            await method(room, target, rest[0])
        else:
            self.fail(f"cannot run /{name} {' '.join(rest)}".rstrip() + "; /help lists commands")

    async def _id_at(self, room: str, seq: int) -> str | None:
        page = await self.chat.history(room, after=seq - 1, limit=1) if seq > 0 else None
        found = [m for m in (page.messages if page else ()) if m.seq == seq]
        return found[0].id if found else None

    async def moderate(self, name: str, rest: list[str], room: str) -> None:
        user = rest[0]
        if name == "ban":
            seconds = int(rest[1]) if len(rest) == 2 and rest[1].isdigit() else None
            if len(rest) == 2 and seconds is None:
                self.fail("/ban USER [SECONDS]: SECONDS is a whole number")
                return
            done = await self.chat.ban(room, user, seconds=seconds)
            until = (
                f" until {time.strftime('%H:%M:%S', time.localtime(done.until))}"
                if done.until
                else ""
            )
            self.note(f"banned {user} from {room}{until}")
        elif len(rest) == 1:
            await (self.chat.kick if name == "kick" else self.chat.unban)(room, user)
            self.note(f"{name}ed {user} in {room}" if name == "kick" else f"unbanned {user}")
        else:
            self.fail(f"/{name} USER")


CHANGES = ("edit", "delete", "react", "unreact")


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
