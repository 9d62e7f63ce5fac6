"""Store one message: one consistent BatchGetItem, one TransactWriteItems (``Publisher``).

The read takes, from both tables at once, the room's counter (``ROOM#r`` / seq 0: ``last``, the
send window and its per-user counts), the ``REF#user#ref`` item when the send has a ref, and the
caller's membership (``ROOM#r`` / ``CONN#c`` in ConnectionsTable) when a connection is given.
``chatcore.sending.decide`` turns what was read into replay / refuse / store. A store is one
transaction:

- counter Update: ``last`` n -> n+1 and the new send window, condition ``last = n`` (or absent);
- message Put at seq n+1, condition absent;
- ref Put, condition absent, ``ReturnValuesOnConditionCheckFailure=ALL_OLD``: when a racing
  retry stored the same ref first, the cancellation carries that item, so its ack is answered
  without another read;
- membership ConditionCheck (``attribute_exists``): a leave that lands between the read and the
  write cancels the message;
- per attachment the message names, an Update of its ``ATT#id`` item (read in the same
  BatchGetItem and checked by ``attachments.check_claim``: the sender's own, ready, for this
  room) that keeps it as long as the message, condition ``status = ready``: an upload rejected
  between the read and the write cancels the message, and the next read says why.

The counter Update also asks for ``ALL_OLD``: a send that lost the counter to another one
decides again from the counter the cancellation returned, and tries one more transaction (one
request per lost race, after a pause of at most 10 ms), a bounded number of times. Any other
cancellation (``TransactionConflict``) reads again. So a send costs two requests, and the
conditions keep ``seq`` gapless, the ref idempotent and the budget exact under any race.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chatcore import attachments as attachment_rules
from chatcore.attachment_store import attachment_key
from chatcore.errors import Forbidden, InternalError, NotMember, RateLimited
from chatcore.fanout import backoff_delay
from chatcore.items import (
    COUNTER_SEQ,
    ban_key,
    connection_key,
    from_item,
    ref_key,
    room_key,
    to_item,
)
from chatcore.items import message_id as make_message_id
from chatcore.protocol import ack_event, message_event
from chatcore.sending import (
    Layout,
    Part,
    Refuse,
    Replay,
    SendState,
    after_lost_race,
    decide,
    failed_part,
    state_from_items,
    stored_ack,
)

__all__ = ["Publisher", "StoredSend"]

# A hot room's counter is contended: a lost race is tried again (each try is one request, a
# few ms on DynamoDB), up to this many times, before the client is told to retry.
_ATTEMPTS = 100
_UNPROCESSED_ROUNDS = 5


@dataclass(frozen=True)
class StoredSend:
    """The outcome of a send: the ack, and whether this call stored the message."""

    ack: dict[str, Any]
    created: bool
    message: dict[str, Any] | None = None


class Publisher:
    """Sends into MessagesTable, checked against ConnectionsTable memberships."""

    def __init__(
        self,
        *,
        client: Any,
        messages_table: str,
        connections_table: str = "",
        retention_days: int = 30,
        attempts: int = _ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not messages_table:
            raise ValueError("Publisher needs the MessagesTable name (MESSAGES_TABLE)")
        self._client = client
        self._messages = messages_table
        self._connections = connections_table
        self._retention = retention_days * 86400
        self._attempts = attempts
        self._sleep = sleep
        self._clock = clock

    def publish(
        self,
        *,
        room: str,
        user_id: str,
        name: str,
        text: str,
        ref: str | None = None,
        connection_id: str | None = None,
        per_second: int | None = None,
        now_ms: int | None = None,
        system: bool = False,
        attachments: Sequence[str] = (),
        keep_objects: Callable[[list[str]], None] | None = None,
    ) -> StoredSend:
        """Store ``text`` in ``room`` with the next seq, or answer why not.

        ``connection_id``: the message is stored only while that connection is a member of the
        room (None: no membership check). ``per_second``: the sender's budget in this room
        (None: unlimited). A ``(user_id, ref)`` stored before returns its ack and stores
        nothing. ``system``: the message is a service's (HTTP API scope ``chat/publish``) and
        carries ``system: true``, stored and delivered. ``attachments``: ids the message carries;
        each must be the sender's own ready upload for ``room`` (else the claim's error, nothing
        stored); ``keep_objects`` gets their S3 keys once, before the message is stored, to keep
        the objects as long as it (should the store then fail, a file is only kept longer than
        needed). Raises ``NotMember`` or ``RateLimited`` (nothing stored), ``InternalError`` when
        the room stays too busy for every attempt.
        """
        if connection_id is not None and not self._connections:
            raise ValueError("a membership check needs the ConnectionsTable name")
        nonce = uuid.uuid4().hex
        state: SendState | None = None
        files: dict[str, dict[str, Any]] = {}
        kept = False
        for attempt in range(self._attempts):
            if state is None:
                state, files = self._read(room, user_id, ref, connection_id, attachments)
            ts = now_ms if now_ms is not None else int(self._clock() * 1000)
            verdict = decide(state, user_id=user_id, now_second=ts // 1000, per_second=per_second)
            if isinstance(verdict, Replay):
                return StoredSend(ack=verdict.ack, created=False)
            if isinstance(verdict, Refuse):
                raise _refusal(verdict.code, room, per_second)
            descriptors = attachment_rules.check_claim(
                attachments, files, user_id=user_id, room=room, now=ts // 1000
            )
            if descriptors and keep_objects is not None and not kept:
                keep_objects([str(files[d["id"]]["key"]) for d in descriptors])
                kept = True
            message_id = make_message_id(verdict.seq, nonce)
            message = message_event(
                id=message_id,
                room=room,
                seq=verdict.seq,
                from_=user_id,
                name=name,
                text=text,
                ts=ts,
                attachments=descriptors or None,
            )
            if system:
                message["system"] = True
            ack = ack_event(ref=ref, id=message_id, room=room, seq=verdict.seq)
            items, layout = self._transaction(
                verdict.last, verdict.window, verdict.senders, message, ack, ref, connection_id
            )
            items.extend(self._keep_updates(descriptors, expires=ts // 1000 + self._retention))
            try:
                self._client.transact_write_items(TransactItems=items)
                return StoredSend(ack=ack, created=True, message=message)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                reasons = exc.response.get("CancellationReasons") or []
            part = failed_part([r.get("Code") for r in reasons], layout)
            returned = _returned_item(reasons, part, layout)
            if part is Part.REF and returned is not None:
                previous = stored_ack(returned)
                if previous is not None:
                    return StoredSend(ack=previous, created=False)
            if part is Part.MEMBERSHIP:
                raise _refusal("not_member", room, per_second)
            # Lost the counter: decide again from the counter the cancellation returned (one
            # request per lost race). Anything else, or no item returned: read again.
            state = after_lost_race(state, returned) if part is Part.COUNTER and returned else None
            # A short full-jitter pause spreads racing senders out; it stays short because a
            # sender that waits long loses every race to senders that do not (starvation).
            self._sleep(backoff_delay(attempt, base=0.001, cap=0.01))
        raise InternalError("the room is too busy to take the message; retry with the same ref")

    # ---- the read -----------------------------------------------------------------------

    def _read(
        self,
        room: str,
        user_id: str,
        ref: str | None,
        connection_id: str | None,
        attachment_ids: Sequence[str],
    ) -> tuple[SendState, dict[str, dict[str, Any]]]:
        counter_key = {"pk": room_key(room), "seq": COUNTER_SEQ}
        # The sender's ban in this room rides along in the same read (it rarely exists).
        ban = {"pk": ban_key(room, user_id), "seq": COUNTER_SEQ}
        wanted: dict[str, list[dict[str, Any]]] = {
            self._messages: [to_item(counter_key), to_item(ban)]
        }
        if ref is not None:
            wanted[self._messages].append(
                to_item({"pk": ref_key(user_id, ref), "seq": COUNTER_SEQ})
            )
        if connection_id is not None:
            membership = to_item({"pk": room_key(room), "sk": connection_key(connection_id)})
            wanted.setdefault(self._connections, []).append(membership)
        wanted[self._messages].extend(attachment_key(i) for i in attachment_ids)
        found = self._batch_get(wanted)
        counter = ref_item = member = ban_item = None
        files: dict[str, dict[str, Any]] = {}
        for items in found.values():
            for item in items:
                if "sk" in item:  # only ConnectionsTable items have a sort key named sk
                    member = item
                elif str(item["pk"]).startswith("REF#"):
                    ref_item = item
                elif str(item["pk"]).startswith("ATT#"):
                    files[str(item["id"])] = item
                elif str(item["pk"]).startswith("BAN#"):
                    ban_item = item
                else:
                    counter = item
        state = state_from_items(
            counter, ref_item, member, checks_membership=connection_id is not None, ban=ban_item
        )
        return state, files

    def _batch_get(
        self, wanted: dict[str, list[dict[str, Any]]]
    ) -> dict[str, list[dict[str, Any]]]:
        request = {table: {"Keys": keys, "ConsistentRead": True} for table, keys in wanted.items()}
        found: dict[str, list[dict[str, Any]]] = {table: [] for table in wanted}
        for attempt in range(_UNPROCESSED_ROUNDS):
            answer = self._client.batch_get_item(RequestItems=request)
            for table, items in answer.get("Responses", {}).items():
                found.setdefault(table, []).extend(from_item(i) for i in items)
            # Unprocessed keys come back only when DynamoDB throttles: ask again for those.
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                return found
            self._sleep(backoff_delay(attempt, base=0.01, cap=0.2))
        raise InternalError("DynamoDB left reads unprocessed after retries")

    # ---- the write ----------------------------------------------------------------------

    def _transaction(
        self,
        last: int,
        window: int,
        senders: dict[str, int],
        message: dict[str, Any],
        ack: dict[str, Any],
        ref: str | None,
        connection_id: str | None,
    ) -> tuple[list[dict[str, Any]], Layout]:
        room = str(message["room"])
        expires = int(message["ts"]) // 1000 + self._retention
        values: dict[str, Any] = {
            ":next": last + 1,
            ":w": window,
            ":s": senders,
            ":u": str(message["from"]),
        }
        if last:
            values[":n"] = last
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._messages,
                    "Key": to_item({"pk": room_key(room), "seq": COUNTER_SEQ}),
                    # The first sender owns the room (``chatcore.moderation``).
                    "UpdateExpression": (
                        "SET #last = :next, #w = :w, #s = :s, #o = if_not_exists(#o, :u)"
                    ),
                    "ConditionExpression": "#last = :n" if last else "attribute_not_exists(pk)",
                    "ExpressionAttributeNames": {
                        "#last": "last",
                        "#w": "window",
                        "#s": "senders",
                        "#o": "owner",
                    },
                    "ExpressionAttributeValues": to_item(values),
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {
                "Put": {
                    "TableName": self._messages,
                    "Item": to_item(
                        {
                            **{k: v for k, v in message.items() if k != "type"},
                            "pk": room_key(room),
                            "kind": "message",
                            "expiresAt": expires,
                            # Reaction counters live here (``chatcore.reactions``).
                            "reactions": {},
                        }
                    ),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        ref_index = membership_index = None
        if ref is not None:
            ref_index = len(items)
            items.append(
                {
                    "Put": {
                        "TableName": self._messages,
                        "Item": to_item(
                            {
                                "pk": ref_key(str(message["from"]), ref),
                                "seq": COUNTER_SEQ,
                                "kind": "ref",
                                "ack": _compact(ack),
                                "expiresAt": expires,
                            }
                        ),
                        "ConditionExpression": "attribute_not_exists(pk)",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                }
            )
        if connection_id is not None:
            membership_index = len(items)
            items.append(
                {
                    "ConditionCheck": {
                        "TableName": self._connections,
                        "Key": to_item({"pk": room_key(room), "sk": connection_key(connection_id)}),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                }
            )
        return items, Layout(counter=0, ref=ref_index, membership=membership_index)

    def _keep_updates(
        self, descriptors: list[dict[str, Any]], *, expires: int
    ) -> list[dict[str, Any]]:
        """Keep each attachment item as long as the message, while it is still ready."""
        return [
            {
                "Update": {
                    "TableName": self._messages,
                    "Key": attachment_key(str(d["id"])),
                    "UpdateExpression": "SET referenced = :t, expiresAt = :exp",
                    "ConditionExpression": "#s = :ready",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": to_item(
                        {":t": True, ":exp": expires, ":ready": attachment_rules.READY}
                    ),
                }
            }
            for d in descriptors
        ]


def _returned_item(
    reasons: list[dict[str, Any]], part: Part, layout: Layout
) -> dict[str, Any] | None:
    """The item a failed condition returned (``ALL_OLD``), for the ref or the counter."""
    index = {Part.REF: layout.ref, Part.COUNTER: layout.counter}.get(part)
    if index is None or index >= len(reasons):
        return None
    item = reasons[index].get("Item")
    return from_item(item) if item else None


def _compact(ack: dict[str, Any]) -> str:
    return json.dumps(ack, separators=(",", ":"))


def _refusal(code: str, room: str, per_second: int | None) -> NotMember | RateLimited | Forbidden:
    if code == "forbidden":
        return Forbidden(f"you are banned from '{room}' for now")
    if code == "not_member":
        return NotMember(f"join '{room}' before sending to it")
    return RateLimited(
        f"more than {per_second} sends per second into '{room}'; slow down and retry"
    )
