"""The send decision and the reading of a cancelled transaction, without any AWS."""

from __future__ import annotations

from chatcore.sending import (
    Layout,
    Part,
    Refuse,
    Replay,
    SendState,
    Store,
    after_lost_race,
    decide,
    failed_part,
    state_from_items,
)

SECOND = 1_800_000_000
ACK = {"type": "ack", "ref": "r1", "id": "m1", "room": "lobby", "seq": 4}


def test_a_first_send_into_a_new_room_takes_seq_1_and_opens_the_window() -> None:
    verdict = decide(SendState(), user_id="ada", now_second=SECOND, per_second=2)
    assert verdict == Store(seq=1, last=0, window=SECOND, senders={"ada": 1})


def test_a_send_counts_itself_beside_the_others_of_the_same_second() -> None:
    state = SendState(last=7, window=SECOND, senders={"bob": 2, "ada": 1})
    verdict = decide(state, user_id="ada", now_second=SECOND, per_second=2)
    assert verdict == Store(seq=8, last=7, window=SECOND, senders={"bob": 2, "ada": 2})


def test_over_the_budget_in_this_second_is_rate_limited() -> None:
    state = SendState(last=7, window=SECOND, senders={"ada": 2})
    assert decide(state, user_id="ada", now_second=SECOND, per_second=2) == Refuse("rate_limited")
    # Another user of the same room has a budget of their own.
    assert isinstance(decide(state, user_id="bob", now_second=SECOND, per_second=2), Store)


def test_a_new_second_replaces_the_window_and_forgets_the_old_counts() -> None:
    state = SendState(last=7, window=SECOND, senders={"ada": 2, "bob": 2})
    verdict = decide(state, user_id="ada", now_second=SECOND + 1, per_second=2)
    assert verdict == Store(seq=8, last=7, window=SECOND + 1, senders={"ada": 1})


def test_no_budget_never_refuses() -> None:
    state = SendState(window=SECOND, senders={"ada": 10_000})
    assert isinstance(decide(state, user_id="ada", now_second=SECOND, per_second=None), Store)


def test_a_stored_ref_replays_its_ack_even_after_leaving_and_over_budget() -> None:
    state = SendState(window=SECOND, senders={"ada": 5}, stored_ack=ACK, member=False)
    assert decide(state, user_id="ada", now_second=SECOND, per_second=1) == Replay(ACK)


def test_a_non_member_is_refused_before_the_budget_is_looked_at() -> None:
    state = SendState(window=SECOND, senders={"ada": 5}, member=False)
    assert decide(state, user_id="ada", now_second=SECOND, per_second=1) == Refuse("not_member")


def test_no_membership_check_is_not_a_refusal() -> None:
    verdict = decide(SendState(member=None), user_id="a", now_second=1, per_second=1)
    assert isinstance(verdict, Store)


def test_state_from_the_items_read() -> None:
    counter = {"pk": "ROOM#lobby", "seq": 0, "last": 3, "window": SECOND, "senders": {"ada": 1}}
    ref = {"pk": "REF#ada#r1", "seq": 0, "kind": "ref", "ack": '{"type":"ack","seq":4}'}
    state = state_from_items(counter, ref, None, checks_membership=True)
    assert state == SendState(
        last=3,
        window=SECOND,
        senders={"ada": 1},
        stored_ack={"type": "ack", "seq": 4},
        member=False,
    )
    empty = state_from_items(None, None, None, checks_membership=False)
    assert empty == SendState(last=0, window=None, senders={}, stored_ack=None, member=None)
    assert state_from_items(None, None, {"pk": "x"}, checks_membership=True).member is True


def test_failed_part_answers_the_ref_first_then_the_membership_else_a_conflict() -> None:
    layout = Layout(ref=2, membership=3)
    failed = "ConditionalCheckFailed"
    assert failed_part(["None", "None", failed, failed], layout) is Part.REF
    assert failed_part([failed, "None", "None", failed], layout) is Part.MEMBERSHIP
    assert failed_part([failed, "None", "None", "None"], layout) is Part.COUNTER
    assert failed_part(["None", failed, "None", "None"], layout) is Part.CONFLICT
    # A concurrent transaction on the membership item is not a refusal: read again.
    assert failed_part(["None", "None", "None", "TransactionConflict"], layout) is Part.CONFLICT
    assert failed_part([], Layout()) is Part.CONFLICT


def test_after_a_lost_race_the_returned_counter_is_decided_again() -> None:
    mine = SendState(last=3, window=SECOND, senders={"ada": 1}, member=True)
    counter = {"pk": "ROOM#lobby", "seq": 0, "last": 4, "window": SECOND, "senders": {"ada": 2}}
    again = after_lost_race(mine, counter)
    assert again == SendState(last=4, window=SECOND, senders={"ada": 2}, member=True)
    # The racer used up the budget: the retry is refused without another read.
    assert decide(again, user_id="ada", now_second=SECOND, per_second=2) == Refuse("rate_limited")
    assert decide(again, user_id="bob", now_second=SECOND, per_second=2) == Store(
        seq=5, last=4, window=SECOND, senders={"ada": 2, "bob": 1}
    )
