"""What Schemathesis found (tests/web/test_openapi_schemathesis.py), one regression test each: the API
answered outside its OpenAPI document, or the document allowed values the API refuses."""

from __future__ import annotations

import re
from typing import Any

import httpx
import jsonschema_rs
import pytest

from smshook.forwarding.model import generate_secret
from smshook.privacy import subscriber_digits
from smshook.status import STATUSES
from tests.web.conftest import API_TOKEN, AUTH

pytestmark = pytest.mark.usefixtures("clean_env")
TOKEN = API_TOKEN


@pytest.fixture
def client(token_client: httpx.AsyncClient) -> httpx.AsyncClient:
    return token_client


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
    assert events["since"]["anyOf"] == [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"},
                                        {"type": "string", "maxLength": 0}]
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


# -- found after the feature merges (batching, lifecycle, exports) ----------------------------------------


def _schema_valid(document: dict[str, Any], schema: dict[str, Any], value: Any) -> bool:
    """Whether ``value`` is valid against ``schema`` of the document (its $refs resolved in it), as
    Schemathesis validates (jsonschema_rs, ECMA-262 regular expressions, formats checked)."""
    validator = jsonschema_rs.Draft202012Validator({**schema, "components": document["components"]},
                                                   validate_formats=True)
    return bool(validator.is_valid(value))


async def test_an_empty_time_parameter_is_absent_and_documented(client: httpx.AsyncClient) -> None:
    document = await spec(client)
    for path in ("/v1/events", "/v1/quarantine", "/v1/rejected", "/v1/export/events", "/v1/deliveries"):
        for parameter in document["paths"][path]["get"]["parameters"]:
            if parameter["name"] in ("since", "until"):
                assert _schema_valid(document, parameter["schema"], ""), (path, parameter["name"])
        answer = await client.get(f"{path}?since=&until=", headers=AUTH)
        assert answer.status_code == 200, (path, answer.text)


@pytest.mark.parametrize("body, status", [
    ({"url": "https://crm.example.com/x", "batch_wait": 5}, 400),
    ({"url": "https://crm.example.com/x", "batch_max": 1, "batch_wait": 0.5}, 400),
    ({"url": "https://crm.example.com/x", "batch_max": 10, "batch_wait": 5}, 201),
    ({"url": "https://crm.example.com/x", "batch_max": 615.0}, 201),  # 615.0 is the integer 615 in JSON
    ({"url": "https://crm.example.com/x", "batch_max": 615.5}, 400),
    ({"redis_url": "redis://r:6379/0", "batch_max": 2}, 400),
    ({"redis_url": "redis://r:6379/0", "batch_wait": 1}, 400),
    ({"redis_url": "redis://r:6379/0", "batch_max": 1}, 201),
])
async def test_the_document_says_how_batching_combines(client: httpx.AsyncClient, body: dict[str, Any],
                                                       status: int) -> None:
    document = await spec(client)
    for method, path in (("post", "/v1/subscriptions"), ("put", "/v1/subscriptions/{subscription_id}")):
        schema = document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
        assert _schema_valid(document, schema, body) == (status == 201), (method, body)
    answer = await client.post("/v1/subscriptions", headers=AUTH, json=body)
    assert answer.status_code == status, answer.text
    if status == 400:
        assert "batch" in answer.json()["error"]


