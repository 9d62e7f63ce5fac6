"""The browser page in Debian's Chromium against the whole local stack.

Every test signs in through the page as a user would (a name, a dev token from the stack), and
checks what a user would see: messages, who is here, who is typing, toasts, the connection
state. Rooms and user names are unique per test, so tests share one stack without seeing each
other.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import jwt
import pytest
from playwright.sync_api import WebSocketRoute, expect

from tests.e2e.browser_support import (
    TIMEOUT_MS,
    ChatPage,
    LibraryUser,
    RunningStack,
    unique,
)

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=alert(1)>"
HISTORY_PAGE = 50  # messages the page shows on joining a room (app.js)


@pytest.fixture
def library_user(stack: RunningStack) -> Iterator[Callable[..., LibraryUser]]:
    users: list[LibraryUser] = []

    def make(user: str, name: str | None = None) -> LibraryUser:
        client = LibraryUser(stack.running, stack.ws_url, stack.dev_token(user, name))
        users.append(client)
        return client

    yield make
    for client in users:
        client.close()


def signed_in(new_page: Callable[[], ChatPage], name: str, room: str | None = None) -> ChatPage:
    page = new_page()
    page.sign_in(name)
    if room is not None:
        page.join(room)
    return page


# ------------------------------------------------------------------------------ chatting


def test_two_pages_chat_with_each_other(new_page: Callable[[], ChatPage]) -> None:
    room = unique("lobby-")
    alice = signed_in(new_page, unique("Alice"), room)
    bob = signed_in(new_page, unique("Bob"), room)

    alice.send("hello Bob")
    expect(bob.message("hello Bob")).to_have_attribute("data-own", "false")
    expect(alice.message("hello Bob")).to_have_attribute("data-own", "true")
    expect(alice.message("hello Bob")).to_have_class("message own")

    bob.send("hi Alice, Shift+Enter makes\na second line")
    for page in (alice, bob):
        expect(page.message("hi Alice, Shift+Enter makes\na second line")).to_have_count(1)
    expected = ["hello Bob", "hi Alice, Shift+Enter makes\na second line"]
    assert alice.texts() == expected
    assert bob.texts() == expected
    # Every message arrives once, and the outbox of unacknowledged sends is empty again.
    expect(alice.by("pending-message")).to_have_count(0)
    assert alice.errors == bob.errors == []


def test_messages_typed_quickly_keep_their_order(
    new_page: Callable[[], ChatPage], library_user: Callable[..., LibraryUser]
) -> None:
    room = unique("burst-")
    page = signed_in(new_page, unique("Quick"), room)
    cli = library_user(unique("watcher"))
    cli.join(room)
    typed = [f"burst {n}" for n in range(6)]
    for text in typed:
        page.send(text)  # no waiting between them
    expect(page.messages()).to_have_count(len(typed))
    assert page.texts() == typed
    cli.wait_for_message(typed[-1])
    assert [m.text for m in cli.messages] == typed


def test_a_messages_frame_shows_every_message_once_in_order(
    new_page: Callable[[], ChatPage], library_user: Callable[..., LibraryUser]
) -> None:
    room = unique("batched-")
    texts = [f"batched {n}" for n in range(1, 5)]
    held: dict[int, dict[str, object]] = {}
    page = new_page()

    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def to_page(payload: str | bytes) -> None:
            event = json.loads(payload)
            live = event.get("type") in ("message", "messages") and event.get("room") == room
            if not live or len(held) == len(texts):
                ws.send(payload)
                return
            # Hold the room's messages, however the stack framed them, until all have come;
            # then the page gets them as one `messages` frame (twice: the second must change
            # nothing), as the broadcaster sends a busy room's stream batch.
            for message in event.get("messages") or [event]:
                held[message["seq"]] = message
            if len(held) == len(texts):
                frame = {
                    "type": "messages",
                    "room": room,
                    "messages": [held[s] for s in sorted(held)],
                }
                ws.send(json.dumps(frame))
                ws.send(json.dumps(frame))

        server.on_message(to_page)

    page.page.route_web_socket(lambda url: "token=" in url, route)
    page.sign_in(unique("Bea"))
    page.join(room)
    writer = library_user(unique("writer"))
    writer.join(room)
    for text in texts:
        writer.send(room, text)
    expect(page.messages()).to_have_count(len(texts))
    assert page.texts() == texts
    expect(page.message("batched 4")).to_have_attribute("data-own", "false")
    writer.send(room, "and one more")  # a later message alone still follows the batch
    expect(page.messages()).to_have_count(len(texts) + 1)
    assert page.texts() == [*texts, "and one more"]
    assert page.errors == []


def test_page_and_library_client_chat(
    new_page: Callable[[], ChatPage], library_user: Callable[..., LibraryUser]
) -> None:
    room = unique("mixed-")
    page_name = unique("Pat")
    page = signed_in(new_page, page_name, room)
    cli_user = unique("cli")
    cli = library_user(cli_user, "Cli User")
    cli.join(room)

    cli.send(room, "hello from the library")
    expect(page.message("hello from the library")).to_have_attribute("data-own", "false")
    expect(page.message("hello from the library").get_by_test_id("message-author")).to_have_text(
        "Cli User"
    )

    page.send("hello from the browser")
    received = cli.wait_for_message("hello from the browser")
    assert received.room == room
    assert received.sender == page_name.lower()
    assert received.name == page_name


def test_history_appears_on_join(
    new_page: Callable[[], ChatPage], library_user: Callable[..., LibraryUser]
) -> None:
    room = unique("history-")
    cli = library_user(unique("writer"))
    cli.join(room)
    for n in range(1, 4):
        cli.send(room, f"earlier message {n}")

    page = signed_in(new_page, unique("Late"), room)
    expect(page.messages()).to_have_count(3)
    assert page.texts() == ["earlier message 1", "earlier message 2", "earlier message 3"]
    expect(page.by("load-earlier")).to_be_hidden()  # the whole room is already shown


def test_earlier_messages_load_on_request(
    new_page: Callable[[], ChatPage], library_user: Callable[..., LibraryUser]
) -> None:
    room = unique("long-")
    cli = library_user(unique("talker"))
    cli.join(room)
    sent = [f"old {n}" for n in range(1, HISTORY_PAGE + 4)]
    for text in sent:
        cli.send(room, text)

    page = signed_in(new_page, unique("Reader"), room)
    expect(page.messages()).to_have_count(HISTORY_PAGE)  # the latest page only
    assert page.texts() == sent[-HISTORY_PAGE:]
    page.by("load-earlier").click()
    expect(page.messages()).to_have_count(len(sent))
    assert page.texts() == sent
    expect(page.by("load-earlier")).to_be_hidden()  # nothing before seq 1


def test_joined_rooms_come_back_after_a_reload(new_page: Callable[[], ChatPage]) -> None:
    first, second = unique("kept-"), unique("left-")
    name = unique("Rhea")
    page = signed_in(new_page, name, first)
    page.join(second)
    page.send("still here tomorrow")
    expect(page.message("still here tomorrow")).to_be_visible()
    page.by("leave-room").click()  # leaves the second room
    expect(page.room_item(second)).to_have_count(0)

    page.page.reload()
    page.by("signin-name").fill(name)
    page.by("signin-submit").click()
    page.expect_state("online")
    expect(page.room_item(first)).to_have_attribute("data-joined", "true")
    expect(page.room_item(second)).to_have_count(0)
    expect(page.by("current-room")).to_have_attribute("data-room", first)


def test_presence_list_follows_joins_and_leaves(new_page: Callable[[], ChatPage]) -> None:
    room = unique("presence-")
    alice_name, bob_name = unique("Alice"), unique("Bob")
    alice = signed_in(new_page, alice_name, room)
    expect(alice.person(alice_name.lower())).to_contain_text(alice_name)
    expect(alice.person(alice_name.lower())).to_be_disabled()  # no DM to oneself

    bob = signed_in(new_page, bob_name, room)
    expect(alice.person(bob_name.lower())).to_have_text(bob_name)
    expect(bob.person(alice_name.lower())).to_have_text(alice_name)
    expect(bob.by("presence-list").get_by_test_id("presence-user")).to_have_count(2)

    bob.by("leave-room").click()
    expect(bob.room_item(room)).to_have_count(0)
    expect(alice.person(bob_name.lower())).to_have_count(0)

    bob.join(room)
    expect(alice.person(bob_name.lower())).to_have_count(1)
    bob.page.close()  # closing the tab ends the connection: $disconnect tells the room
    expect(alice.person(bob_name.lower())).to_have_count(0)
    expect(alice.by("presence-list").get_by_test_id("presence-user")).to_have_count(1)


def test_markup_in_messages_stays_text(
    new_page: Callable[[], ChatPage], library_user: Callable[..., LibraryUser]
) -> None:
    room = unique("xss-")
    evil_name = "<b>Mallory</b>"
    alice = signed_in(new_page, unique("Alice"), room)
    cli = library_user(unique("mallory"), evil_name)
    cli.join(room)

    cli.send(room, XSS)
    alice.send(XSS + " from the page")

    expect(alice.message(XSS)).to_be_visible()
    expect(alice.message(XSS).get_by_test_id("message-author")).to_have_text(evil_name)
    expect(alice.message(XSS + " from the page")).to_be_visible()
    expect(alice.person(cli.client.user_id or "")).to_have_text(evil_name)
    assert alice.by("messages").locator("img, b").count() == 0
    assert alice.page.locator("img").count() == 0
    assert alice.dialogs == []
    markup = alice.by("messages").inner_html()
    assert markup.count("&lt;img src=x onerror=alert(1)&gt;") == 2


def test_typing_indicator_shows_and_goes_away(new_page: Callable[[], ChatPage]) -> None:
    room = unique("typing-")
    alice_name = unique("Alice")
    alice = signed_in(new_page, alice_name, room)
    bob = signed_in(new_page, unique("Bob"), room)
    # Bob's join shows on Alice's page only once the server has his membership.
    expect(alice.by("presence-list").get_by_test_id("presence-user")).to_have_count(2)

    alice.by("message-input").press_sequentially("I am writ")
    expect(bob.by("typing-indicator")).to_have_text(f"{alice_name} is typing…")
    expect(alice.by("typing-indicator")).to_have_text("")  # never about oneself
    # Shown for a few seconds after the last keystroke, then gone.
    expect(bob.by("typing-indicator")).to_have_text("", timeout=TIMEOUT_MS)

    alice.by("message-input").press_sequentially("ing again")
    expect(bob.by("typing-indicator")).to_have_text(f"{alice_name} is typing…")
    alice.by("message-input").press("Enter")
    expect(bob.message("I am writing again")).to_be_visible()
    # The message itself ends the indicator, without waiting for it to expire.
    expect(bob.by("typing-indicator")).to_have_text("", timeout=TIMEOUT_MS / 5)


def test_direct_messages_between_pages(new_page: Callable[[], ChatPage]) -> None:
    room = unique("dm-")
    alice_name, bob_name = unique("Alice"), unique("Bob")
    alice = signed_in(new_page, alice_name, room)
    bob = signed_in(new_page, bob_name, room)
    alice_id, bob_id = alice_name.lower(), bob_name.lower()
    dm_room = "dm:" + ":".join(sorted((alice_id, bob_id)))

    alice.person(bob_id).click()
    expect(alice.by("current-room")).to_have_text(f"Direct messages with {bob_name}")
    expect(alice.by("current-room")).to_have_attribute("data-room", dm_room)
    alice.send("just between us")
    expect(alice.message("just between us")).to_have_attribute("data-own", "true")

    # Bob is looking at the room: the DM shows up in his list with an unread count.
    dm_item = bob.by("dm-list").locator(f'[data-room="{dm_room}"]')
    expect(dm_item).to_contain_text(alice_name)
    expect(dm_item.get_by_test_id("unread")).to_have_text("1")
    expect(bob.message("just between us")).to_have_count(0)  # not in the room
    dm_item.click()
    expect(bob.message("just between us")).to_have_attribute("data-own", "false")
    expect(dm_item.get_by_test_id("unread")).to_have_count(0)

    bob.send("agreed")
    expect(alice.message("agreed")).to_be_visible()
    assert alice.texts() == bob.texts() == ["just between us", "agreed"]
    # The room saw none of it.
    alice.room_item(room).click()
    expect(alice.messages()).to_have_count(0)


# ------------------------------------------------------------------------------ toasts


def test_notification_shows_as_a_toast(
    stack: RunningStack, new_page: Callable[[], ChatPage]
) -> None:
    name = unique("Nina")
    page = signed_in(new_page, name)
    stack.notify(
        users=[name.lower()], payload={"title": "Build finished", "text": "<b>all green</b>"}
    )
    toast = page.toast("notification")
    expect(toast).to_contain_text("Build finished")
    expect(toast).to_contain_text("<b>all green</b>")
    assert toast.locator("b").count() == 0


def test_server_errors_show_as_toasts_with_their_code(new_page: Callable[[], ChatPage]) -> None:
    page = signed_in(new_page, unique("Eve"))
    page.by("room-input").fill("private:board")
    page.by("room-input").press("Enter")
    expect(page.toast("error")).to_contain_text("forbidden")
    # The room the server refused is not left in the list.
    expect(page.room_item("private:board")).to_have_count(0)


# ------------------------------------------------------------------------------ reconnecting


def test_server_dropping_the_connection_shows_reconnecting_then_online(
    stack: RunningStack,
    new_page: Callable[[], ChatPage],
    library_user: Callable[..., LibraryUser],
) -> None:
    room = unique("drop-")
    name = unique("Rita")
    page = signed_in(new_page, name, room)
    cli = library_user(unique("steady"))
    cli.join(room)
    cli.send(room, "before the drop")
    expect(page.message("before the drop")).to_be_visible()
    page.record_states()

    assert stack.drop_user(name.lower()) == 1  # DELETE @connections/{id}: the server hangs up
    cli.send(room, "right after the drop")
    page.wait_for_states("reconnecting", "online")

    expect(page.message("right after the drop")).to_have_count(1)
    cli.send(room, "after the drop")
    expect(page.message("after the drop")).to_have_count(1)
    assert page.texts() == ["before the drop", "right after the drop", "after the drop"]
    page.send("back again")
    cli.wait_for_message("back again")
    expect(page.toast("error")).to_have_count(0)


def test_messages_sent_while_offline_arrive_once_after_reconnecting(
    stack: RunningStack,
    new_page: Callable[[], ChatPage],
    library_user: Callable[..., LibraryUser],
) -> None:
    room = unique("gap-")
    name = unique("Gina")
    page = signed_in(new_page, name, room)
    cli = library_user(unique("steady"))
    cli.join(room)
    cli.send(room, "before the outage")
    expect(page.message("before the outage")).to_be_visible()
    page.record_states()

    page.page.context.set_offline(True)  # the network goes down: no new socket can open
    assert stack.drop_user(name.lower()) == 1
    page.expect_state("offline")
    for n in range(3):
        cli.send(room, f"while away {n}")
    page.send("written while offline")
    expect(page.by("pending-message")).to_contain_text("sending…")

    page.page.context.set_offline(False)
    page.wait_for_states("offline", "reconnecting", "online")
    # The gap is filled from history, each message once, in seq order.
    for n in range(3):
        expect(page.message(f"while away {n}")).to_have_count(1)
    expect(page.message("written while offline")).to_have_count(1)
    expect(page.by("pending-message")).to_have_count(0)
    assert page.texts()[:4] == ["before the outage"] + [f"while away {n}" for n in range(3)]
    cli.wait_for_message("written while offline")
    # Live again: the room was joined again.
    cli.send(room, "after the outage")
    expect(page.message("after the outage")).to_have_count(1)
    expect(page.toast("error")).to_have_count(0)


def _is(kind: str) -> Callable[[str | bytes], bool]:
    """A frame predicate: a client frame with this action, or a server event of this type."""

    def check(payload: str | bytes) -> bool:
        try:
            frame = json.loads(payload)
        except ValueError:
            return False
        return isinstance(frame, dict) and kind in (frame.get("action"), frame.get("type"))

    return check


def test_page_pings_before_the_idle_timeout(new_page: Callable[[], ChatPage]) -> None:
    page = new_page()
    page.page.clock.install()  # the page's timers, fast-forwarded below; time still flows
    with page.page.expect_websocket() as opened:
        page.sign_in(unique("Ida"))
    socket = opened.value
    for _ in range(2):
        # API Gateway closes a connection after 10 idle minutes; the page pings every few.
        with socket.expect_event("framereceived", predicate=_is("pong")):
            with socket.expect_event("framesent", predicate=_is("ping")):
                page.page.clock.fast_forward("04:00")
        page.expect_state("online")
    assert not socket.is_closed()


def test_a_socket_that_stops_answering_is_replaced(new_page: Callable[[], ChatPage]) -> None:
    page = new_page()
    swallowed: list[str | bytes] = []

    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def to_server(message: str | bytes) -> None:
            if _is("ping")(message):
                swallowed.append(message)  # a half-dead network: the ping never arrives
            else:
                server.send(message)

        ws.on_message(to_server)

    page.page.route_web_socket(lambda url: "token=" in url, route)
    page.page.clock.install()
    room = unique("silent-")
    page.sign_in(unique("Sid"))
    page.join(room)
    page.record_states()

    page.page.clock.fast_forward("04:00")  # ping, never answered
    page.page.clock.fast_forward("00:20")  # past the pong deadline: give up on that socket
    page.wait_for_states("reconnecting", "online")
    assert len(swallowed) == 1
    expect(page.room_item(room)).to_have_attribute("data-joined", "true")
    page.send("still here")
    expect(page.message("still here")).to_have_count(1)


# ------------------------------------------------------------------------------ deployed stacks


def test_sign_in_with_url_and_token_remembers_only_what_was_asked(
    stack: RunningStack, new_page: Callable[[], ChatPage]
) -> None:
    user = unique("dora")
    token = stack.dev_token(user, "Dora")
    page = new_page()
    page.page.goto(page.url)
    page.by("ws-url").fill(stack.ws_url)
    page.by("ws-token").fill(token)
    page.by("connect-submit").click()
    page.expect_state("online")
    expect(page.by("me")).to_have_text("Dora")

    page.by("sign-out").click()
    page.expect_state("offline")
    page.page.reload()
    expect(page.by("ws-url")).to_have_value(stack.ws_url)
    expect(page.by("ws-token")).to_have_value("")  # not ticked: the token is not kept

    page.by("ws-token").fill(token)
    page.by("remember-token").check()
    page.by("connect-submit").click()
    page.expect_state("online")
    page.page.reload()
    expect(page.by("ws-token")).to_have_value(token)
    expect(page.by("remember-token")).to_be_checked()


def test_an_expired_token_ends_the_session_instead_of_retrying(
    stack: RunningStack, new_page: Callable[[], ChatPage]
) -> None:
    user = unique("exa")
    token = stack.dev_token(user)
    expires_at = jwt.decode(token, options={"verify_signature": False})["exp"]
    page = new_page()
    page.page.clock.install()
    page.page.goto(page.url)
    page.by("ws-url").fill(stack.ws_url)
    page.by("ws-token").fill(token)
    page.by("connect-submit").click()
    page.expect_state("online")

    page.page.clock.fast_forward(int((expires_at - time.time() + 60) * 1000))
    assert stack.drop_user(user) == 1
    expect(page.toast("error")).to_contain_text("expired")
    page.expect_state("offline")
    expect(page.by("signin")).to_be_visible()
    assert stack.connection_ids(user) == []


def test_a_rejected_token_is_reported(
    stack: RunningStack, new_page: Callable[[], ChatPage]
) -> None:
    page = new_page()
    page.page.goto(page.url)
    page.by("ws-url").fill(stack.ws_url)
    header, claims, signature = stack.dev_token(unique("mal")).split(".")
    page.by("ws-token").fill(f"{header}.{claims}.{signature[::-1]}")  # a signature that fails
    page.by("connect-submit").click()
    expect(page.toast("error")).to_contain_text("Could not connect")
    page.expect_state("offline")
    expect(page.by("signin")).to_be_visible()


# ------------------------------------------------------------------ edits, deletes, reactions


def test_the_page_shows_edits_deletes_and_reactions_and_reacts(
    new_page: Callable[[], ChatPage], library_user: Callable[..., LibraryUser]
) -> None:
    room = unique("changes-")
    writer = library_user(unique("writer"), "Writer")
    writer.join(room)
    page = signed_in(new_page, unique("Reader"), room)
    expect(page.room_item(room)).to_have_attribute("data-joined", "true")
    first = writer._call(writer.client.send(room, "frist"))
    second = writer._call(writer.client.send(room, "to be removed"))
    expect(page.message("frist")).to_have_count(1)
    expect(page.message("to be removed")).to_have_count(1)

    writer._call(writer.client.edit(room, first.id, "first"))
    edited = page.message("first")
    expect(edited.get_by_test_id("message-edited")).to_have_text("edited")
    writer._call(writer.client.delete(room, second.id))
    tomb = page.messages().filter(has=page.by("message-deleted"))
    expect(tomb).to_have_attribute("data-seq", str(second.seq))

    # React from the page: the reaction comes back through the stream as a count.
    edited.hover()
    edited.get_by_test_id("message-react").first.click()
    expect(edited.get_by_test_id("message-reactions")).to_have_text("👍 1")
    # Another user's message offers no edit or delete to a page without the moderator role.
    expect(edited.get_by_test_id("message-edit")).to_have_count(0)
    assert page.errors == []
