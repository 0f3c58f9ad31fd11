"""The operator API in-process over real requests: look-up by phone, statistics, re-processing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from smshook.app import SmshookApp
from smshook.errors import InvalidRequest
from smshook.providers.base import ConnectionInfo, RawRequest
from smshook.providers.csoft import Csoft
from smshook.settings import default_providers, load_settings
from smshook.storage.sqlite import SQLiteStore
from tests.web.conftest import app_client

pytestmark = pytest.mark.usefixtures("clean_env")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(SmshookApp(load_settings(), SQLiteStore(tmp_path / "x.db"))) as c:
        yield c


def receipt(message_id: str, report: str, to: str = "447700912345", when: str = "") -> bytes:
    stamp = f"&Timestamp1={when}" if when else ""
    return f"Username=NULL&PIN=NULL&SendTo={to}&MessageIdentifier={message_id}&Report={report}{stamp}".encode()


async def post(client: httpx.AsyncClient, path: str, body: bytes) -> httpx.Response:
    return await client.post(path, content=body, headers={"content-type": "application/x-www-form-urlencoded"})


# -- phone ------------------------------------------------------------------------------------------


async def test_events_by_phone_written_any_way(client: httpx.AsyncClient) -> None:
    inbound = await post(client, "/hooks/csoft", b"SendTo=3197010&ReplyTo=%2B31612345678&Message=STOP")
    assert inbound.status_code == 200
    assert (await client.get("/hooks/spryng", params={"MSISDN": "31612345678", "KEYWORD": "WIN",
                                                       "PARM": "now", "OPERATOR": "20408"})).status_code == 200
    assert (await post(client, "/hooks/csoft", receipt("m1", "0", to="0031612345678"))).status_code == 200
    assert (await post(client, "/hooks/csoft", receipt("m2", "0", to="31699999999"))).status_code == 200
    for spelled in ("+31612345678", "0031612345678", "31612345678", "+31 6 1234 5678"):
        page = (await client.get("/v1/events", params={"phone": spelled})).json()
        assert sorted((e["connection"], e["type"]) for e in page["data"]) == [  # STOP: an opt-out too
            ("csoft", "inbound"), ("csoft", "optout"), ("csoft", "status"), ("spryng", "inbound")], spelled
    unencoded = await client.get("/v1/events?phone=+31612345678&type=inbound&connection=spryng")
    assert [e["keyword"] for e in unencoded.json()["data"]] == ["WIN"]  # '+' read as a space: still the number
    empty = await client.get("/v1/events", params={"phone": " "})
    assert empty.status_code == 400 and "phone" in empty.json()["error"]


# -- statistics -------------------------------------------------------------------------------------


async def test_stats_contract(client: httpx.AsyncClient) -> None:
    for body in (receipt("a", "-4"), receipt("a", "0"), receipt("b", "3"), receipt("c", "27"), receipt("d", "-4")):
        assert (await post(client, "/hooks/csoft", body)).status_code == 200
    await client.get("/hooks/spryng", params={"MSISDN": "31612345678", "KEYWORD": "HI", "OPERATOR": "20408"})

    answer = await client.get("/v1/stats")
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["window"] == "day" and data["bucket_seconds"] == 3600
    since, until = (datetime.fromisoformat(data[k].replace("Z", "+00:00")) for k in ("since", "until"))
    assert 23 * 3600 <= (until - since).total_seconds() < 24 * 3600
    assert data["inbound"] == {"spryng": 1}
    # every configured connection is listed, with or without messages
    assert [c["connection"] for c in data["connections"]] == sorted(default_providers())
    csoft = next(c for c in data["connections"] if c["connection"] == "csoft")
    assert csoft["provider"] == "csoft" and csoft["messages"] == 4
    assert csoft["by_status"] == {"delivered": 1, "expired": 1, "rejected": 1, "sent": 1}
    assert csoft["funnel"] == {"sent": 4, "delivered": 1, "failed": 2, "pending": 1,
                               "failed_by_class": {"permanent": 1, "temporary": 1}}
    assert csoft["delivery_rate"] == round(1 / 3, 4)
    assert csoft["median_time_to_delivery_s"] is not None and csoft["median_time_to_delivery_s"] >= 0
    assert len(csoft["series"]) == 24
    assert set(csoft["series"][-1]) == {"t", "messages", "delivered", "failed", "delivery_rate",
                                        "median_time_to_delivery_s"}
    assert csoft["series"][-1]["messages"] == 4 and sum(p["messages"] for p in csoft["series"]) == 4
    assert csoft["by_country"] == {} and csoft["by_operator"] == {}
    webcom = next(c for c in data["connections"] if c["connection"] == "webcom")
    assert webcom["messages"] == 0 and webcom["delivery_rate"] is None and len(webcom["series"]) == 24

    hour = (await client.get("/v1/stats", params={"window": "hour", "connection": "csoft"})).json()
    assert hour["bucket_seconds"] == 60 and [c["connection"] for c in hour["connections"]] == ["csoft"]
    assert len(hour["connections"][0]["series"]) == 60 and hour["inbound"] == {}
    week = (await client.get("/v1/stats", params={"window": "week"})).json()
    assert week["bucket_seconds"] == 21600 and len(week["connections"][0]["series"]) == 28

    bad = await client.get("/v1/stats", params={"window": "month"})
    assert bad.status_code == 400 and "window" in bad.json()["error"]


# -- re-processing ----------------------------------------------------------------------------------


async def test_reprocess_after_an_adapter_fix(client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # An older adapter that did not know csoft's "pending" code -3 quarantines the receipt ...
    real = Csoft.parse

    def older(self: Csoft, request: RawRequest, connection: ConnectionInfo) -> list[Any]:
        if b"Report=-3" in request.body:
            raise InvalidRequest("field 'Report': '-3' is not a csoft report code")
        return real(self, request, connection)

    monkeypatch.setattr(Csoft, "parse", older)
    refused = await post(client, "/hooks/csoft", receipt("q1", "-3", when="2026-03-01T12:00:00Z"))
    assert refused.status_code == 400 and "Report=-1" in refused.text
    broken = await post(client, "/hooks/csoft", b"Username=NULL&PIN=NULL&MessageIdentifier=q2&Report=OK")
    assert broken.status_code == 400
    # ... meanwhile the provider's later receipt for the same message arrived fine.
    assert (await post(client, "/hooks/csoft", receipt("q1", "0", when="2026-03-01T12:00:09Z"))).status_code == 200
    entries = {e["request"]["body"].split("MessageIdentifier=")[1][:2]: e
               for e in (await client.get("/v1/quarantine")).json()["data"]}
    assert entries["q1"]["reprocessed_at"] is None and entries["q1"]["reprocess_result"] is None

    monkeypatch.setattr(Csoft, "parse", real)  # ... and the new version knows it.
    done = await client.post(f"/v1/quarantine/{entries['q1']['id']}/reprocess")
    assert done.status_code == 200, done.text
    result = done.json()
    assert result["id"] == entries["q1"]["id"] and result["reprocessed"] is True
    assert result["events"] == 1 and result["duplicates"] == 0 and result["connection"] == "csoft"
    message = (await client.get("/v1/messages/csoft/q1")).json()
    assert [e["status"] for e in message["events"]] == ["delivered", "pending"] and message["status"] == "delivered"
    late = message["events"][1]
    assert message["effects"][late["id"]] == "late"  # status rules as for any late receipt
    assert late["received_at"] == entries["q1"]["first_seen"]  # when it was received

    listed = {e["id"]: e for e in (await client.get("/v1/quarantine")).json()["data"]}
    assert listed[result["id"]]["reprocessed_at"] == result["reprocessed_at"]
    assert listed[result["id"]]["reprocess_result"] == {"events": 1, "duplicates": 0}

    again = await client.post(f"/v1/quarantine/{result['id']}/reprocess")
    assert again.status_code == 409 and "already" in again.json()["error"]
    still = await client.post(f"/v1/quarantine/{entries['q2']['id']}/reprocess")
    assert still.status_code == 422 and "'OK' is not a csoft report code" in still.json()["error"]
    assert (await client.get("/v1/quarantine")).json()["data"][0]["reprocessed_at"] is None  # kept as it was
    missing = await client.post("/v1/quarantine/0190d8d0-0000-7000-8000-000000000000/reprocess")
    assert missing.status_code == 404 and "no quarantine entry" in missing.json()["error"]
    assert len((await client.get("/v1/events", params={"message_id": "q1"})).json()["data"]) == 2


# -- connections ------------------------------------------------------------------------------------


async def test_connections_are_listed_without_their_secrets(tmp_path: Path) -> None:
    token, pin = "t0ken-" + "x" * 20, "4321"
    settings = load_settings(database=f"sqlite:///{tmp_path / 'c.db'}", connections={
        "shop": {"provider": "csoft", "token": token, "username": "shop", "pin": pin,
                 "allow_ips": ["203.0.113.0/24"]},
        "open": {"provider": "bulkgate"},
    })
    async with app_client(SmshookApp(settings)) as c:
        r = await c.get("/v1/connections")
    assert r.status_code == 200 and token not in r.text and pin not in r.text
    assert r.json()["data"] == [
        {"connection": "open", "provider": "bulkgate", "provider_name": "BulkGate", "path": "/hooks/open",
         "methods": ["GET", "POST"], "authenticated": False, "protection": [], "allow_ips": [],
         "docs_url": "https://help.bulkgate.com/docs/en/http-api-bulk-delivery-confirmations-and-incoming-sms.html",
             "public_url": None},
        {"connection": "shop", "provider": "csoft", "provider_name": "Connection Software",
         "path": "/hooks/shop/<token>", "methods": ["POST"], "authenticated": True,
         "protection": ["token", "allow_ips", "credentials"], "allow_ips": ["203.0.113.0/24"],
         "docs_url": "https://www.csoft.co.uk/support/delivery-receipts", "public_url": None},
    ]
