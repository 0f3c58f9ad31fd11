"""The backend-neutral store layer on its own, without a database: the append planner, the one WHERE
builder in both placeholder styles, and the translation of driver errors."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from smshook.errors import StoreError
from smshook.events import Event, finalize
from smshook.forwarding.model import Filters, Matcher, ReplayQuery, Subscription
from smshook.status import MessageState
from smshook.storage import queries
from smshook.storage.errors import map_exceptions
from smshook.storage.plan import backfill, fan_out, link_waits, plan_events, status_messages, unresolvable
from smshook.storage.rows import delivery_id

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RECEIVED = "2026-03-01T12:30:00.000Z"


def status(message_id: str, state: str, minutes: int = 0, **kw: Any) -> Event:
    event = Event(type="status", message_id=message_id, status=state, occurred_at=T0 + timedelta(minutes=minutes),
                  **kw)
    return finalize([event], "csoft", "csoft", T0 + timedelta(minutes=30))[0]


def inbound(text: str) -> Event:
    return finalize([Event(type="inbound", from_="447700900001", to="12345", text=text, occurred_at=T0)],
                    "csoft", "csoft", T0)[0]


def test_the_planner_dedups_against_known_keys_and_inside_the_request() -> None:
    stored, again, fresh = status("m1", "sent"), status("m1", "sent"), inbound("hello")
    known = {stored.key}
    states: dict[tuple[str, str], MessageState | None] = {("csoft", "m1"): None}
    plan = plan_events([again, fresh, inbound("hello")], "raw1", RECEIVED, known, states)
    assert plan.new == [False, True, False]
    assert plan.stored == [fresh] and len(plan.rows) == 1 and plan.rows[0][0] == fresh.id
    assert plan.fresh == {fresh.key}
    assert known == {stored.key} and states == {("csoft", "m1"): None}  # the inputs are left alone


def test_the_planner_advances_a_message_through_its_events_in_order() -> None:
    events = [status("m1", "sent", 0), status("m1", "delivered", 1), status("m1", "buffered", 2)]
    assert status_messages(events) == (("csoft", "m1"),)
    plan = plan_events(events, "raw1", RECEIVED, set(), {("csoft", "m1"): None})
    assert plan.new == [True, True, True]
    assert plan.changed[("csoft", "m1")].status == "delivered"  # a final state is not undone by a late one
    assert [row[-1] for row in plan.rows] == ["applied", "applied", "late"]
    assert plan.stored == events and plan.fresh == {e.key for e in events}


def test_the_planner_drops_a_synthetic_expiry_after_a_real_final() -> None:
    current = {("csoft", "m1"): MessageState("delivered", "2026-03-01T12:01:00.000Z", False, RECEIVED, False)}
    plan = plan_events([status("m1", "expired", 5, synthetic=True)], "raw1", RECEIVED, set(), current)
    assert plan.new == [False] and plan.rows == [] and plan.changed == {}


def test_fan_out_queues_one_delivery_per_matching_subscription_after_its_link_wait() -> None:
    subscriptions = [Subscription(id="all", kind="webhook", target="http://127.0.0.1:9/", secrets=("whsec_x",)),
                     Subscription(id="inbound", kind="webhook", target="http://127.0.0.1:9/", secrets=("whsec_x",),
                                  filters=Filters(types=("inbound",)))]
    matchers = [Matcher(s) for s in subscriptions]
    sent, reply = status("m1", "sent"), inbound("STOP")
    waits = link_waits([sent], registered=set(), windows={"csoft": 30.0})
    assert waits == {sent.id: 30.0}
    rows = fan_out([sent, reply], matchers, 1000.0, waits)
    assert [(r[0], r[1], r[2], r[5]) for r in rows] == [
        (delivery_id("all", sent.id), "all", sent.id, 1030.0),
        (delivery_id("all", reply.id), "all", reply.id, 1000.0),
        (delivery_id("inbound", reply.id), "inbound", reply.id, 1000.0),
    ]
    assert link_waits([sent], registered={("csoft", "m1")}, windows={"csoft": 30.0}) == {}


def test_backfill_matches_stored_rows_against_a_later_subscription() -> None:
    sub = Subscription(id="inbound", kind="webhook", target="http://127.0.0.1:9/", secrets=("whsec_x",),
                       filters=Filters(types=("inbound",)))
    rows = [("e1", "status", "csoft", "m1", "sent", None, None), ("e2", "inbound", "csoft", None, None, None, "hi")]
    assert backfill(rows, sub, 5.0) == [(delivery_id("inbound", "e2"), "inbound", "e2", "csoft", None, 5.0, 5.0, 5.0)]


def test_a_quarantine_entry_is_resolvable_once() -> None:
    assert isinstance(unresolvable("q1", None), KeyError)
    assert isinstance(unresolvable("q1", ("raw1", "2026-03-01T12:00:00.000Z")), ValueError)
    assert unresolvable("q1", ("raw1", None)) is None


@pytest.mark.parametrize(("dialect", "expected"), [
    (queries.SQLITE, "a = ? AND (b = ? OR c = ?) AND d IN (?, ?)"),
    (queries.POSTGRES, "a = $1 AND (b = $2 OR c = $3) AND d = ANY($4::text[])"),
])
def test_one_where_builder_for_both_placeholder_styles(dialect: queries.Dialect, expected: str) -> None:
    where = queries.Where(dialect)
    where.equal("a", 1)
    where.equal("skipped", None)
    where.add("(b = {0} OR c = {0})", "x\x00y")
    where.among("d", ["p", "q"])
    assert where.sql() == " WHERE " + expected
    nul = "x\x00y" if dialect is queries.SQLITE else "x\ufffdy"  # PostgreSQL text holds no NUL
    assert where.args == ([1, nul, nul, "p", "q"] if dialect is queries.SQLITE else [1, nul, nul, ["p", "q"]])


def test_replay_statements_number_their_parameters_after_the_set_clause() -> None:
    query = ReplayQuery(event_ids=("e1", "e2"), subscription_id="crm", states=("dead",))
    sql, args = queries.replay(queries.POSTGRES, query, 7.0)
    assert "next_attempt_at = $1, updated_at = $2" in sql and "ev.id = ANY($3::text[])" in sql
    assert "d.subscription_id = $4" in sql and "d.state = ANY($5::text[])" in sql
    assert args == [7.0, 7.0, ["e1", "e2"], "crm", ["dead"]]
    sql, args = queries.replay(queries.SQLITE, query, 7.0)
    assert sql.count("?") == len(args) == 6
    with pytest.raises(ValueError, match="replay needs"):
        queries.replay(queries.SQLITE, ReplayQuery(), 7.0)


def test_driver_errors_become_store_errors() -> None:
    with pytest.raises(StoreError, match="read failed: no such table") as caught, map_exceptions("read failed"):
        raise sqlite3.OperationalError("no such table: x")
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    with pytest.raises(StoreError, match=r"^kept$"), map_exceptions("read failed"):
        raise StoreError("kept")  # passes unchanged
    with pytest.raises(KeyError), map_exceptions("read failed"):
        raise KeyError("not a driver error")
    with pytest.raises(StoreError, match="cannot connect: bad URL"), map_exceptions("cannot connect", ValueError):
        raise ValueError("bad URL")
