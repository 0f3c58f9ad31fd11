"""What Schemathesis found (tests/web/test_openapi_schemathesis.py), one regression test each: the API
answered outside its OpenAPI document, or the document allowed values the API refuses."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smshook.app import SmshookApp
from smshook.forwarding.model import generate_secret
from smshook.privacy import subscriber_digits
from smshook.settings import load_settings
from smshook.status import STATUSES
from smshook.storage.sqlite import SQLiteStore
from tests.web.conftest import app_client

pytestmark = pytest.mark.usefixtures("clean_env")
TOKEN = "a-long-enough-api-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(SmshookApp(load_settings(api_token=TOKEN), SQLiteStore(tmp_path / "x.db"))) as c:
        yield c


async def spec(client: httpx.AsyncClient) -> dict[str, Any]:
    return dict((await client.get("/openapi.json")).json())


async def test_405_allows_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    one = await client.request("OPTIONS", "/v1/subscriptions", headers=AUTH)
    assert one.status_code == 405 and one.headers.get_list("allow") == ["GET, POST"]
    each = await client.request("OPTIONS", "/v1/subscriptions/x", headers=AUTH)
    assert each.headers.get_list("allow") == ["DELETE, GET, PATCH, PUT"]


async def test_every_status_answered_is_documented(client: httpx.AsyncClient) -> None:
    paths = (await spec(client))["paths"]
    assert "409" in paths["/v1/subscriptions"]["post"]["responses"]
    assert "201" in paths["/v1/subscriptions/{subscription_id}"]["put"]["responses"]
    assert {"409", "422"} <= set(paths["/v1/quarantine/{quarantine_id}/reprocess"]["post"]["responses"])
    assert "409" in paths["/v1/quarantine/{quarantine_id}"]["delete"]["responses"]
    body = {"url": "https://crm.example.com/x"}
    assert (await client.put("/v1/subscriptions/a", headers=AUTH, json=body)).status_code == 201
    assert (await client.post("/v1/subscriptions", headers=AUTH, json={**body, "id": "a"})).status_code == 409


async def test_subscription_ids_are_checked_on_put_too(client: httpx.AsyncClient) -> None:
    answer = await client.put("/v1/subscriptions/cannot%20start%3A%20%25s", headers=AUTH,
                              json={"url": "https://crm.example.com/x"})
    assert answer.status_code == 400 and "subscription_id" in answer.json()["error"]


@pytest.mark.parametrize("field, value", [("ordered", 0), ("enabled", "yes"), ("timeout", "5")])
async def test_subscription_fields_take_their_json_types_only(client: httpx.AsyncClient, field: str,
                                                              value: Any) -> None:
    answer = await client.post("/v1/subscriptions", headers=AUTH,
                               json={"url": "https://crm.example.com/x", field: value})
    assert answer.status_code == 400 and field in answer.json()["error"]


async def test_the_document_says_which_values_are_accepted(client: httpx.AsyncClient) -> None:
    document = await spec(client)
    events = {p["name"]: p["schema"] for p in document["paths"]["/v1/events"]["get"]["parameters"]}
    assert events["status"]["enum"] == list(STATUSES)
    assert events["since"]["anyOf"] == [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]
    cursor = events["cursor"]["anyOf"][0]["pattern"]
    assert re.match(cursor, "") and re.match(cursor, "01a23c01-95d4-7000-8835-5a100f8f6f00")
    assert not re.match(cursor, "provider")
    schemas = document["components"]["schemas"]
    replay = schemas["ReplayRequest"]["anyOf"]
    assert [next(iter(b["required"])) for b in replay] == ["event_ids", "message_id", "subscription_id"]
    assert len(schemas["SubscriptionSpec"]["oneOf"]) == 2
    secret = schemas["SubscriptionSpec"]["properties"]["secret"]["pattern"]
    assert re.match(secret, generate_secret()) and not re.match(secret, "whsec_short")


@pytest.mark.parametrize("phone", ["000000", "00447700900123", "+44 7700 900123", "0612345678", "12345",
                                   "(0)6-1234-5678", "0 0 1234567", "+00447700"])
async def test_the_erasure_phone_pattern_is_what_the_api_reads(client: httpx.AsyncClient, phone: str) -> None:
    document = await spec(client)
    parameter = document["paths"]["/v1/subscribers/{phone}"]["delete"]["parameters"][0]
    try:
        subscriber_digits(phone)
        accepted = True
    except ValueError:
        accepted = False
    assert bool(re.match(parameter["schema"]["pattern"], phone)) == accepted


async def test_replay_without_a_selection_is_refused_as_documented(client: httpx.AsyncClient) -> None:
    answer = await client.post("/v1/replay", headers=AUTH, json={"subscription_id": ""})
    assert answer.status_code == 400


async def test_patch_with_a_null_target_keeps_the_target(client: httpx.AsyncClient) -> None:
    made = await client.post("/v1/subscriptions", headers=AUTH, json={"id": "p", "url": "https://crm.example.com/x"})
    assert made.status_code == 201
    kept = await client.patch("/v1/subscriptions/p", headers=AUTH, json={"url": None, "ordered": True})
    assert kept.status_code == 200 and kept.json()["url"] == "https://crm.example.com/x" and kept.json()["ordered"]
    moved = await client.patch("/v1/subscriptions/p", headers=AUTH, json={"url": None, "redis_url": "redis://r:6379/0"})
    assert moved.status_code == 200 and moved.json()["kind"] == "redis"
    extra = await client.patch("/v1/subscriptions/p", headers=AUTH, json={"nonsense": 1})
    assert extra.status_code == 400 and "nonsense" in extra.json()["error"]
    conflict = await client.patch("/v1/subscriptions/p", headers=AUTH, json={"url": "https://crm.example.com/y"})
    assert conflict.status_code == 200
    stream = await client.patch("/v1/subscriptions/p", headers=AUTH, json={"stream": "s"})
    assert stream.status_code == 409 and "stream" in stream.json()["error"]
