"""The unified status vocabulary and the rules that roll events up into one status per message.

=============  ====  =====  ==========================================================
status         rank  final  meaning
=============  ====  =====  ==========================================================
pending          10  no     the provider has it but knows nothing more
sent             20  no     handed to the carrier / SMSC
buffered         30  no     the carrier holds it and keeps trying
unknown          40  no     the provider gave up learning the outcome; a later final counts
undelivered      80  yes    the carrier tried and failed
expired          80  yes    validity period ran out
rejected         80  yes    refused: invalid, blocked or unreachable number, bad content
failed           80  yes    the provider could not send it
delivered        90  yes    on the handset
read             95  yes    read (Viber and other chat channels)
=============  ====  =====  ==========================================================

:func:`advance` applies the rules, whatever order events arrive in:

1. a message only moves to a higher rank (a late ``sent`` after ``delivered`` is kept in the
   timeline but changes nothing);
2. ``delivered`` may still become ``read``;
3. the first final status wins; a later, different final is kept and marks a conflict. "First" is
   by the provider's time when both events carry one, else by arrival;
4. where the provider gives a time, an older event never overrides a newer one of equal rank.

The one exception to rule 3 (message lifecycle): smshook's own ``expired`` for a message that got no
final receipt in time (``synthetic``) is replaced by a real final that arrives later, with the
effect ``late_final``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

RANK: dict[str, int] = {
    "pending": 10,
    "sent": 20,
    "buffered": 30,
    "unknown": 40,
    "undelivered": 80,
    "expired": 80,
    "rejected": 80,
    "failed": 80,
    "delivered": 90,
    "read": 95,
}
FINAL: frozenset[str] = frozenset({"undelivered", "expired", "rejected", "failed", "delivered", "read"})
STATUSES: tuple[str, ...] = tuple(RANK)

# What an event did to its message's status, kept beside the event for the timeline.
Effect = Literal["applied", "unchanged", "late", "conflict", "late_final"]


@dataclass(frozen=True, slots=True)
class MessageState:
    """The current status of one sent message. ``occurred_at`` is the provider's ISO time of the
    event that set the status (or None); ``updated_at`` is when smshook last changed the row."""

    status: str
    occurred_at: str | None
    conflict: bool
    updated_at: str
    synthetic: bool = False  # the status is smshook's own ``expired`` (no final receipt in time)

    @property
    def final(self) -> bool:
        return self.status in FINAL


def advance(
    current: MessageState | None, status: str, occurred_at: str | None, now: str, synthetic: bool = False
) -> tuple[MessageState, Effect]:
    """The message's next state after one more status event, and what the event did.

    ``occurred_at`` values are ISO 8601 UTC strings, which compare correctly as strings.
    ``synthetic``: the event is smshook's own ``expired`` (see :mod:`smshook.lifecycle.stuck`).
    """
    if status not in RANK:
        raise ValueError(f"unknown status {status!r}")
    if current is None:
        return MessageState(status, occurred_at, False, now, synthetic), "applied"
    if synthetic:  # only ever for a message without a final status: never overrides a real one
        if current.final:
            return current, "late"
        return MessageState(status, occurred_at, current.conflict, now, True), "applied"
    if current.synthetic and status in FINAL:  # a real final after our own `expired`: it wins
        return MessageState(status, occurred_at, current.conflict, now), "late_final"

    older = occurred_at is not None and current.occurred_at is not None and occurred_at < current.occurred_at
    if status == current.status:
        if occurred_at is not None and not older and occurred_at != current.occurred_at:
            return replace(current, occurred_at=occurred_at, updated_at=now), "unchanged"
        return current, "unchanged"

    if current.final:
        if current.status == "delivered" and status == "read":
            return replace(current, status="read", occurred_at=occurred_at or current.occurred_at,
                           updated_at=now), "applied"
        if status not in FINAL or {current.status, status} == {"delivered", "read"}:
            return current, "late"
        # A second, different final: the first one (by provider time when both have one) wins.
        if older:
            return MessageState(status, occurred_at, True, now), "conflict"
        return replace(current, conflict=True, updated_at=now), "conflict"

    if RANK[status] > RANK[current.status]:
        return MessageState(status, occurred_at, current.conflict, now), "applied"
    if RANK[status] == RANK[current.status] and not older:
        return MessageState(status, occurred_at, current.conflict, now), "applied"
    return current, "late"
