"""The hook path in-process: answers when the store fails, streamed bodies over the limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smshook.app import SmshookApp
from smshook.errors import StoreError
from smshook.events import Event
from smshook.settings import load_settings
from smshook.storage import AppendResult, RawRecord
from smshook.storage.sqlite import SQLiteStore
from tests.web.conftest import app_client


class BrokenStore(SQLiteStore):
    """A real store whose commits fail, as on a full or read-only disk."""

    async def append(self, raw: RawRecord, events: list[Event]) -> AppendResult:
        raise StoreError("disk I/O error")

    async def quarantine(self, raw: RawRecord, reason: str, http_status: int) -> str:
        raise StoreError("disk I/O error")


@pytest.fixture
async def broken(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(SmshookApp(load_settings(), BrokenStore(tmp_path / "x.db"))) as client:
        yield client


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(SmshookApp(load_settings(max_body_bytes=1000), SQLiteStore(tmp_path / "x.db"))) as c:
        yield c


CSOFT = (b"Username=NULL&PIN=NULL&SendTo=447700912345&Timestamp1=2005-07-26T14:11:00Z"
         b"&MessageIdentifier=309B9A1A&Report=0")
CASES: list[tuple[str, str, dict[str, Any], str]] = [
    ("csoft", "POST", {"content": CSOFT}, "Report=-1"),
    ("webcom", "POST", {"content": b'<response><state id_sms="1" time="">send</state></response>'},
     "<response></response>"),
    ("webcom", "POST", {"content": b'[{"id_sms":"1","time":"","state":"send"}]'}, "[]"),
    ("bulkgate", "POST", {"content": b'[{"status":"1","smsID":"a"}]'}, ""),
    ("spryng", "GET", {"params": {"REFERENCE": "r", "STATUS": "Delivered"}}, ""),
    ("cdyne", "POST", {"content": b"SMSSent=1&MessageID=m&FromPhoneNumber=1&ToPhoneNumber=2"}, ""),
]


@pytest.mark.parametrize(("slug", "method", "kw", "body"), CASES, ids=[c[0] for c in CASES])
async def test_store_failure_makes_the_provider_retry(broken: httpx.AsyncClient, slug: str, method: str,
                                                      kw: dict[str, Any], body: str) -> None:
    r = await broken.request(method, f"/hooks/{slug}", **kw)
    assert r.status_code == 503
    assert "Report=0" not in r.text and "<id_sms>" not in r.text and "id_sms\":" not in r.text
    if body:
        assert body in r.text


async def test_unreadable_request_is_not_refused_as_bad_when_it_cannot_be_kept(broken: httpx.AsyncClient) -> None:
    """If the quarantine itself cannot commit, answer 503: the provider must retry, nothing is lost."""
    r = await broken.post("/hooks/bulkgate", content=b"[{")
    assert r.status_code == 503


async def test_streamed_body_over_the_limit_is_refused(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 100

    r = await client.post("/hooks/bulkgate", content=chunks())
    assert r.status_code == 413 and "limit" in r.text
    assert (await client.post("/hooks/bulkgate", content=b"x" * 1001)).status_code == 413
    ok = await client.post("/hooks/bulkgate", content=b'[{"status":"1","smsID":"a"}]')
    assert ok.status_code == 200


async def test_token_in_a_path_of_a_connection_without_one(client: httpx.AsyncClient) -> None:
    r = await client.post("/hooks/bulkgate/sometoken", content=b"{}")
    assert r.status_code == 404 and "no token" in r.text
    r = await client.post("/hooks/", content=b"{}")
    assert r.status_code == 404
    r = await client.post("/hooks/bulkgate/a/b", content=b"{}")
    assert r.status_code == 404
