"""The data-protection API in-process, on every backend: /readyz while writes fail, erasure,
quarantine dismissal, prune, and the webhook target checks."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smshook.app import SmshookApp
from smshook.settings import load_settings
from smshook.storage import Store
from smshook.storage.postgres import PostgresStore
from smshook.storage.sqlite import SQLiteStore
from tests.storage.conftest import new_store
from tests.web.conftest import app_client

pytestmark = pytest.mark.usefixtures("clean_env")

FORM = {"content-type": "application/x-www-form-urlencoded"}
SMS = b"Username=NULL&PIN=NULL&SendTo=447700900100&Message=hi%2C+call+%2B44+7700+900123&ReplyTo=%2B447700900123"
BROKEN = b"Username=NULL&PIN=NULL&MessageIdentifier=q2&Report=OK&SendTo=00447700900123"


@pytest.fixture
async def app(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[
        tuple[httpx.AsyncClient, Store]]:
    store = new_store(backend, request, tmp_path)
    settings = load_settings(retention={"events": "30d", "raw_requests": "7d"})
    async with app_client(SmshookApp(settings, store)) as client:
        yield client, store


async def _fail_writes(store: Store, failing: bool) -> None:
    """Make every write fail (as on a full disk) or work again."""
    if isinstance(store, SQLiteStore):
        def deny(action: int, *args: Any) -> int:
            writes = (sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE)
            return sqlite3.SQLITE_DENY if action in writes else sqlite3.SQLITE_OK

        await store._submit(lambda batch: batch.conn.set_authorizer(deny if failing else None))
        return
    assert isinstance(store, PostgresStore)

    async def run(conn: Any) -> None:
        if failing:
            await conn.execute(
                "CREATE OR REPLACE FUNCTION smshook_test_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; "
                "END $$")
            for table in ("write_probe", "raw_requests"):
                await conn.execute(f"CREATE TRIGGER full_{table} BEFORE INSERT OR UPDATE ON {table} "
                                   "FOR EACH ROW EXECUTE FUNCTION smshook_test_full()")
        else:
            for table in ("write_probe", "raw_requests"):
                await conn.execute(f"DROP TRIGGER full_{table} ON {table}")

    await store._write(run)


async def test_readyz_is_503_while_the_store_cannot_commit(app: tuple[httpx.AsyncClient, Store]) -> None:
    client, store = app
    assert (await client.get("/readyz")).json() == {"status": "ready"}
    await _fail_writes(store, True)
    try:
        answer = await client.get("/readyz")
        assert answer.status_code == 503 and "cannot commit" in answer.json()["error"], answer.text
        assert (await client.post("/hooks/csoft", content=SMS, headers=FORM)).status_code == 503
        assert (await client.get("/healthz")).status_code == 200  # the process itself is fine
    finally:
        await _fail_writes(store, False)
    assert (await client.get("/readyz")).status_code == 200
    assert (await client.post("/hooks/csoft", content=SMS, headers=FORM)).status_code == 200


async def test_erase_a_subscriber(app: tuple[httpx.AsyncClient, Store]) -> None:
    client, _ = app
    assert (await client.post("/hooks/csoft", content=SMS, headers=FORM)).status_code == 200
    assert (await client.post("/hooks/csoft", content=BROKEN, headers=FORM)).status_code == 400
    assert len((await client.get("/v1/events", params={"phone": "+447700900123"})).json()["data"]) == 1

    bad = await client.delete("/v1/subscribers/not-a-number")
    assert bad.status_code == 400 and bad.json()["error"].startswith("phone:")
    answer = await client.delete("/v1/subscribers/+44 7700 900123", params={"who": "dpo"})
    assert answer.status_code == 200, answer.text
    erased = answer.json()["erased"]
    assert erased["events"] == 1 and erased["raw_requests"] == 2 and erased["quarantine"] == 1
    assert (await client.get("/v1/events", params={"phone": "+447700900123"})).json()["data"] == []
    everything = str((await client.get("/v1/events")).json()) + str((await client.get("/v1/quarantine")).json())
    for written in ("447700900123", "7700+900123", "7700 900123"):
        assert written not in everything
    [row] = (await client.get("/v1/audit", params={"limit": 1})).json()["data"]
    assert row["id"] == answer.json()["audit_id"] and row["action"] == "erase" and row["detail"] == erased
    assert "900123" not in str(row)


async def test_an_erased_subscriber_stays_opted_out(app: tuple[httpx.AsyncClient, Store]) -> None:
    client, _ = app
    stop = b"SendTo=447700900100&ReplyTo=%2B447700900123&Message=Stop+texting+me"
    assert (await client.post("/hooks/csoft", content=stop, headers=FORM)).status_code == 200
    registered = await client.post("/v1/messages", json={"connection": "csoft", "message_id": "r1",
                                                          "to": "+447700900123", "reference": "for 447700900123"})
    assert registered.status_code == 201, registered.text

    answer = await client.delete("/v1/subscribers/00447700900123", params={"who": "dpo"})
    assert answer.status_code == 200, answer.text
    erased = answer.json()["erased"]
    assert erased["optouts_kept"] == 1 and erased["registrations"] == 1 and erased["events"] == 2

    for spelled in ("+447700900123", "447700900123", "0044 7700 900123", "(+44) 7700 900 123", "+44-7700-900-123"):
        found = (await client.get("/v1/optouts/check", params={"phone": spelled, "sender": "447700900100"})).json()
        assert found["opted_out"] is True and found["erased"] is True and found["keyword"] == "STOP", spelled
    other = await client.get("/v1/optouts/check", params={"phone": "+447700900123", "sender": "447700900999"})
    assert other.json()["opted_out"] is False
    [row] = (await client.get("/v1/optouts")).json()["data"]
    assert row["phone"] is None and row["erased"] is True and row["sender"] == "447700900100"
    everything = str((await client.get("/v1/events")).json()) + str((await client.get("/v1/optouts")).json()) + str(
        (await client.get("/v1/messages/csoft/r1")).json())
    assert "900123" not in everything

    start = b"SendTo=447700900100&ReplyTo=%2B447700900123&Message=START"
    assert (await client.post("/hooks/csoft", content=start, headers=FORM)).status_code == 200
    found = (await client.get("/v1/optouts/check", params={"phone": "+447700900123", "sender": "447700900100"})).json()
    assert found["opted_out"] is False and found["erased"] is False
    assert (await client.get("/v1/optouts")).json()["data"] == []


async def test_dismiss_a_quarantined_request(app: tuple[httpx.AsyncClient, Store]) -> None:
    client, _ = app
    assert (await client.post("/hooks/csoft", content=BROKEN, headers=FORM)).status_code == 400
    [entry] = (await client.get("/v1/quarantine")).json()["data"]
    assert entry["open"] is True and entry["dismissed_at"] is None
    missing = await client.delete(f"/v1/quarantine/{entry['id']}", params={"who": "ops"})
    assert missing.status_code == 400 and "why" in missing.json()["error"]
    done = await client.delete(f"/v1/quarantine/{entry['id']}", params={"who": "ops", "why": "test traffic"})
    assert done.status_code == 200, done.text
    assert done.json()["dismissed_by"] == "ops" and done.json()["dismissed_reason"] == "test traffic"
    assert (await client.get("/v1/quarantine")).json()["data"] == []
    [shown] = (await client.get("/v1/quarantine", params={"state": "dismissed"})).json()["data"]
    assert shown["id"] == entry["id"] and shown["open"] is False
    assert len((await client.get("/v1/quarantine", params={"state": "all"})).json()["data"]) == 1
    again = await client.delete(f"/v1/quarantine/{entry['id']}", params={"who": "ops", "why": "x"})
    assert again.status_code == 409 and "dismissed already" in again.json()["error"]
    unknown = await client.delete("/v1/quarantine/0190d8d0-0000-7000-8000-000000000000",
                                  params={"who": "ops", "why": "x"})
    assert unknown.status_code == 404
    assert (await client.get("/v1/quarantine", params={"state": "bogus"})).status_code == 400


async def test_prune_on_demand(app: tuple[httpx.AsyncClient, Store]) -> None:
    client, _ = app
    assert (await client.post("/hooks/csoft", content=SMS, headers=FORM)).status_code == 200
    answer = await client.post("/v1/prune", params={"dry_run": "true"})
    assert answer.status_code == 200 and answer.json() == {
        "dry_run": True, "pruned": {"events": 0, "messages": 0, "deliveries": 0, "raw_requests": 0, "quarantine": 0,
                                    "registrations": 0}}


UNSAFE = [
    ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ("http://[fd00:ec2::254]/", "metadata"),
    ("http://[fe80::1]/hook", "link-local"),
    ("http://169.254.10.10/hook", "link-local"),
    ("http://0.0.0.0/hook", "not a unicast"),
    ("http://example.com/a b", "spaces or control characters"),
    ("http://example.com/\r\nX-Injected: 1", "spaces or control characters"),
    ("http://user:pw@example.com/", "user:password"),
]
PRIVATE = ["http://127.0.0.1:8080/hook", "http://0x7f000001/", "http://2130706433/", "http://0177.0.0.1/",
           "http://127.1/", "http://localhost:9000/", "http://[::1]/", "http://10.1.2.3/", "http://192.168.0.10/",
           "http://172.16.5.4/", "http://[::ffff:127.0.0.1]/", "http://100.64.0.1/"]


@pytest.mark.parametrize(("url", "why"), UNSAFE)
async def test_unsafe_targets_are_refused(app: tuple[httpx.AsyncClient, Store], url: str, why: str) -> None:
    client, _ = app
    answer = await client.post("/v1/subscriptions", json={"url": url})
    assert answer.status_code == 400 and why in answer.json()["error"], answer.text


@pytest.mark.parametrize("url", PRIVATE)
async def test_private_targets_need_the_setting(app: tuple[httpx.AsyncClient, Store], url: str) -> None:
    client, _ = app
    answer = await client.post("/v1/subscriptions", json={"url": url})
    assert answer.status_code == 400, answer.text
    assert "forwarding_allow_private_targets" in answer.json()["error"]
    ok = await client.post("/v1/subscriptions", json={"url": "https://crm.example.com/sms"})
    assert ok.status_code == 201
    patched = await client.patch(f"/v1/subscriptions/{ok.json()['id']}", json={"url": url})
    assert patched.status_code == 400
    put = await client.put("/v1/subscriptions/x", json={"url": url})
    assert put.status_code == 400


async def test_the_setting_allows_private_but_never_metadata(tmp_path: Path) -> None:
    settings = load_settings(forwarding_allow_private_targets=True)
    async with app_client(SmshookApp(settings, SQLiteStore(tmp_path / "x.db"))) as client:
        for url in PRIVATE:
            assert (await client.post("/v1/subscriptions", json={"url": url})).status_code == 201, url
        for url, _ in UNSAFE:
            assert (await client.post("/v1/subscriptions", json={"url": url})).status_code == 400, url


def test_config_file_subscriptions_are_checked_too(clean_env: None) -> None:
    from smshook.errors import ConfigError

    with pytest.raises(ConfigError, match="forwarding_allow_private_targets"):
        load_settings(subscriptions={"local": {"url": "http://127.0.0.1:9/x"}})
    with pytest.raises(ConfigError, match="metadata"):
        load_settings(subscriptions={"meta": {"url": "http://169.254.169.254/"}}, forwarding_allow_private_targets=True)
    assert load_settings(subscriptions={"local": {"url": "http://127.0.0.1:9/x"}},
                         forwarding_allow_private_targets=True).subscriptions["local"].url
