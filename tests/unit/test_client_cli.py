"""The ``chat`` CLI through ``main(argv)`` with injected streams."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import jwt
import pytest

from client.cli import main
from client.context import Environment, ExitStatus
from tests.unit.client_fake_server import SECRET, TIMEOUT, FakeChatServer, Stream, running_fake

COMMANDS = [
    "token",
    "connect",
    "send",
    "download",
    "listen",
    "history",
    "who",
    "notify",
    "loadtest",
]


def make_env(tmp_path: Path, stdin: str = "", **environ: str) -> Environment:
    # cwd is an empty folder so the project's local.yaml does not leak into these tests.
    return Environment(
        stdin=Stream(stdin), stdout=Stream(), stderr=Stream(), environ=environ, cwd=tmp_path
    )


def run(argv: list[str], env: Environment) -> int:
    return main(argv, env=env)


async def run_async(argv: list[str], env: Environment) -> int:
    return await asyncio.to_thread(main, argv, env=env)


def out(env: Environment) -> str:
    return env.stdout.getvalue()  # type: ignore[attr-defined,no-any-return]


def err(env: Environment) -> str:
    return env.stderr.getvalue()  # type: ignore[attr-defined,no-any-return]


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeChatServer, str]]:
    async with running_fake() as pair:
        yield pair


def user_args(url: str, user: str) -> list[str]:
    return ["--url", url, "--user", user, "--secret", SECRET]


# -- help and usage ------------------------------------------------------------------------------


def test_top_level_help_lists_every_command(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    assert run(["--help"], env) == ExitStatus.OK
    for command in COMMANDS:
        assert command in out(env)
    assert err(env) == ""


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(tmp_path: Path, command: str) -> None:
    env = make_env(tmp_path)
    assert run([command, "--help"], env) == ExitStatus.OK
    assert out(env).startswith(f"usage: chat {command}")


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        ([], "required: COMMAND"),
        (["dance"], "invalid choice"),
        (["send", "--room", "lobby"], "give the message text, or --file PATH"),
        (["send", "--room", "a", "--to", "b", "hi"], "not allowed with"),
        (["history", "--room", "r", "--limit", "0"], "must be a positive integer"),
        (["loadtest", "--connections", "many"], "invalid _positive_int value"),
        (["token"], "required: --user"),
    ],
)
def test_bad_flags_give_one_line_and_usage_status(
    tmp_path: Path, argv: list[str], complaint: str
) -> None:
    env = make_env(tmp_path)
    assert run(argv, env) == ExitStatus.USAGE
    lines = err(env).splitlines()
    assert len(lines) == 1, lines
    assert complaint in lines[0]
    assert lines[0].startswith("chat")
    assert out(env) == ""


def test_missing_token_is_a_usage_error(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    assert run(["who", "--room", "lobby"], env) == ExitStatus.USAGE
    assert err(env) == (
        "chat who: no token: pass --token, set CHAT_TOKEN, or --user NAME to mint a dev token\n"
    )


def test_notify_needs_a_target(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    assert run(["notify", "hello"], env) == ExitStatus.USAGE
    assert "--user, --room or --all" in err(env)


def test_loadtest_senders_cannot_exceed_connections(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    assert run(["loadtest", "-n", "2", "-s", "3", "--token", "t"], env) == ExitStatus.USAGE


# -- tokens --------------------------------------------------------------------------------------


def test_token_command_prints_a_verifiable_token(tmp_path: Path) -> None:
    env = make_env(tmp_path, CHAT_JWT_SECRET=SECRET)
    argv = ["token", "--user", "alice", "--name", "Alice", "--rooms", "private:ops"]
    assert run(argv, env) == ExitStatus.OK
    claims = jwt.decode(out(env).strip(), SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["name"], claims["rooms"]) == ("alice", "Alice", ["private:ops"])


def test_token_without_a_secret_is_a_config_error(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    assert run(["token", "--user", "alice"], env) == ExitStatus.CONFIG
    assert len(err(env).splitlines()) == 1
    assert "no dev JWT secret" in err(env)


# -- against a server ----------------------------------------------------------------------------


async def test_unreachable_server_is_one_line_and_its_own_status(tmp_path: Path) -> None:
    async with running_fake() as (_, url):
        pass
    env = make_env(tmp_path)
    status = await run_async(["who", "--room", "lobby", *user_args(url, "alice")], env)
    assert status == ExitStatus.UNREACHABLE
    assert err(env).startswith(f"chat who: cannot reach {url}")
    assert len(err(env).splitlines()) == 1


async def test_rejected_token_is_one_line_without_the_token(
    tmp_path: Path, fake: tuple[FakeChatServer, str]
) -> None:
    _, url = fake
    env = make_env(tmp_path, CHAT_TOKEN="secret-looking-but-invalid")
    status = await run_async(["send", "--url", url, "--room", "lobby", "hi"], env)
    assert status == ExitStatus.AUTH
    assert err(env) == "chat send: token rejected by the server (HTTP 401)\n"


async def test_server_error_reply_has_its_own_status(
    tmp_path: Path, fake: tuple[FakeChatServer, str]
) -> None:
    _, url = fake
    env = make_env(tmp_path)
    status = await run_async(["history", "--room", "empty", *user_args(url, "alice")], env)
    assert status == ExitStatus.SERVER_ERROR
    assert err(env) == "chat history: server error not_found: no messages\n"


async def test_send_listen_history_who(tmp_path: Path, fake: tuple[FakeChatServer, str]) -> None:
    _, url = fake
    listeners = {}
    for user in ("bob", "alice"):
        env = make_env(tmp_path)
        # --duration bounds the listener's thread even if this test fails half-way.
        argv = ["listen", "--room", "lobby", "--json", "--count", "2", "--duration", str(TIMEOUT)]
        argv += user_args(url, user)
        listeners[user] = (env, asyncio.create_task(run_async(argv, env)))
        await asyncio.to_thread(env.stderr.wait_for, "listening on lobby")  # type: ignore[attr-defined]

    who_env = make_env(tmp_path)
    argv = ["who", "--room", "lobby", "--json", *user_args(url, "carol")]
    assert await run_async(argv, who_env) == ExitStatus.OK
    assert sorted(json.loads(line)["id"] for line in out(who_env).splitlines()) == ["alice", "bob"]

    send_env = make_env(tmp_path, stdin="first line\nsecond line\n")
    argv = ["send", "--room", "lobby", "-", *user_args(url, "alice")]
    assert await run_async(argv, send_env) == ExitStatus.OK
    assert out(send_env).splitlines()[0].startswith("sent lobby #1 ")
    for env, task in listeners.values():
        assert await asyncio.wait_for(task, TIMEOUT) == ExitStatus.OK
        events = [json.loads(line) for line in out(env).splitlines()]
        assert [e["text"] for e in events if e["type"] == "message"] == [
            "first line",
            "second line",
        ]

    history_env = make_env(tmp_path)
    argv = ["history", "--room", "lobby", "--after", "1", *user_args(url, "carol")]
    assert await run_async(argv, history_env) == ExitStatus.OK
    lines = out(history_env).splitlines()
    assert len(lines) == 1 and "second line" in lines[0] and "\x1b[" not in lines[0]


@pytest.mark.parametrize("as_json", [True, False])
async def test_listen_prints_one_line_per_message_of_a_messages_frame(
    tmp_path: Path, fake: tuple[FakeChatServer, str], as_json: bool
) -> None:
    server, url = fake
    server.batch_window = TIMEOUT / 10  # the three sends below reach bob as one frame
    env = make_env(tmp_path)
    argv = ["listen", "--room", "lobby", "--count", "3", "--duration", str(TIMEOUT)]
    argv += ["--json"] if as_json else []
    listener = asyncio.create_task(run_async([*argv, *user_args(url, "bob")], env))
    await asyncio.to_thread(env.stderr.wait_for, "listening on lobby")  # type: ignore[attr-defined]
    send_env = make_env(tmp_path, stdin="one\ntwo\nthree\n")
    assert (
        await run_async(["send", "--room", "lobby", "-", *user_args(url, "alice")], send_env) == 0
    )
    assert await asyncio.wait_for(listener, TIMEOUT) == ExitStatus.OK
    assert [len(frame["messages"]) for user, frame in server.batches if user == "bob"] == [3]
    lines = out(env).splitlines()
    if as_json:
        events = [json.loads(line) for line in lines]
        assert [(e["type"], e["seq"], e["text"]) for e in events] == [
            ("message", 1, "one"),
            ("message", 2, "two"),
            ("message", 3, "three"),
        ]
    else:
        assert [line.rsplit(": ", 1)[1] for line in lines] == ["one", "two", "three"]


async def test_connect_interactive_session(
    tmp_path: Path, fake: tuple[FakeChatServer, str]
) -> None:
    server, url = fake
    script = "\n".join(
        [
            "/join lobby",
            "hello there",
            "/who",
            "/history lobby 5",
            "/dm bob psst",
            "/frobnicate",
            "/quit",
        ]
    )
    env = make_env(tmp_path, stdin=script + "\n")
    assert await run_async(["connect", *user_args(url, "alice")], env) == ExitStatus.OK
    text = out(env)
    assert "joined lobby" in text
    assert "alice (you): hello there" in text  # own messages are marked
    assert "in lobby: alice (alice)" in text
    assert "cannot run /frobnicate" in text
    assert "\x1b[" not in text  # not a terminal: no colour codes
    assert [f["text"] for f in server.actions("dm")] == ["psst"]


@pytest.mark.parametrize(("no_color", "coloured"), [("", True), ("1", False)])
async def test_connect_colours_only_a_terminal_without_no_color(
    tmp_path: Path, fake: tuple[FakeChatServer, str], no_color: str, coloured: bool
) -> None:
    _, url = fake
    env = Environment(
        stdin=Stream("/join lobby\n/send lobby hi\n/history\n/quit\n"),
        stdout=Stream(tty=True),
        stderr=Stream(),
        environ={"NO_COLOR": no_color} if no_color else {},
        cwd=tmp_path,
    )
    assert await run_async(["connect", *user_args(url, "alice")], env) == ExitStatus.OK
    assert ("\x1b[" in out(env)) is coloured
    assert "alice (you)" in out(env)


async def test_hostile_text_cannot_drive_the_terminal(
    tmp_path: Path, fake: tuple[FakeChatServer, str]
) -> None:
    _, url = fake
    env = make_env(tmp_path, stdin="/join lobby\n/send lobby \x1b[2Jgotcha\x07\n/history\n/quit\n")
    assert await run_async(["connect", *user_args(url, "alice")], env) == ExitStatus.OK
    assert "\x1b[2J" not in out(env) and "\x07" not in out(env)
    assert "\ufffd[2Jgotcha\ufffd" in out(env)
