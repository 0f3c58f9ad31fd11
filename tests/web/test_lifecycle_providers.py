"""The message lifecycle (issue 15) with the providers added by the provider contract, through the real
hook path on each storage backend: Vonage's per-part receipts roll up into a registered multipart
message; the providers' own opt-out signals (Telnyx, MessageBird, Plivo, Twilio) and STOP texts
(Infobip, Sinch, Vonage) make opt-out events the check answers; receipts of every new provider are
linked to a registration that comes after them; their own submit times start the time to delivery."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smshook.app import SmshookApp
from smshook.settings import load_settings
from tests.providers.test_vectors import VECTORS, load
from tests.storage.conftest import BACKENDS, new_store
from tests.web.conftest import app_client

FORM = {"content-type": "application/x-www-form-urlencoded"}
JSON = {"content-type": "application/json"}


@pytest.fixture(params=BACKENDS)
async def client(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its default connections (one open connection per built-in provider)."""
    application = SmshookApp(load_settings(), new_store(request.param, request, tmp_path))
    async with app_client(application) as c:
        yield c


async def send_vector(client: httpx.AsyncClient, name: str) -> httpx.Response:
    """A committed open test vector, as the provider sends it, to the provider's default connection."""
    slug = name.split("/")[0]
    spec = load(VECTORS / f"{name}.json")["request"]
    body = json.dumps(spec["body_json"]).encode() if "body_json" in spec else spec.get("body", "").encode()
    url = f"/hooks/{slug}" + (f"?{spec['query']}" if spec.get("query") else "")
    answer = await client.request(spec.get("method", "POST"), url, content=body, headers=spec.get("headers", {}))
    assert answer.status_code == 200, (name, answer.text)
    return answer


def vonage_dlr(part: str, status: str, err: str = "0") -> str:
    return (f"/hooks/vonage?msisdn=4527631111&to=Tak&network-code=23820&messageId={part}&price=0.0182"
            f"&status={status}&scts=2601011011&err-code={err}&message-timestamp=2026-01-01+10%3A11%3A0{len(part) % 10}"
            "&client-ref=long-1")


async def test_vonage_parts_in_any_order_roll_up(client: httpx.AsyncClient) -> None:
    # the second part's receipt comes before the registration (Vonage answers fast)
    assert (await client.get(vonage_dlr("0C02", "delivered"))).status_code == 200
    registered = await client.post("/v1/messages", json={
        "connection": "vonage", "message_id": "0C01", "to": "+4527631111", "from": "Tak", "reference": "order-7",
        "parts": ["0C01", "0C02", "0C03"], "sent_at": "2026-01-01T10:07:00Z"})
    assert registered.status_code == 201, registered.text
    assert (await client.get(vonage_dlr("0C03", "accepted"))).status_code == 200
    view = (await client.get("/v1/messages/vonage/0C02")).json()  # a part's id finds the message
    assert view["message_id"] == "0C01" and view["status"] == "pending" and not view["final"]
    assert (await client.get(vonage_dlr("0C01", "delivered"))).status_code == 200
    assert (await client.get(vonage_dlr("0C03", "delivered"))).status_code == 200
    view = (await client.get("/v1/messages/vonage/0C01")).json()
    assert (view["status"], view["final"], view["partial"]) == ("delivered", True, False)
    assert [(p["message_id"], p["status"]) for p in view["parts"]] == [
        ("0C01", "delivered"), ("0C02", "delivered"), ("0C03", "delivered")]
    assert view["reference"] == "order-7" and view["time_to_final_s"] is not None and view["time_to_final_s"] > 0
    assert {e["reference"] for e in view["events"] if e["type"] == "status"} == {"order-7"}

    # one part that fails: the message is the failure, partly delivered
    await client.post("/v1/messages", json={"connection": "vonage", "message_id": "0D01", "to": "4527631111",
                                            "parts": ["0D01", "0D02"]})
    assert (await client.get(vonage_dlr("0D02", "failed", "1"))).status_code == 200
    assert (await client.get(vonage_dlr("0D01", "delivered"))).status_code == 200
    view = (await client.get("/v1/messages/vonage/0D01")).json()
    assert view["final"] and view["partial"] and view["status"] in ("undelivered", "failed")


# (vector, subscriber, sender the opt-out applies to: None = every sender)
SIGNALS = [
    ("telnyx/sending_failed_stop", "15551230001", "18445550001"),
    ("messagebird/status_failed_stop", "31612345678", None),
    ("telnyx/inbound_received", "13125550100", "18445550001"),
    ("infobip/inbound_batch", "385981178999", "385921004026"),
    ("messagebird/inbound_shortcode_timezone", "31612345678", "51515"),
]


@pytest.mark.parametrize(("vector", "phone", "sender"), SIGNALS, ids=[s[0] for s in SIGNALS])
async def test_opt_out_signals_and_stop_texts_of_new_providers(client: httpx.AsyncClient, vector: str, phone: str,
                                                                sender: str | None) -> None:
    await send_vector(client, vector)
    check = (await client.get("/v1/optouts/check", params={"phone": f"+{phone}", "sender": sender or "12345"})).json()
    assert check["opted_out"] is True and check["sender"] == sender, check
    [event] = (await client.get("/v1/events", params={"type": "optout"})).json()["data"]
    assert event["id"] == check["event_id"] and event["from"] == phone and event["to"] == sender
    # the provider retries the same callback: no second opt-out
    await send_vector(client, vector)
    assert len((await client.get("/v1/events", params={"type": "optout"})).json()["data"]) == 1


