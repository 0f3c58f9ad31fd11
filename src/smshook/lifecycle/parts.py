"""One status for a multipart message, and its time to final status (pure).

A message registered with ``parts`` is ``delivered`` when every part is delivered (``read`` when every
part was read), the worst final failure when any part failed (``partial`` when some parts were
delivered), otherwise the least advanced part's status (a part without any receipt counts as
``pending``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from smshook.status import FINAL, RANK

DELIVERED = frozenset({"delivered", "read"})
# The worst failure first: refused outright, then the provider's own failure, then the carrier's.
FAILURE_ORDER = ("rejected", "failed", "undelivered", "expired")


@dataclass(frozen=True, slots=True)
class Rollup:
    status: str
    final: bool
    partial: bool  # some parts delivered while another failed


def rollup(statuses: Sequence[str | None]) -> Rollup:
    """The message's status from its parts' statuses (None: no receipt yet)."""
    known = [s or "pending" for s in statuses] or ["pending"]
    failures = [s for s in known if s in FINAL and s not in DELIVERED]
    if failures:
        worst = min(failures, key=lambda s: FAILURE_ORDER.index(s) if s in FAILURE_ORDER else len(FAILURE_ORDER))
        return Rollup(worst, True, any(s in DELIVERED for s in known))
    if all(s in DELIVERED for s in known):
        return Rollup("read" if all(s == "read" for s in known) else "delivered", True, False)
    least = min(known, key=lambda s: RANK[s] if s not in FINAL else 1000)
    return Rollup(least, False, False)


def seconds_between(start: str | None, end: str | None) -> float | None:
    """Seconds from one ISO UTC time to another (never negative), or None when either is unknown."""
    if start is None or end is None:
        return None
    a = datetime.fromisoformat(start.replace("Z", "+00:00"))
    b = datetime.fromisoformat(end.replace("Z", "+00:00"))
    return round(max(0.0, (b - a).total_seconds()), 3)
