"""Amazon SNS end to end: a real SNS client (moto's ``mock_aws``) publishes signed notifications to
smshook listening on a loopback socket; and a signed SubscriptionConfirmation goes through the real hook
path, is stored, and is confirmed in the background.

smshook runs in this process (uvicorn on a free port) because the certificate moto signs with can only
be fetched inside ``mock_aws``: the adapter's certificate source is replaced by one that GETs it with
``requests``, which moto answers. moto's gaps (providers-next.md §15): it sends no
SubscriptionConfirmation for HTTP subscriptions, and leaves ``Subject`` out of its string to sign, so
the messages are published without a subject.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from smshook.app import create_app
from smshook.providers import sns
from smshook.providers.sns_confirm import CONFIRMER
from smshook.settings import load_settings
from tests.e2e.conftest import free_port
from tests.providers.sns_signing import TOPIC, certificate_source, confirmation, sign

pytestmark = pytest.mark.timeout(120)
TOKEN = "sns-e2e-token-0123456789"
REGION = "us-east-1"

INBOUND = {"originationNumber": "+14255550182", "destinationNumber": "+12125550101", "messageKeyword": "JOIN",
           "messageBody": "JOIN the club", "inboundMessageId": "cae173d2-66b9-564c-8309-21f858e9fb84",
           "previousPublishedMessageId": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
EVENT = {"eventType": "TEXT_DELIVERED", "eventVersion": "1.0", "eventTimestamp": 1796292000123, "isFinal": True,
         "originationPhoneNumber": "+12065550152", "destinationPhoneNumber": "+14255550156", "mcc": "310",
         "mnc": "800", "messageId": "862a8790-60c0-4430-9b2b-658bdexample", "messageStatus": "DELIVERED",
         "totalMessagePrice": 0.00645}


@contextlib.asynccontextmanager
async def serve(tmp_path: Path, topics: list[str]) -> AsyncIterator[str]:
    config = tmp_path / "smshook.toml"
    config.write_text(f'[connections.aws]\nprovider = "sns"\ntoken = "{TOKEN}"\ntopic_arns = {json.dumps(topics)}\n')
    settings = load_settings(config, database=f"sqlite:///{tmp_path / 'smshook.db'}")
    # log_config=None: uvicorn's own would cut its loggers off from the root logger for later tests
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=free_port(),
                                           log_level="warning", lifespan="on", log_config=None))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn offers no event for this)
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        await task


def moto_publish(url: str) -> dict[str, Any]:
    """Create a topic, subscribe smshook's URL (HTTP), publish a two-way SMS and an SMS event."""
    import boto3
    import requests
    from moto import mock_aws

    with mock_aws():
        sns.CERTIFICATES.source = lambda cert_url: requests.get(cert_url, timeout=5).content
        client = boto3.client("sns", region_name=REGION, aws_access_key_id="testing",
                              aws_secret_access_key="testing")
        topic = client.create_topic(Name="sms-events")["TopicArn"]
        client.subscribe(TopicArn=topic, Protocol="http", Endpoint=url)
        ids = [client.publish(TopicArn=topic, Message=json.dumps(body))["MessageId"] for body in (INBOUND, EVENT)]
        other = client.create_topic(Name="someone-else")["TopicArn"]
        client.subscribe(TopicArn=other, Protocol="http", Endpoint=url)
        client.publish(TopicArn=other, Message=json.dumps(INBOUND))  # signed, but not a topic of ours
        return {"topic": topic, "ids": ids}