async def test_form_providers_signals_and_keywords_opt_out_and_in(client: httpx.AsyncClient) -> None:
    """Twilio's OptOutType and Plivo's MessageIntent (open connections, unsigned), and a plain STOP /
    START by Sinch and Vonage."""
    twilio = "MessageSid=SM1&From=%2B14133881111&To=%2B12028831111&Body=please+no&OptOutType=STOP"
    assert (await client.post("/hooks/twilio", content=twilio.encode(), headers=FORM)).status_code == 200
    plivo = "MessageUUID=mo-9&From=4795961111&To=4759440448&Text=Stop&Type=sms&MessageIntent=optout"
    assert (await client.post("/hooks/plivo", content=plivo.encode(), headers=FORM)).status_code == 200
    sinch = {"type": "mo_text", "id": "01J5", "from": "46701234567", "to": "46700000000", "body": "STOP",
             "received_at": "2026-01-10T09:30:12.412Z"}
    assert (await client.post("/hooks/sinch", json=sinch)).status_code == 200
    assert (await client.get("/hooks/vonage?msisdn=4527631111&to=Tak&text=STOP&messageId=mo-v1")).status_code == 200
    for phone, sender in (("14133881111", "12028831111"), ("4795961111", "4759440448"), ("46701234567", "46700000000"),
                          ("4527631111", "Tak")):
        check = (await client.get("/v1/optouts/check", params={"phone": phone, "sender": sender})).json()
        assert check["opted_out"] is True, (phone, check)
    twilio_in = "MessageSid=SM2&From=%2B14133881111&To=%2B12028831111&Body=START&OptOutType=START"
    assert (await client.post("/hooks/twilio", content=twilio_in.encode(), headers=FORM)).status_code == 200
    check = (await client.get("/v1/optouts/check", params={"phone": "14133881111", "sender": "12028831111"})).json()
    assert check["opted_out"] is False
    plivo_help = "MessageUUID=mo-10&From=4795961112&To=4759440448&Text=What&Type=sms&MessageIntent=help"
    assert (await client.post("/hooks/plivo", content=plivo_help.encode(), headers=FORM)).status_code == 200
    [flagged] = (await client.get("/v1/events", params={"phone": "4795961112"})).json()["data"]
    assert flagged["details"]["help_request"] is True


# One open status vector of each new provider (Vonage's: the parts above): received before the
# registration, linked by it.
RECEIPTS = ["twilio/unsigned_open_connection", "plivo/unsigned_open_connection", "telnyx/finalized_delivered",
            "sinch/recipient_delivered", "messagebird/status_delivered", "infobip/report_full"]


@pytest.mark.parametrize("vector", RECEIPTS)
async def test_receipts_of_new_providers_link_to_a_later_registration(client: httpx.AsyncClient, vector: str) -> None:
    slug = vector.split("/")[0]
    data = load(VECTORS / f"{vector}.json")
    assert not data.get("connection"), "an open connection's vector"
    [expected] = [e for e in data["events"] if e["type"] == "status"][:1]
    await send_vector(client, vector)
    before = (await client.get(f"/v1/messages/{slug}/{expected['message_id']}")).json()
    assert before["registered"] is False
    answer = await client.post("/v1/messages", json={
        "connection": slug, "message_id": expected["message_id"], "to": expected.get("to") or "4400000000",
        "reference": "order-x", "metadata": {"k": slug}})
    assert answer.status_code == 201, answer.text
    after = (await client.get(f"/v1/messages/{slug}/{expected['message_id']}")).json()
    assert after["registered"] is True and after["status"] == expected["status"]
    listed = (await client.get("/v1/events", params={"message_id": expected["message_id"]})).json()["data"]
    assert listed and all(e["reference"] == "order-x" and e["metadata"] == {"k": slug} for e in listed
                          if e["type"] == "status")


async def test_provider_submit_times_start_the_time_to_delivery(client: httpx.AsyncClient) -> None:
    """One receipt each: Infobip's sentAt, Telnyx's sent_at and Plivo's MessageTime are the start
    (never 0.0, never unknown when the provider says)."""
    infobip = {"results": [{"messageId": "ib-7", "to": "385981178999", "sentAt": "2026-01-10T09:00:00.000+0000",
                            "doneAt": "2026-01-10T09:04:00.000+0000",
                            "status": {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET"},
                            "error": {"groupId": 0, "id": 0, "permanent": False}}]}
    assert (await client.post("/hooks/infobip", json=infobip)).status_code == 200
    plivo = ("MessageUUID=pl-7&Status=delivered&To=918553651111&From=14155550100&ErrorCode="
             "&MessageTime=2026-01-10+09%3A00%3A00.000000&DeliveryReportTime=2026-01-10+09%3A02%3A00.000000")
    assert (await client.post("/hooks/plivo", content=plivo.encode(), headers=FORM)).status_code == 200
    telnyx: dict[str, Any] = load(VECTORS / "telnyx/finalized_delivered.json")["request"]["body_json"]
    payload = telnyx["data"]["payload"]
    assert payload.get("sent_at") and (telnyx["data"].get("occurred_at") or payload.get("completed_at"))
    assert (await client.post("/hooks/telnyx", json=telnyx)).status_code == 200
    times = {}
    for slug, ident in (("infobip", "ib-7"), ("plivo", "pl-7"), ("telnyx", payload["id"])):
        view = (await client.get(f"/v1/messages/{slug}/{ident}")).json()
        assert view["final"] and view["sent_at"] is not None, (slug, view)
        times[slug] = view["time_to_final_s"]
    assert times["infobip"] == 240.0 and times["plivo"] == 120.0
    assert times["telnyx"] is not None and times["telnyx"] > 0
