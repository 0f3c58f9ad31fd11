"""Issue 16's API additions in-process: CSV/NDJSON exports, date ranges on every list, one
subscription's deliveries with why each waits, and the database identity; plus the defects that show
at the hook (csoft's byte-exact echo, invalid UTF-8 named by its offset, the escaped body text)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from smshook.app import SmshookApp
from smshook.errors import InvalidRequest
from smshook.providers import formats
from smshook.settings import load_settings
from smshook.storage.sqlite import SQLiteStore
from tests.web.conftest import app_client

pytestmark = pytest.mark.usefixtures("clean_env")
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(forwarding=False, forwarding_allow_private_targets=True)  # receivers on loopback
    async with app_client(SmshookApp(settings, SQLiteStore(tmp_path / "x.db"))) as c:
        yield c


def receipt(message_id: str, report: str, minute: int, to: str = "447700912345") -> bytes:
    return (f"Username=NULL&PIN=NULL&SendTo={to}&MessageIdentifier={message_id}&Report={report}"
            f"&Timestamp1=2025-07-26T14%3A{minute:02d}%3A00Z").encode()


async def test_csoft_echoes_an_identifier_that_is_not_utf8_byte_for_byte(client: httpx.AsyncClient) -> None:
    body = b"Username=NULL&PIN=NULL&SendTo=447700912345&MessageIdentifier=UTF%FF%FE&Report=0"
    r = await client.post("/hooks/csoft", content=body, headers=FORM)
    assert r.status_code == 200
    assert r.content == b"MessageIdentifier=UTF%FF%FE&Report=0&Text=OK"
    raw = await client.post("/hooks/csoft", content=body.replace(b"%FF%FE", b"\xff\xfe"), headers=FORM)
    assert raw.content == b"MessageIdentifier=UTF%FF%FE&Report=0&Text=OK"  # sent unencoded: encoded, same bytes
    plain = await client.post("/hooks/csoft", content=receipt("309B9A1A", "0", 1), headers=FORM)
    assert plain.content == b"MessageIdentifier=309B9A1A&Report=0&Text=OK"
    spaced = await client.post("/hooks/csoft", content=receipt("a+b%2Fc", "0", 2), headers=FORM)
    assert spaced.content == b"MessageIdentifier=a%20b/c&Report=0&Text=OK"


def test_invalid_utf8_json_names_the_byte_offset() -> None:
    with pytest.raises(InvalidRequest) as caught:
        formats.loads_lenient(b'[{"a":"b\xffc"}]')
    assert str(caught.value) == "body is not valid UTF-8: byte 0xff at offset 8 (invalid start byte)"
    assert "surrogates" not in str(caught.value)


async def test_quarantined_body_text_escapes_only_the_invalid_bytes(client: httpx.AsyncClient) -> None:
    r = await client.post("/hooks/bulkgate", content=b'[{"status":"1","smsID":"a\xffb"}]',
                          headers={"content-type": "application/json"})
    assert r.status_code == 400 and "offset 25" in r.text
    [entry] = (await client.get("/v1/quarantine")).json()["data"]
    assert entry["reason"] == "body is not valid UTF-8: byte 0xff at offset 25 (invalid start byte)"
    request = entry["request"]
    assert request["body_encoding"] == "base64" and request["body_text"] == '[{"status":"1","smsID":"a\\xffb"}]'


async def test_exports_csv_and_ndjson_with_date_ranges(client: httpx.AsyncClient) -> None:
    for i in range(3):
        assert (await client.post("/hooks/csoft", content=receipt(f"EX{i}", "0", i), headers=FORM)).status_code == 200
    inbound = b"SendTo=3197010&ReplyTo=%2B31612345678&Message=%3DHYPERLINK(%22x%22)"
    assert (await client.post("/hooks/csoft", content=inbound, headers=FORM)).status_code == 200
    r = await client.get("/v1/export/events", params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith('attachment; filename="smshook-events-')
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 4 and rows[0]["text"] == "'=HYPERLINK(\"x\")"  # no formula in a spreadsheet
    assert all(isinstance(json.loads(r["details"]), dict) for r in rows)  # JSON in a cell
    nd = await client.get("/v1/export/events", params={"format": "ndjson", "type": "status"})
    assert nd.headers["content-type"].startswith("application/x-ndjson")
    events = [json.loads(line) for line in nd.text.splitlines()]
    assert sorted(e["message_id"] for e in events) == ["EX0", "EX1", "EX2"]
    # until: received before; since..until on the same instant is empty
    first = events[-1]["received_at"]
    assert (await client.get("/v1/events", params={"until": first})).json()["data"] == []
    assert len((await client.get("/v1/events", params={"since": first})).json()["data"]) == 4
    empty = await client.get("/v1/export/events", params={"since": "2000-01-01T00:00:00Z",
                                                          "until": "2000-01-02T00:00:00Z"})
    assert empty.text.strip() == ",".join(["id", *list(rows[0])[1:]])  # the header alone
    timeline = await client.get("/v1/export/messages/csoft/EX1", params={"format": "ndjson"})
    assert [json.loads(x)["message_id"] for x in timeline.text.splitlines()] == ["EX1"]
    assert (await client.get("/v1/export/messages/csoft/NOPE")).status_code == 404
    bad = await client.get("/v1/export/events", params={"format": "xls"})
    assert bad.status_code == 400 and "format" in bad.json()["error"]


async def test_quarantine_date_range(client: httpx.AsyncClient) -> None:
    await client.post("/hooks/csoft", content=b"Username=NULL&PIN=NULL&Report=0", headers=FORM)
    [entry] = (await client.get("/v1/quarantine")).json()["data"]
    seen = entry["first_seen"]
    assert (await client.get("/v1/quarantine", params={"until": seen})).json()["data"] == []
    assert len((await client.get("/v1/quarantine", params={"since": seen})).json()["data"]) == 1
    assert (await client.get("/v1/quarantine", params={"since": "yesterday"})).status_code == 400


async def test_subscription_deliveries_say_why_they_wait(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/subscriptions", json={"id": "crm", "url": "http://127.0.0.1:9/x", "ordered": True})
    assert r.status_code == 201
    assert (await client.post("/hooks/csoft", content=receipt("OR1", "-4", 1), headers=FORM)).status_code == 200
    assert (await client.post("/hooks/csoft", content=receipt("OR1", "0", 2), headers=FORM)).status_code == 200
    page = (await client.get("/v1/subscriptions/crm/deliveries")).json()
    later, earlier = page["data"]
    assert earlier["waiting"] is None and earlier["waiting_for"] is None and earlier["attempts"] == 0
    assert later["waiting"] == "for an earlier event of this message (ordered subscription)"
    assert later["waiting_for"] == earlier["id"]
    assert (await client.patch("/v1/subscriptions/crm", json={"enabled": False})).status_code == 200
    paused = (await client.get("/v1/subscriptions/crm/deliveries", params={"limit": 1})).json()
    assert paused["data"][0]["waiting"] == "subscription paused" and paused["next_cursor"] is not None
    rest = (await client.get("/v1/subscriptions/crm/deliveries", params={"cursor": paused["next_cursor"]})).json()
    assert [d["id"] for d in rest["data"]] == [earlier["id"]]
    assert (await client.get("/v1/subscriptions/crm/deliveries", params={"until": "2000-01-01T00:00:00Z"})
            ).json()["data"] == []
    assert (await client.get("/v1/subscriptions/nope/deliveries")).status_code == 404
    assert (await client.get("/v1/subscriptions/crm/deliveries", params={"state": "lost"})).status_code == 400


async def test_identity_is_public_and_stable(client: httpx.AsyncClient) -> None:
    first = (await client.get("/identity")).json()
    assert first["service"] == "smshook" and len(first["database_id"]) == 32
    assert (await client.get("/identity")).json() == first
