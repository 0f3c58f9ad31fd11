"""Opt-outs: STOP / START and the providers' own signals become ``optout`` / ``optin`` events (pure).

:func:`derive` runs on the events an adapter parsed, before they are stamped and stored, so an
opt-out is stored (and forwarded) in the same transaction as the inbound message that caused it, and a
provider's retry of that message is a duplicate of both. An ``optout`` / ``optin`` event has ``from``
= the subscriber, ``to`` = our number or sender id the subscriber wrote to (null: every sender, after
STOPALL), ``keyword`` and ``text`` of the message, and ``details.source`` (``keyword`` or
``provider``) and ``details.cause`` (the inbound or status event's provider data that caused it).

The current state of a number (:func:`state`) is its latest opt-out or opt-in event that applies:
one to the sender asked about, or one to every sender.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from smshook.events import Event
from smshook.lifecycle.options import EVERY_SENDER, LifecycleOptions

# Providers' own signals. The adapters normalize them to ``details.opt_out`` (``STOP`` / ``START`` /
# ``HELP``): Twilio's inbound OptOutType and its error 21610 ("attempt to send to unsubscribed
# recipient"), Plivo's MessageIntent and error 200, Telnyx's error 40300, MessageBird's code 103 — on a
# status, the recipient had opted out. Twilio's raw OptOutType / ErrorCode are read too (an event
# parsed by an adapter that keeps them without the normalized key).
OPT_OUT = "opt_out"
OPT_OUT_TYPE = "OptOutType"
UNSUBSCRIBED_ERRORS = frozenset({"21610"})
HELP_FLAG = "help_request"


def signal(event: Event) -> str:
    """The provider's own opt-out signal on ``event``: ``STOP``, ``START``, ``HELP`` or ``""``."""
    return str(event.details.get(OPT_OUT) or event.details.get(OPT_OUT_TYPE) or "").upper()


def first_word(event: Event) -> str:
    word = event.keyword or next(iter((event.text or "").split()), "")
    return word.strip(".,!?;:'\"()").upper()


def _change(kind: str, cause: Event, subscriber: str | None, sender: str | None, keyword: str | None,
            source: str) -> Event:
    return Event(type=kind,  # type: ignore[arg-type]  # optout | optin
                 message_id=cause.message_id, from_=subscriber, to=sender, text=cause.text, keyword=keyword,
                 channel=cause.channel, occurred_at=cause.occurred_at,
                 details={"source": source, "cause": cause.type, "provider_status": cause.provider_status},
                 key_extra=cause.key_extra)


def derive(events: Sequence[Event], options: LifecycleOptions) -> list[Event]:
    """The opt-out / opt-in events that ``events`` imply (flags HELP messages in place)."""
    out: list[Event] = []
    for event in events:
        if event.type == "inbound" and event.from_:
            given = signal(event)
            word = first_word(event)
            if given in ("STOP", "START"):
                kind, source, keyword = ("optout" if given == "STOP" else "optin"), "provider", word or given
            elif word in options.stop_keywords:
                kind, source, keyword = "optout", "keyword", word
            elif word in options.start_keywords:
                kind, source, keyword = "optin", "keyword", word
            else:
                if word in options.help_keywords or given == "HELP":
                    event.details[HELP_FLAG] = True
                continue
            sender = None if kind == "optout" and word in EVERY_SENDER else event.to
            out.append(_change(kind, event, event.from_, sender, keyword, source))
        elif event.type == "status" and event.to and (
                signal(event) == "STOP" or event.provider_status in UNSUBSCRIBED_ERRORS
                or str(event.details.get("ErrorCode") or "") in UNSUBSCRIBED_ERRORS):
            # the sender we used; unknown (MessageBird's reports do not name it): every sender, the
            # safe reading of "this number refuses our messages"
            out.append(_change("optout", event, event.to, event.from_, None, "provider"))
    return out


@dataclass(frozen=True, slots=True)
class Change:
    """One opt-out / opt-in event of a subscriber, as :func:`state` reads it (oldest first by id)."""

    id: str
    type: str
    sender: str | None  # None: every sender
    keyword: str | None
    at: str  # occurred_at, else received_at
    connection: str
    erased: bool = False  # kept when the number was erased (smshook.lifecycle.erased): no number stored


def state(changes: Sequence[Change], sender: str | None) -> dict[str, Any]:
    """``{"opted_out", "since", "keyword", "event_id", "sender"}`` for one subscriber's changes (in id
    order). With ``sender``: the latest change to that sender or to every sender. Without: opted out
    when opted out of any sender (the most recent such opt-out is shown)."""
    if sender is not None:
        relevant = [c for c in changes if c.sender is None or c.sender == sender]
        latest = relevant[-1] if relevant else None
    else:
        per_scope: dict[str | None, Change] = {}
        for c in changes:
            per_scope[c.sender] = c
        # after STOPALL, a later START to one sender does not opt back in to the others
        out = [c for c in per_scope.values() if c.type == "optout"]
        latest = max(out, key=lambda c: c.id) if out else (changes[-1] if changes else None)
    if latest is None or latest.type != "optout":
        return {"opted_out": False, "since": latest.at if latest else None,
                "keyword": latest.keyword if latest else None, "event_id": latest.id if latest else None,
                "sender": latest.sender if latest else None, "erased": bool(latest and latest.erased)}
    return {"opted_out": True, "since": latest.at, "keyword": latest.keyword, "event_id": latest.id,
            "sender": latest.sender, "erased": latest.erased}


def current(changes: Sequence[Change]) -> list[dict[str, Any]]:
    """Per sender scope (``sender`` null: every sender) the latest change of one subscriber."""
    latest: dict[str | None, Change] = {}
    for c in changes:
        latest[c.sender] = c
    return [{"sender": c.sender, "opted_out": c.type == "optout", "since": c.at, "keyword": c.keyword,
             "event_id": c.id, "connection": c.connection, "erased": c.erased}
            for c in sorted(latest.values(), key=lambda c: c.id)]