async def test_patch_batching_against_the_stored_subscription(client: httpx.AsyncClient) -> None:
    document = await spec(client)
    schema = document["paths"]["/v1/subscriptions/{subscription_id}"]["patch"]["requestBody"]["content"][
        "application/json"]["schema"]
    assert not _schema_valid(document, schema, {"batch_max": 1, "batch_wait": 2})
    assert not _schema_valid(document, schema, {"redis_url": "redis://r:6379/0", "batch_max": 2})
    assert not _schema_valid(document, schema, {"redis_url": "redis://r:6379/0", "batch_wait": 2})
    assert _schema_valid(document, schema, {"batch_wait": 2})  # depends on what is stored: 409 if it cannot be
    made = await client.put("/v1/subscriptions/b", headers=AUTH, json={"url": "https://crm.example.com/x"})
    assert made.status_code == 201
    waiting = await client.patch("/v1/subscriptions/b", headers=AUTH, json={"batch_wait": 2})
    assert waiting.status_code == 409 and "batch_max" in waiting.json()["error"]
    batched = await client.patch("/v1/subscriptions/b", headers=AUTH, json={"batch_max": 20, "batch_wait": 2})
    assert batched.status_code == 200 and batched.json()["batch_max"] == 20
    unbatched = await client.patch("/v1/subscriptions/b", headers=AUTH, json={"batch_max": 1})  # nothing to wait for
    assert unbatched.status_code == 200 and unbatched.json()["batch_wait"] == 0
    await client.patch("/v1/subscriptions/b", headers=AUTH, json={"batch_max": 20, "batch_wait": 2})
    moved = await client.patch("/v1/subscriptions/b", headers=AUTH, json={"redis_url": "redis://r:6379/0"})
    assert moved.status_code == 200 and moved.json()["kind"] == "redis"  # the webhook's batching is not kept
    for body in ({"batch_max": 5}, {"batch_wait": 1}):
        refused = await client.patch("/v1/subscriptions/b", headers=AUTH, json=body)
        assert refused.status_code == 409 and "Redis" in refused.json()["error"], body
    back = await client.patch("/v1/subscriptions/b", headers=AUTH, json={"url": "https://crm.example.com/x",
                                                                         "batch_wait": 1})
    assert back.status_code == 409 and "batch_max" in back.json()["error"]
    assert "409" in document["paths"]["/v1/subscriptions/{subscription_id}"]["patch"]["responses"]


def _registration_body(document: dict[str, Any]) -> dict[str, Any]:
    post = document["paths"]["/v1/messages"]["post"]
    assert post["requestBody"]["required"] is True
    return dict(post["requestBody"]["content"]["application/json"]["schema"])


async def test_the_registration_body_is_documented(client: httpx.AsyncClient) -> None:
    document = await spec(client)
    one = _registration_body(document)["anyOf"][0]
    names = [c["connection"] for c in (await client.get("/v1/connections", headers=AUTH)).json()["data"]]
    assert one["properties"]["connection"]["enum"] == sorted(names)
    assert set(one["required"]) == {"connection", "message_id", "to"} and one["additionalProperties"] is False
    assert {"200", "201", "400", "409"} <= set(document["paths"]["/v1/messages"]["post"]["responses"])


def _to(value: Any) -> dict[str, Any]:
    return {"connection": "csoft", "message_id": "m-1", "to": value}


@pytest.mark.parametrize("body, accepted", [
    (_to("+447700900123"), True), (_to(447700900123), True), (_to("0044 7700 900123"), True),
    (_to("00"), False), (_to(" + "), False), (_to("(0)0"), False), (_to(" "), False), (_to("+00"), True),
    ({**_to("+447700900123"), "message_id": 5}, True), ({**_to("+447700900123"), "message_id": 5.0}, True),
    ({**_to("+447700900123"), "message_id": 5.5}, False),
    ({**_to("+447700900123"), "message_id": 2**60}, False),  # not exact in JSON: a string
    ({**_to("+447700900123"), "message_id": "\x1e"}, False),  # blank to str.strip()
    ({**_to("+447700900123"), "message_id": "\ufeff"}, True),  # not blank to str.strip() (ECMA's \s says it is)
    ({**_to("+447700900123"), "connection": "nowhere"}, False),
    ({**_to("+447700900123"), "connection": 5}, False),
    ({**_to("+447700900123"), "parts": ["a", 2]}, True), ({**_to("+447700900123"), "parts": []}, False),
    ({**_to("+447700900123"), "parts": ["a", "a"]}, False), ({**_to("+447700900123"), "parts": [None]}, False),
    ({**_to("+447700900123"), "sent_at": "2026-05-04T10:07:00Z"}, True),
    ({**_to("+447700900123"), "sent_at": "2026-05-04"}, True), ({**_to("+447700900123"), "sent_at": "soon"}, False),
    ({**_to("+447700900123"), "metadata": {"a": [1]}}, True), ({**_to("+447700900123"), "metadata": [1]}, False),
    ({**_to("+447700900123"), "extra": 1}, False),
    ({"data": [_to("+447700900123")]}, True), ({"data": []}, False), ({"data": [_to("00")]}, False),
    ({"data": [_to("+447700900123")], "more": 1}, False),
])
async def test_the_registration_document_is_what_the_api_accepts(client: httpx.AsyncClient, body: dict[str, Any],
                                                                 accepted: bool) -> None:
    document = await spec(client)
    assert _schema_valid(document, _registration_body(document), body) == accepted
    answer = await client.post("/v1/messages", headers=AUTH, json=body)
    assert (answer.status_code in (200, 201)) == accepted, answer.text
    if not accepted:
        assert answer.status_code == 400 and answer.json()["error"]


