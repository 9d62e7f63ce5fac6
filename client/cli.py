"""``chat``: talk to the chat backend from a terminal or a script.

Every failure a user can cause or meet (bad flags, server unreachable, token rejected, no reply)
ends with one line on stderr and its own exit code (:class:`~client.context.ExitStatus`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, NoReturn

from client import httpcli
from client.attachments import AttachmentError
from client.chat import ChatClient
from client.context import Environment, ExitStatus
from client.errors import AuthError, ChatError, ConnectError, RequestTimeout, ServerError
from client.events import Message
from client.notify import NotifyError, build_message, discover_local, parse_payload, publish
from client.render import Style, event_json, format_event, format_message
from client.tokens import SCOPES, TokenError, load_dev_settings, mint_token

__all__ = ["DEFAULT_URL", "UsageError", "build_parser", "main"]

DEFAULT_URL = "ws://127.0.0.1:3001/dev"  # the local stack started by `make run`

Handler = Callable[[argparse.Namespace, Environment], Coroutine[Any, Any, int]]


class UsageError(Exception):
    """Bad flags or arguments; reported as one line with exit status 2."""


class _Exit(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


class _Parser(argparse.ArgumentParser):
    """argparse that writes to the injected streams and reports errors as one line."""

    env: Environment

    def _print_message(self, message: str, file: Any = None) -> None:
        if message:
            stream = self.env.stderr if file is sys.stderr else self.env.stdout
            stream.write(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self.env.stderr.write(message)
        raise _Exit(status)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def _parser_class(env: Environment) -> type[_Parser]:
    class Parser(_Parser):
        pass

    Parser.env = env
    return Parser


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {value}")
    return number


def _positive_float(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {value}")
    return number


def _nonnegative_float(value: str) -> float:
    number = float(value)
    if not number >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be zero or more, not {value}")
    return number


def _nonnegative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be zero or more, not {value}")
    return number


# -- parser --------------------------------------------------------------------------------------


def _secret_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("dev token signing (with --user)")
    group.add_argument("--secret", help="HS256 secret (default: $CHAT_JWT_SECRET or local.yaml)")
    group.add_argument("--issuer", help="iss claim (default: $CHAT_JWT_ISSUER or local.yaml)")
    group.add_argument("--audience", help="aud claim (default: $CHAT_JWT_AUDIENCE or local.yaml)")


def _connection_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument("--url", help=f"WebSocket URL (default: $CHAT_URL or {DEFAULT_URL})")
    group.add_argument("--token", help="JWT (default: $CHAT_TOKEN)")
    group.add_argument("--user", help="mint a dev token for this user id when no token is given")
    group.add_argument("--name", help="display name in a minted token")
    group.add_argument(
        "--rooms", type=_csv, default=[], help="private rooms a minted token grants (a,b)"
    )
    group.add_argument(
        "--timeout", type=_positive_float, default=10.0, help="seconds to wait for a reply (10)"
    )
    _secret_options(parser)


def _scope_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scope",
        action="append",
        default=[],
        choices=SCOPES,
        help="a service scope for the HTTP API in a minted token (repeatable)",
    )


def _file_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--file",
        action="append",
        default=[],
        metavar="PATH",
        help="attach a file, uploaded straight to storage first (repeatable)",
    )
    httpcli.add_http_option(parser)


def build_parser(env: Environment) -> argparse.ArgumentParser:
    parser_class = _parser_class(env)
    parser = parser_class(
        prog="chat",
        description="Chat from a terminal or a script, and load-test the backend.",
        epilog="Defaults point at the local stack (`make run`). See 'chat COMMAND --help'.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=parser_class)
    commands.required = True

    p = commands.add_parser(
        "token", help="mint a dev token", description="Mint an HS256 dev token."
    )
    p.add_argument("--user", required=True, help="user id (the token's sub)")
    p.add_argument("--name", help="display name (default: the user id)")
    p.add_argument(
        "--rooms", type=_csv, default=[], help="private rooms granted, e.g. private:ops,x"
    )
    p.add_argument(
        "--ttl", type=_positive_int, help="lifetime in seconds (default from local.yaml)"
    )
    _scope_option(p)
    _secret_options(p)
    p.set_defaults(handler=cmd_token)

    p = commands.add_parser(
        "connect",
        help="interactive chat",
        description="Interactive chat. Plain lines go to the current room; /help lists commands.",
    )
    p.add_argument("--room", action="append", default=[], help="join this room (repeatable)")
    httpcli.add_http_option(p)
    _connection_options(p)
    p.set_defaults(handler=cmd_connect)

    p = commands.add_parser(
        "send",
        help="send a message",
        description="Send a message to a room (or a DM) and wait for its ack.",
    )
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--room", help="room to send to")
    target.add_argument("--to", help="user id to send a direct message to")
    p.add_argument("text", nargs="*", help="message text; '-' reads one message per stdin line")
    p.add_argument("--json", action="store_true", help="print each ack as a JSON line")
    _file_options(p)
    _connection_options(p)
    p.set_defaults(handler=cmd_send)

    p = commands.add_parser(
        "publish",
        help="publish a message over the HTTP API",
        description="Publish to a room over the HTTP API (no socket, no join; retried safely "
        "with an idempotency key). Without an HTTP API URL it sends over the WebSocket.",
    )
    p.add_argument("--room", required=True, help="room to publish to")
    p.add_argument("text", nargs="+", help="message text; '-' reads one message per stdin line")
    p.add_argument("--ref", help="idempotency key (default: a fresh one per message)")
    p.add_argument("--json", action="store_true", help="print each ack as a JSON line")
    httpcli.add_http_option(p)
    _scope_option(p)
    _connection_options(p)
    p.set_defaults(handler=cmd_publish, to=None)

    p = commands.add_parser(
        "download",
        help="download an attachment",
        description="Download a file a message carries (its id is in `chat listen`'s output).",
    )
    p.add_argument("id", help="attachment id")
    p.add_argument("-o", "--out", default=".", help="file or folder to write (default: here)")
    httpcli.add_http_option(p)
    _connection_options(p)
    p.set_defaults(handler=cmd_download)

    p = commands.add_parser(
        "listen",
        help="print events as they arrive",
        description="Join rooms and print events until interrupted (or --count / --duration).",
    )
    p.add_argument("--room", action="append", default=[], help="room to join (repeatable)")
    p.add_argument("--json", action="store_true", help="one JSON event per line, as received")
    p.add_argument("--count", type=_positive_int, help="stop after this many messages")
    p.add_argument("--duration", type=_positive_float, help="stop after this many seconds")
    _connection_options(p)
    p.set_defaults(handler=cmd_listen)

    p = commands.add_parser(
        "history", help="print a room's history", description="Print a room's stored messages."
    )
    p.add_argument("--room", required=True, help="room (or dm:a:b)")
    p.add_argument("--after", type=_nonnegative_int, help="only messages with seq > AFTER")
    p.add_argument("--before", type=_positive_int, help="only messages with seq < BEFORE")
    p.add_argument("--limit", type=_positive_int, help="at most this many (server maximum 100)")
    p.add_argument("--json", action="store_true", help="one JSON message per line")
    httpcli.add_http_option(p)
    _connection_options(p)
    p.set_defaults(handler=cmd_history)

    p = commands.add_parser("who", help="list a room's users", description="List who is in a room.")
    p.add_argument("--room", required=True, help="room")
    p.add_argument("--json", action="store_true", help="one JSON user per line")
    _connection_options(p)
    p.set_defaults(handler=cmd_who)

    p = commands.add_parser(
        "notify",
        help="publish a notification",
        description="Publish to the NotificationsTopic; the backend delivers it to the targets.",
    )
    p.add_argument("payload", help='JSON payload, or plain text (sent as {"text": ...})')
    p.add_argument("--user", action="append", default=[], help="target user id (repeatable)")
    p.add_argument("--room", action="append", default=[], help="target room (repeatable)")
    p.add_argument("--all", action="store_true", help="every connected user")
    p.add_argument("--id", help="notification id (default: random)")
    p.add_argument("--topic-arn", help="topic ARN (default: $CHAT_TOPIC_ARN or discovered)")
    p.add_argument(
        "--endpoint-url", help="AWS endpoint, e.g. the local stack's (default: $AWS_ENDPOINT_URL)"
    )
    p.add_argument("--region", help="AWS region (default: $AWS_REGION or us-east-1)")
    p.add_argument(
        "--url",
        help="with no endpoint or topic given: the local stack to ask for both "
        f"(default: $CHAT_URL or {DEFAULT_URL})",
    )
    httpcli.add_http_option(p)
    p.add_argument(
        "--token",
        help="over the HTTP API: a token with chat/notify (default: $CHAT_TOKEN, or a dev "
        "service token)",
    )
    _secret_options(p)
    p.set_defaults(handler=cmd_notify)

    from client.loadtest import add_arguments as add_loadtest_arguments
    from client.loadtest import command as loadtest_command

    p = commands.add_parser(
        "loadtest",
        help="load-test the backend",
        description=(
            "Open N connections over R rooms; S of them send at a total RATE for DURATION "
            "seconds. Reports latency percentiles, throughput, errors, and lost / duplicated / "
            "out-of-order deliveries counted against acks."
        ),
    )
    add_loadtest_arguments(p)
    _connection_options(p)
    p.set_defaults(handler=loadtest_command)
    return parser


# -- shared helpers ------------------------------------------------------------------------------


def resolve_url(args: argparse.Namespace, env: Environment) -> str:
    return str(args.url or env.environ.get("CHAT_URL") or DEFAULT_URL)


def resolve_token(args: argparse.Namespace, env: Environment, *, user: str | None = None) -> str:
    """``--token``, then ``$CHAT_TOKEN``, then a dev token minted for ``--user``."""
    if user is None:
        token = args.token or env.environ.get("CHAT_TOKEN")
        if token:
            return str(token)
        user = args.user or env.environ.get("CHAT_USER")
    if not user:
        raise UsageError(
            f"chat {args.command}: no token: pass --token, set CHAT_TOKEN, "
            "or --user NAME to mint a dev token"
        )
    settings = load_dev_settings(
        environ=env.environ,
        cwd=env.cwd,
        secret=args.secret,
        issuer=args.issuer,
        audience=args.audience,
    )
    return mint_token(
        user=user,
        settings=settings,
        name=args.name,
        rooms=args.rooms,
        scopes=getattr(args, "scope", ()),
    )


def open_client(args: argparse.Namespace, env: Environment, **options: Any) -> ChatClient:
    return ChatClient(
        resolve_url(args, env),
        resolve_token(args, env),
        request_timeout=args.timeout,
        open_timeout=args.timeout,
        **options,
    )


def _write(env: Environment, line: str) -> None:
    env.stdout.write(line + "\n")
    env.stdout.flush()


def _note(env: Environment, line: str) -> None:
    env.stderr.write(line + "\n")
    env.stderr.flush()


# -- commands ------------------------------------------------------------------------------------


async def cmd_token(args: argparse.Namespace, env: Environment) -> int:
    settings = load_dev_settings(
        environ=env.environ,
        cwd=env.cwd,
        secret=args.secret,
        issuer=args.issuer,
        audience=args.audience,
    )
    _write(
        env,
        mint_token(
            user=args.user,
            settings=settings,
            name=args.name,
            rooms=args.rooms,
            ttl=args.ttl,
            scopes=args.scope,
        ),
    )
    return ExitStatus.OK


async def _read_lines(env: Environment) -> list[str]:
    text = await asyncio.to_thread(env.stdin.read)
    return [line for line in text.splitlines() if line.strip()]


async def cmd_send(args: argparse.Namespace, env: Environment) -> int:
    if not args.text and not args.file:
        raise UsageError("chat send: give the message text, or --file PATH (or both)")
    texts = await _read_lines(env) if args.text == ["-"] else [" ".join(args.text)]
    # A script wants an answer, not a client that waits forever for a server that went away.
    async with open_client(args, env, reconnect=False) as chat:
        if args.room:
            await chat.join(args.room)  # the server only takes messages from a room's members
        files = await upload_files(args, env, chat) if args.file else []
        for text in texts:
            if args.to:
                ack = await chat.dm(args.to, text, attachments=files)
            else:
                ack = await chat.send(args.room, text, attachments=files)
            files = []  # attached to the first message only
            _write(env, event_json(ack) if args.json else f"sent {ack.room} #{ack.seq} {ack.id}")
    return ExitStatus.OK


async def cmd_listen(args: argparse.Namespace, env: Environment) -> int:
    style = Style(color=env.color and not args.json)
    async with open_client(args, env) as chat:
        for room in args.room:
            await chat.join(room)
        rooms = ", ".join(args.room) or "direct messages and notifications"
        _note(env, f"listening on {rooms}")
        seen = 0

        async def pump() -> None:
            nonlocal seen
            async for event in chat.events():
                line = (
                    event_json(event)
                    if args.json
                    else format_event(event, me=chat.user_id, style=style)
                )
                if line is not None:
                    _write(env, line)
                if isinstance(event, Message):
                    seen += 1
                    if args.count is not None and seen >= args.count:
                        return

        try:
            await asyncio.wait_for(pump(), args.duration)
        except TimeoutError:
            pass  # --duration elapsed: a normal end
    return ExitStatus.OK


async def cmd_publish(args: argparse.Namespace, env: Environment) -> int:
    url = await httpcli.resolve_http_url(args, env, resolve_url(args, env))
    if url is None:
        return await cmd_send(args, env)
    texts = await _read_lines(env) if args.text == ["-"] else [" ".join(args.text)]
    return await httpcli.publish(args, env, url, resolve_token(args, env), texts)


async def cmd_history(args: argparse.Namespace, env: Environment) -> int:
    url = await httpcli.resolve_http_url(args, env, resolve_url(args, env))
    if url is not None:
        return await httpcli.history(args, env, url, resolve_token(args, env))
    style = Style(color=env.color and not args.json)
    async with open_client(args, env, reconnect=False) as chat:
        reply = await chat.history(
            args.room, after=args.after, before=args.before, limit=args.limit
        )
        for message in reply.messages:
            line = (
                event_json(message)
                if args.json
                else format_message(message, me=chat.user_id, style=style)
            )
            _write(env, line)
    return ExitStatus.OK


async def cmd_who(args: argparse.Namespace, env: Environment) -> int:
    async with open_client(args, env, reconnect=False) as chat:
        reply = await chat.who(args.room)
        for user in reply.users or ():
            line = (
                json.dumps({"id": user.id, "name": user.name})
                if args.json
                else f"{user.name} ({user.id})"
            )
            _write(env, line)
    return ExitStatus.OK


async def cmd_notify(args: argparse.Namespace, env: Environment) -> int:
    if not (args.user or args.room or args.all):
        raise UsageError("chat notify: name a target: --user, --room or --all")
    message = build_message(
        users=args.user,
        rooms=args.room,
        everyone=args.all,
        payload=parse_payload(args.payload),
        message_id=args.id,
    )
    http_url = await httpcli.resolve_http_url(args, env, resolve_url(args, env))
    if http_url is not None and not args.topic_arn:
        return await _notify_http(args, env, http_url, message)
    topic_arn = args.topic_arn or env.environ.get("CHAT_TOPIC_ARN")
    endpoint_url = args.endpoint_url or env.environ.get("AWS_ENDPOINT_URL")
    region = args.region
    if not (topic_arn or endpoint_url):
        # Nothing says where: the default, as for every command, is the local stack.
        local = await asyncio.to_thread(discover_local, resolve_url(args, env))
        endpoint_url, topic_arn, region = (
            local.endpoint_url,
            local.topic_arn,
            region or local.region,
        )
    topic, sns_id = await asyncio.to_thread(
        publish,
        message,
        topic_arn=topic_arn,
        endpoint_url=endpoint_url,
        region=region,
        environ=env.environ,
    )
    _write(env, f"published notification {message['id']} to {topic.rsplit(':', 1)[-1]} ({sns_id})")
    return ExitStatus.OK


async def _notify_http(
    args: argparse.Namespace, env: Environment, url: str, message: dict[str, Any]
) -> int:
    token = args.token or env.environ.get("CHAT_TOKEN")
    if not token:
        # A dev service token, as `chat token --user chat-cli --scope chat/notify` mints it.
        settings = load_dev_settings(
            environ=env.environ,
            cwd=env.cwd,
            secret=args.secret,
            issuer=args.issuer,
            audience=args.audience,
        )
        token = mint_token(user="chat-cli", settings=settings, scopes=["chat/notify"])
    return await httpcli.notify(args, env, url, token, message)


async def files_api_url(args: argparse.Namespace, env: Environment) -> str:
    """Files go through the HTTP API: ``--http``, ``$CHAT_HTTP_URL`` or the local stack's."""
    url = await httpcli.resolve_http_url(args, env, resolve_url(args, env))
    if url is None:
        raise AttachmentError(
            "config",
            "no HTTP API URL for files: pass --http (the stack's HttpApiUrl output) or set "
            f"{httpcli.HTTP_URL_ENV}",
        )
    return url.rstrip("/")


