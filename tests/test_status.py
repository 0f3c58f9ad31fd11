"""The status rules of the design, independent of storage."""

from __future__ import annotations

import itertools

import pytest

from smshook.status import FINAL, RANK, MessageState, advance

NOW = "2026-01-01T00:00:00Z"


def run(events: list[tuple[str, str | None]]) -> tuple[MessageState, list[str]]:
    state = None
    effects = []
    for status, when in events:
        state, effect = advance(state, status, when, NOW)
        effects.append(effect)
    assert state is not None
    return state, effects


def test_only_moves_up() -> None:
    state, effects = run([("sent", None), ("delivered", None), ("sent", None)])
    assert state.status == "delivered" and effects == ["applied", "applied", "late"]
    assert not state.conflict


def test_delivered_may_become_read_but_not_back() -> None:
    state, effects = run([("delivered", None), ("read", None), ("delivered", None)])
    assert state.status == "read" and effects == ["applied", "applied", "late"]
    assert not state.conflict


def test_unknown_then_final_counts() -> None:
    state, _ = run([("unknown", None), ("undelivered", None)])
    assert state.status == "undelivered"


def test_first_final_wins_and_conflict_is_flagged() -> None:
    state, effects = run([("undelivered", None), ("delivered", None)])
    assert state.status == "undelivered" and state.conflict and effects[-1] == "conflict"


def test_first_final_by_provider_time_whatever_the_arrival_order() -> None:
    early, late = ("rejected", "2026-01-01T10:00:00Z"), ("delivered", "2026-01-01T10:05:00Z")
    a, _ = run([early, late])
    b, _ = run([late, early])
    assert a.status == b.status == "rejected"
    assert a.conflict and b.conflict


def test_older_event_of_equal_rank_does_not_override() -> None:
    state, _ = run([("sent", "2026-01-01T10:05:00Z"), ("sent", "2026-01-01T10:00:00Z")])
    assert state.occurred_at == "2026-01-01T10:05:00Z"


@pytest.mark.parametrize("sequence", list(itertools.permutations(
    [("pending", None), ("sent", None), ("buffered", None), ("delivered", None), ("read", None)])))
def test_order_does_not_matter_without_conflict(sequence: tuple[tuple[str, None], ...]) -> None:
    state, _ = run(list(sequence))
    assert state.status == "read" and not state.conflict


def test_vocabulary() -> None:
    assert all(RANK[s] >= 80 for s in FINAL)
    assert all(RANK[s] < 80 for s in set(RANK) - FINAL)
    with pytest.raises(ValueError, match="unknown status"):
        advance(None, "bogus", None, NOW)