async def test_a_sent_at_without_a_utc_equivalent_is_a_400(client: httpx.AsyncClient) -> None:
    answer = await client.post("/v1/messages", headers=AUTH, json={**_to("+447700900123"),
                                                                   "sent_at": "0001-01-01T00:00:00+01:00"})
    assert answer.status_code == 400 and "sent_at" in answer.json()["error"]


async def test_metadata_over_4_kib_is_documented_and_refused(client: httpx.AsyncClient) -> None:
    one = _registration_body(await spec(client))["anyOf"][0]
    assert one["properties"]["metadata"]["x-max-json-bytes"] == 4096
    answer = await client.post("/v1/messages", headers=AUTH,
                               json={**_to("+447700900123"), "metadata": {"a": "x" * 5000}})
    assert answer.status_code == 400 and "metadata" in answer.json()["error"]


@pytest.mark.parametrize("path", ["/v1/events", "/v1/export/events", "/v1/optouts", "/v1/optouts/check"])
async def test_phone_parameters_say_which_numbers_are_read(client: httpx.AsyncClient, path: str) -> None:
    document = await spec(client)
    parameter = next(p for p in document["paths"][path]["get"]["parameters"] if p["name"] == "phone")
    for phone, readable in (("00", False), (" + ", False), ("+447700900123", True), ("0044-7700", True)):
        assert _schema_valid(document, parameter["schema"], phone) == readable, phone
        answer = await client.get(path, params={"phone": phone}, headers=AUTH)
        assert (answer.status_code == 200) == readable, (phone, answer.text)


async def test_exports_document_their_media_types(client: httpx.AsyncClient) -> None:
    document = await spec(client)
    for path in ("/v1/export/events", "/v1/export/messages/{connection}/{message_id}"):
        assert set(document["paths"][path]["get"]["responses"]["200"]["content"]) == {"text/csv",
                                                                                      "application/x-ndjson"}
    answer = await client.get("/v1/export/events?format=ndjson", headers=AUTH)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/x-ndjson")


@pytest.mark.parametrize("url, accepted", [
    ("https://crm.example.com:8443/x", True), ("https://crm.example.com:65535/x", True),
    ("https://crm.example.com:000080/x", True), ("https://crm.example.com:/x", True),
    ("https://crm.example.com:65536/x", False), ("https://crm.example.com:84933/x", False),
    ("hTtpS://YchL*", False), ("https://crm.exa%2Ample.com/x", False),  # not host names: never deliverable
    ("https://crm1/x", True), ("https://a_b.example.com./x", True), ("https://crm.example.com/é?q=ü", True),
])
async def test_the_url_pattern_is_what_the_api_accepts(client: httpx.AsyncClient, url: str,
                                                            accepted: bool) -> None:
    document = await spec(client)
    schema = document["components"]["schemas"]["SubscriptionSpec"]
    assert _schema_valid(document, schema, {"url": url}) == accepted
    answer = await client.post("/v1/subscriptions", headers=AUTH, json={"url": url})
    assert answer.status_code == (201 if accepted else 400), answer.text


async def test_text_regex_is_documented_as_re2(client: httpx.AsyncClient) -> None:
    document = await spec(client)
    text_regex = document["components"]["schemas"]["FilterSpec"]["properties"]["text_regex"]
    assert text_regex["format"] == "re2" and text_regex["maxLength"] == 1000
    for pattern, status in (("\\\u00b9", 400), ("(?=x)", 400), ("x" * 1001, 400), ("^stop\\b", 201)):
        answer = await client.post("/v1/subscriptions", headers=AUTH, json={
            "url": "https://crm.example.com/x", "filters": {"text_regex": pattern}})
        assert answer.status_code == status, (pattern, answer.text)