async def upload_files(args: argparse.Namespace, env: Environment, chat: ChatClient) -> list[str]:
    from client.attachments import Attachments
    from client.progress import ProgressBar

    me = chat.user_id or ""
    room = args.room or ("dm:" + ":".join(sorted((me, args.to))))
    api = await files_api_url(args, env)
    ids = []
    async with Attachments(api, resolve_token(args, env)) as files:
        for path in args.file:
            bar = ProgressBar(f"uploading {path}", env.stderr)
            uploaded = await files.upload(room, env.cwd / path, progress=bar)
            ids.append(uploaded.id)
    return ids


async def cmd_download(args: argparse.Namespace, env: Environment) -> int:
    from client.attachments import Attachments
    from client.progress import ProgressBar

    api = await files_api_url(args, env)
    async with Attachments(api, resolve_token(args, env)) as files:
        target = await files.download(
            args.id, env.cwd / args.out, progress=ProgressBar(f"downloading {args.id}", env.stderr)
        )
    _write(env, f"saved {target}")
    return ExitStatus.OK


async def cmd_connect(args: argparse.Namespace, env: Environment) -> int:
    from client.interactive import run_interactive

    return await run_interactive(args, env, open_client(args, env))


# -- entry point ---------------------------------------------------------------------------------


def _failure(exc: BaseException, command: str) -> tuple[ExitStatus, str]:
    prefix = f"chat {command}".rstrip()
    if isinstance(exc, UsageError):
        return ExitStatus.USAGE, str(exc)
    if isinstance(exc, AuthError):
        return ExitStatus.AUTH, f"{prefix}: {exc}"
    if isinstance(exc, ConnectError):
        return ExitStatus.UNREACHABLE, f"{prefix}: {exc}"
    if isinstance(exc, RequestTimeout):
        return ExitStatus.TIMEOUT, f"{prefix}: {exc}"
    if isinstance(exc, ServerError):
        return ExitStatus.SERVER_ERROR, f"{prefix}: server error {exc}"
    if isinstance(exc, TokenError):
        return ExitStatus.CONFIG, f"{prefix}: {exc}"
    if isinstance(exc, NotifyError):
        status = {"config": ExitStatus.CONFIG, "unreachable": ExitStatus.UNREACHABLE}
        return status.get(exc.kind, ExitStatus.ERROR), f"{prefix}: {exc}"
    if isinstance(exc, ChatError):
        return ExitStatus.ERROR, f"{prefix}: {exc}"
    if isinstance(exc, AttachmentError):
        kind = ExitStatus.CONFIG if exc.code == "config" else ExitStatus.ERROR
        return kind, f"{prefix}: {exc}"
    if isinstance(exc, ValueError):
        return ExitStatus.USAGE, f"{prefix}: {exc}"
    return ExitStatus.ERROR, f"{prefix}: unexpected {type(exc).__name__}: {exc}"


def main(argv: Sequence[str] | None = None, *, env: Environment | None = None) -> int:
    env = env or Environment()
    parser = build_parser(env)
    command = ""
    try:
        args = parser.parse_args(argv)
        command = args.command
        handler: Handler = args.handler
        return int(asyncio.run(handler(args, env)))
    except _Exit as exc:
        return exc.status
    except KeyboardInterrupt:
        _note(env, "")
        return ExitStatus.INTERRUPTED
    except Exception as exc:  # one line, never a traceback
        status, line = _failure(exc, command)
        with contextlib.suppress(Exception):
            _note(env, line)
        return status


if __name__ == "__main__":
    sys.exit(main())
