"""The message-lifecycle API (issue 15) in process: registration limits and answers, message lookup,
opt-outs through a provider callback, stuck messages; and time to delivery by the best known start
(issue 16, defect 2)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smshook.app import SmshookApp
from smshook.lifecycle.stuck import sweep_once
from smshook.settings import load_settings
from tests.storage.conftest import BACKENDS, new_store
from tests.web.conftest import app_client

FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture(params=BACKENDS)
async def app(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[SmshookApp, httpx.AsyncClient]]:
    """The app on each storage backend (SQLite, and PostgreSQL on a throwaway cluster)."""
    application = SmshookApp(load_settings(), new_store(request.param, request, tmp_path))
    async with app_client(application) as c:
        yield application, c


def receipt(message_id: str, report: str = "0") -> bytes:
    return f"Username=NULL&PIN=NULL&SendTo=447700900123&MessageIdentifier={message_id}&Report={report}".encode()


def message(message_id: str, **kw: Any) -> dict[str, Any]:
    return {"connection": "csoft", "message_id": message_id, "to": "+447700900123", **kw}


async def test_register_answers_201_200_409_and_the_lookup_shows_it(app: tuple[SmshookApp, httpx.AsyncClient]) -> None:
    _, client = app
    assert (await client.post("/hooks/csoft", content=receipt("M1"), headers=FORM)).status_code == 200
    body = message("M1", reference="order-42", metadata={"customer": 7}, sent_at="2026-03-01T10:07:00Z")
    created = await client.post("/v1/messages", json=body)
    assert created.status_code == 201 and created.json()["reference"] == "order-42"
    again = await client.post("/v1/messages", json=body)
    assert again.status_code == 200 and again.json() == created.json()
    conflict = await client.post("/v1/messages", json={**body, "to": "447700900999"})
    assert conflict.status_code == 409 and "different to" in conflict.json()["error"]

    found = (await client.get("/v1/messages/csoft/M1")).json()
    assert found["registered"] is True and found["reference"] == "order-42" and found["metadata"] == {"customer": 7}
    assert found["status"] == "delivered" and found["sent_at"] == "2026-03-01T10:07:00Z"
    assert found["time_to_final_s"] is not None and found["parts"] == []
    assert found["events"][0]["reference"] == "order-42" and found["events"][0]["metadata"] == {"customer": 7}
    by_ref = (await client.get("/v1/messages", params={"reference": "order-42"})).json()["data"]
    assert [m["message_id"] for m in by_ref] == ["M1"]
    listed = (await client.get("/v1/events", params={"message_id": "M1"})).json()["data"]
    assert listed[0]["reference"] == "order-42"

    # an unregistered message: registered false, and a lone receipt has no time to final
    assert (await client.post("/hooks/csoft", content=receipt("M2"), headers=FORM)).status_code == 200
    alone = (await client.get("/v1/messages/csoft/M2")).json()
    assert alone["registered"] is False and alone["time_to_final_s"] is None and alone["metadata"] is None


async def test_registration_limits_and_bad_input(app: tuple[SmshookApp, httpx.AsyncClient]) -> None:
    _, client = app
    big = await client.post("/v1/messages", json=message("B", metadata={"x": "y" * 4100}))
    assert big.status_code == 400 and big.json()["error"].startswith("metadata:") and "4096" in big.json()["error"]
    batch = await client.post("/v1/messages", json={"data": [message(f"m{i}") for i in range(1000)]})
    assert batch.status_code == 200 and batch.json()["created"] == 1000
    repeat = await client.post("/v1/messages", json={"data": [message("m1"), message("m1", reference="other")]})
    assert [d["status"] for d in repeat.json()["data"]] == [200, 409]
    too_many = await client.post("/v1/messages", json={"data": [message(f"n{i}") for i in range(1001)]})
    assert too_many.status_code == 400 and "1001 registrations" in too_many.json()["error"]
    cases = [
        ({"data": [message("ok"), {"connection": "csoft", "to": "1"}]}, "data[1].message_id: required"),
        (message("x", connection="nope"), "connection: 'nope' is not a configured connection"),
        (message("x", sent_at="yesterday"), "sent_at:"),
        (message("x", parts=["a", "a"]), "parts: the same id twice"),
        (message("x", colour="red"), "colour: unknown field"),
        ({"message_id": "x"}, "connection: required"),
    ]
    for body, error in cases:
        answer = await client.post("/v1/messages", json=body)
        assert answer.status_code == 400 and answer.json()["error"].startswith(error), (body, answer.json())
    not_json = await client.post("/v1/messages", content=b"{nope", headers={"content-type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["error"].startswith("body: not JSON")
    assert (await client.get("/v1/messages/csoft/ok")).status_code == 404  # nothing of a refused batch stored


async def test_stop_opts_out_and_check_reads_any_written_form(app: tuple[SmshookApp, httpx.AsyncClient]) -> None:
    _, client = app
    stop = b"SendTo=447700900100&ReplyTo=%2B447700900123&Message=Stop+texting+me"
    assert (await client.post("/hooks/csoft", content=stop, headers=FORM)).status_code == 200
    for spelled in ("+447700900123", "447700900123", "0044 7700 900123", "+44 (7700) 900-123"):
        found = (await client.get("/v1/optouts/check", params={"phone": spelled, "sender": "447700900100"})).json()
        assert found["opted_out"] is True and found["keyword"] == "STOP" and found["event_id"], spelled
    other = (await client.get("/v1/optouts/check", params={"phone": "+447700900123", "sender": "123"})).json()
    assert other["opted_out"] is False
    listed = (await client.get("/v1/optouts")).json()["data"]
    assert [(o["phone"], o["sender"]) for o in listed] == [("447700900123", "447700900100")]
    events = (await client.get("/v1/events", params={"type": "optout"})).json()["data"]
    assert [e["from"] for e in events] == ["447700900123"] and events[0]["id"] == listed[0]["event_id"]
    start = b"SendTo=447700900100&ReplyTo=%2B447700900123&Message=START"
    assert (await client.post("/hooks/csoft", content=start, headers=FORM)).status_code == 200
    assert (await client.get("/v1/optouts/check", params={"phone": "447700900123"})).json()["opted_out"] is False
    assert (await client.get("/v1/optouts")).json()["data"] == []
    help_ = b"SendTo=447700900100&ReplyTo=%2B447700900124&Message=help"
    assert (await client.post("/hooks/csoft", content=help_, headers=FORM)).status_code == 200
    [flagged] = (await client.get("/v1/events", params={"phone": "447700900124"})).json()["data"]
    assert flagged["details"]["help_request"] is True
    empty = await client.get("/v1/optouts/check", params={"phone": " "})
    assert empty.status_code == 400 and "phone" in empty.json()["error"]


async def test_stuck_page_lists_synthetic_expired(app: tuple[SmshookApp, httpx.AsyncClient]) -> None:
    application, client = app
    await client.post("/v1/messages", json=message("S1", reference="r-s1", sent_at="2020-01-01T00:00:00Z"))
    stored = await sweep_once(application.store, {n: (c.provider.slug, c.lifecycle)
                                                  for n, c in application.hooks.connections.items()})
    assert stored == 1
    [row] = (await client.get("/v1/stuck")).json()["data"]
    assert row["message_id"] == "S1" and row["reference"] == "r-s1" and row["registered"] is True
    [event] = (await client.get("/v1/events", params={"message_id": "S1"})).json()["data"]
    assert event["status"] == "expired" and event["details"]["synthetic"] is True


async def test_time_to_delivery_uses_the_best_start_and_never_zero_for_unknown(
        app: tuple[SmshookApp, httpx.AsyncClient]) -> None:
    _, client = app
    # BulkGate: `date` says sent 10:07, delivered 10:11 (one receipt): 240 s, not 0.0
    bulk = json.dumps([{"status": "1", "smsID": f"b{i}", "date": f"26010110{7 - i:02d};2601011011"}
                       for i in range(3)]).encode()
    assert (await client.post("/hooks/bulkgate", content=bulk,
                              headers={"content-type": "application/json"})).status_code == 200
    # csoft: a lone delivered receipt has no start: unknown, not 0.0
    assert (await client.post("/hooks/csoft", content=receipt("C1"), headers=FORM)).status_code == 200
    stats = {c["connection"]: c for c in (await client.get("/v1/stats", params={"window": "hour"})).json()[
        "connections"]}
    assert stats["bulkgate"]["median_time_to_delivery_s"] == 300.0  # 240, 300 and 360 s
    assert stats["bulkgate"]["p90_time_to_delivery_s"] == 348.0
    assert stats["csoft"]["funnel"]["delivered"] == 1
    assert stats["csoft"]["median_time_to_delivery_s"] is None and stats["csoft"]["p90_time_to_delivery_s"] is None
    found = (await client.get("/v1/messages/bulkgate/b0")).json()
    assert found["sent_at"] is not None and found["time_to_final_s"] == 240.0