async def test_moto_publishes_signed_notifications_to_smshook(tmp_path: Path) -> None:
    topic = f"arn:aws:sns:{REGION}:123456789012:sms-events"
    try:
        async with serve(tmp_path, [topic]) as base:
            published = await asyncio.to_thread(moto_publish, f"{base}/hooks/aws/{TOKEN}")
            assert published["topic"] == topic
            async with httpx.AsyncClient(base_url=base) as client:
                events = (await client.get("/v1/events", params={"limit": 10})).json()["data"]
                quarantine = (await client.get("/v1/quarantine")).json()["data"]
                metrics = (await client.get("/metrics")).text
    finally:
        sns.CERTIFICATES.source = sns.fetch_certificate
        sns.CERTIFICATES.clear()
    by_type = {e["type"]: e for e in events}
    assert len(events) == 2, events  # the third, from another topic, was refused and not stored
    inbound, status = by_type["inbound"], by_type["status"]
    assert (inbound["from"], inbound["to"], inbound["text"], inbound["keyword"], inbound["reply_to"]) == (
        "14255550182", "12125550101", "JOIN the club", "JOIN", INBOUND["previousPublishedMessageId"])
    assert inbound["message_id"] == INBOUND["inboundMessageId"]
    assert inbound["details"]["sns_message_id"] == published["ids"][0]
    assert (status["message_id"], status["status"], status["provider_status"], status["occurred_at"]) == (
        EVENT["messageId"], "delivered", "TEXT_DELIVERED", "2026-12-03T10:00:00.123Z")
    assert status["network"]["mccmnc"] == "310800" and status["price"] == "0.00645"
    assert quarantine == []
    assert 'outcome="unauthorized"' in metrics  # the other topic's notification, counted as refused


async def test_subscription_confirmation_is_stored_then_confirmed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:
    fetched: list[str] = []

    async def fetch(url: str) -> int:
        fetched.append(url)
        return 200 if len(fetched) > 1 else 503  # the first attempt fails: retried

    monkeypatch.setattr(CONFIRMER, "fetch", fetch)
    monkeypatch.setattr(CONFIRMER, "delays", (0.0, 0.05))
    monkeypatch.setattr(CONFIRMER, "subscriptions", {})
    monkeypatch.setattr(sns.CERTIFICATES, "source", certificate_source)
    sns.CERTIFICATES.clear()
    envelope = sign(confirmation(), "2")
    async with serve(tmp_path, [TOPIC]) as base, httpx.AsyncClient(base_url=base) as client:
        answer = await client.post(f"/hooks/aws/{TOKEN}", content=json.dumps(envelope), headers={
            "content-type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "SubscriptionConfirmation"})
        assert (answer.status_code, answer.text) == (200, "OK")
        await CONFIRMER.drain()
        state = (await client.get("/v1/sns/subscriptions")).json()["data"]
        shown = await asyncio.to_thread(dashboard_sns_rows, base)
        # Unsigned, or for a topic not listed: refused, nothing fetched.
        forged = {**envelope, "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Other"}
        assert (await client.post(f"/hooks/aws/{TOKEN}", content=json.dumps(forged))).status_code == 401
        other = sign(confirmation(topic="arn:aws:sns:us-east-1:999999999999:x"), "2")
        assert (await client.post(f"/hooks/aws/{TOKEN}", content=json.dumps(other))).status_code == 403
        unsubscribed = sign(confirmation("UnsubscribeConfirmation"), "2")
        assert (await client.post(f"/hooks/aws/{TOKEN}", content=json.dumps(unsubscribed))).status_code == 200
        after = (await client.get("/v1/sns/subscriptions")).json()["data"]
        assert (await client.get("/v1/events")).json()["data"] == []  # confirmations are not SMS events
    sns.CERTIFICATES.clear()
    assert fetched == [envelope["SubscribeURL"]] * 2
    assert [(s["connection"], s["topic_arn"], s["state"], s["attempts"]) for s in state] == [
        ("aws", TOPIC, "confirmed", 2)]
    assert [(s["topic_arn"], s["state"]) for s in after] == [(TOPIC, "unsubscribed")]
    if shown is not None:  # the dashboard's Connections page lists it with its state
        assert shown == [[TOPIC, "confirmed", "2"]]


def dashboard_sns_rows(base: str) -> list[list[str]] | None:
    """The SNS table of the dashboard's Connections page, read in Debian's chromium (None: skipped)."""
    from tests.e2e.test_dashboard import ARGS, CHROMIUM

    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        if os.environ.get("SMSHOOK_SKIP_BROWSER") == "1":
            return None
        pytest.fail(f"no chromium at {CHROMIUM} (scripts/test installs it; SMSHOOK_SKIP_BROWSER=1 skips)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=30_000)
        try:
            page = browser.new_page()
            page.set_default_timeout(10_000)
            page.goto(f"{base}/#/connections")
            page.get_by_text("Amazon SNS subscriptions").wait_for()
            rows: list[list[str]] = page.eval_on_selector_all(
                ".sns tbody tr", "rs => rs.map(r => [1, 2, 3].map(i => r.children[i].textContent))")
            return rows
        finally:
            browser.close()
