"""Subscription filters: text_regex runs in linear time (RE2), so no pattern can stall the writer."""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import ValidationError

from smshook.forwarding.config import FilterSpec
from smshook.forwarding.model import DeliveryQuery, Filters, Matcher, Subscription, compile_text_regex
from smshook.storage import Store
from tests.forwarding.conftest import SECRET
from tests.storage.test_store import inbound, raw

CATASTROPHIC = "^(a|aa)+$"
EVIL_TEXT = "a" * 38 + "b"  # Python's backtracking engine takes minutes on this


def sub(id: str, **kw: object) -> Subscription:
    return Subscription(id=id, kind="webhook", target=f"http://127.0.0.1:9/{id}", secrets=(SECRET,), **kw)  # type: ignore[arg-type]


def test_catastrophic_pattern_matches_in_linear_time() -> None:
    matcher = Matcher(sub("evil", filters=Filters(text_regex=CATASTROPHIC)))
    started = time.perf_counter()
    assert not matcher.matches(inbound(EVIL_TEXT))
    assert not matcher.matches(inbound("a" * (1 << 20) + "b"))  # a 1 MiB hostile text too
    assert time.perf_counter() - started < 1.0
    assert matcher.matches(inbound("a" * 38))


def test_filters_keep_their_meaning() -> None:
    win = Matcher(sub("win", filters=Filters(text_regex=r"\bwin\b")))
    assert win.matches(inbound("I want to WIN now")) and not win.matches(inbound("winter"))


@pytest.mark.parametrize(("pattern", "why"), [
    (r"(a)\1", "back-references"), ("(?=a)b", "look-around"), ("a" * 1001, "at most 1000"),
    ("(", "missing )"),
])
def test_patterns_re2_cannot_run_are_refused_with_a_reason(pattern: str, why: str) -> None:
    with pytest.raises(ValidationError) as info:
        FilterSpec(text_regex=pattern)
    assert why in str(info.value)
    with pytest.raises(ValueError, match=r"RE2|at most"):
        compile_text_regex(pattern)


def test_a_stored_pattern_re2_cannot_run_matches_nothing_instead_of_failing() -> None:
    matcher = Matcher(sub("old", filters=Filters(text_regex=r"(a)\1")))  # stored before RE2
    assert not matcher.matches(inbound("aa"))


async def test_catastrophic_filter_does_not_freeze_the_writer(store: Store) -> None:
    await store.put_subscription(sub("evil", filters=Filters(text_regex=CATASTROPHIC)))
    await store.put_subscription(sub("all"))
    started = time.perf_counter()
    event = inbound(EVIL_TEXT)
    await asyncio.wait_for(store.append(raw(), [event]), 10)
    assert time.perf_counter() - started < 2.0
    evil = await store.deliveries(DeliveryQuery(subscription_id="evil"))
    everything = await store.deliveries(DeliveryQuery(subscription_id="all"))
    assert evil == [] and [d["event_id"] for d in everything] == [event.id]
