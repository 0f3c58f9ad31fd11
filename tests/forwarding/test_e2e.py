"""The real server process: config and API subscriptions, signed delivery, replay, and a SIGKILL of
the server (and so its dispatcher) mid-flight without losing or re-identifying anything."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import orjson
from standardwebhooks.webhooks import Webhook

from tests.e2e.conftest import Server
from tests.forwarding.conftest import SECRET, Receiver

FAST = """
forwarding_schedule = [0, 0.2, 0.2, 0.2]
forwarding_jitter = 0
forwarding_poll_interval = 0.05
forwarding_timeout = 2
forwarding_lease = 1
"""


def receipt(ident: str) -> str:
    return (f"Username=NULL&PIN=NULL&SendTo=447700912345&Timestamp1=2026-01-01T00:00:00Z"
            f"&MessageIdentifier={ident}&Report=0")


def sms(text: str) -> str:
    return f"Username=NULL&PIN=NULL&SendTo=447700900100&Message={text}&ReplyTo=447700912345"


def test_subscriptions_api_delivery_and_replay(server_factory: type[Server], receiver: Receiver,
                                               tmp_path: Path) -> None:
    config = tmp_path / "smshook.toml"
    config.write_text(FAST + f"""
[subscriptions.stops]
url = "{receiver.url}/ok"
secret = "{SECRET}"
[subscriptions.stops.filters]
keywords = ["STOP"]
""")
    server = server_factory(config=config).start()
    api = f"{server.url}/v1"
    with httpx.Client(timeout=10) as client:
        [stops] = client.get(f"{api}/subscriptions").json()["data"]
        assert stops["id"] == "stops" and stops["source"] == "config" and stops["filters"]["keywords"] == ["STOP"]

        r = client.post(f"{api}/subscriptions", json={"url": f"{receiver.url}/ok?wins", "secret": SECRET,
                                                      "filters": {"text_regex": "\\bwin\\b"}})
        assert r.status_code == 201, r.text
        wins = r.json()
        assert wins["id"].startswith("sub_") and wins["secret"] == SECRET and wins["enabled"]
        r = client.post(f"{api}/subscriptions", json={"url": "https://example.invalid/x"})
        assert r.status_code == 201 and r.json()["secret"].startswith("whsec_")
        generated = r.json()["id"]
        assert client.patch(f"{api}/subscriptions/{generated}", json={"enabled": False}).json()["enabled"] is False
        assert client.delete(f"{api}/subscriptions/{generated}").status_code == 204
        assert client.get(f"{api}/subscriptions/{generated}").status_code == 404
        for bad in ({}, {"url": "ftp://x"}, {"url": "https://x", "secret": "nope"}, {"url": "https://x", "what": 1},
                    {"url": "https://x", "filters": {"statuses": ["gone"]}}):
            r = client.post(f"{api}/subscriptions", json=bad)
            assert r.status_code == 400 and r.json()["error"], bad
        assert client.post(f"{api}/subscriptions", json={"id": "stops", "url": "https://x"}).status_code == 409

        for body in (sms("STOP+please"), sms("I+want+to+win"), sms("hello"), receipt("M1")):
            assert client.post(f"{server.url}/hooks/csoft", content=body).status_code == 200
        rows = receiver.wait_for(lambda rows: len(rows) >= 2)
        time.sleep(0.3)
        rows = receiver.requests()
        assert len(rows) == 2
        by_path = {r["path"]: r for r in rows}
        stop = Webhook(SECRET).verify(by_path["/ok"]["body"], by_path["/ok"]["headers"])
        win = Webhook(SECRET).verify(by_path["/ok?wins"]["body"], by_path["/ok?wins"]["headers"])
        assert stop["data"]["keyword"] == "STOP" and win["data"]["text"] == "I want to win"

        deliveries = client.get(f"{api}/deliveries", params={"subscription_id": "stops"}).json()["data"]
        assert [d["state"] for d in deliveries] == ["delivered"]
        listed = {s["id"]: s for s in client.get(f"{api}/subscriptions").json()["data"]}
        assert listed["stops"]["stats"]["successes"] == 1 and listed["stops"]["stats"]["backlog"] == 0

        r = client.post(f"{api}/replay", json={"event_ids": [stop["data"]["id"]]})
        assert r.json() == {"replayed": 1}
        rows = receiver.wait_for(lambda rows: len(rows) >= 3)
        assert rows[-1]["headers"]["webhook-id"] == by_path["/ok"]["headers"]["webhook-id"]
        assert client.post(f"{api}/replay", json={}).status_code == 400


def test_a_stored_callback_wakes_the_dispatcher_without_waiting_for_its_poll(
        server_factory: type[Server], receiver: Receiver, tmp_path: Path) -> None:
    config = tmp_path / "smshook.toml"
    config.write_text(f"""
forwarding_poll_interval = 60
[subscriptions.all]
url = "{receiver.url}/ok"
secret = "{SECRET}"
""")
    server = server_factory(config=config).start()
    time.sleep(0.5)  # the dispatcher's first look found nothing: it now sleeps for its poll interval
    started = time.monotonic()
    with httpx.Client(timeout=10) as client:
        assert client.post(f"{server.url}/hooks/csoft", content=sms("STOP")).status_code == 200
    rows = receiver.wait_for(lambda rows: len(rows) >= 2, timeout=20)  # the inbound STOP and its optout
    assert time.monotonic() - started < 20  # woken by the commit that queued it, not by the 60 s poll
    data = sorted((Webhook(SECRET).verify(row["body"], row["headers"])["data"] for row in rows),
                  key=lambda d: d["type"])
    assert [(d["type"], d["keyword"]) for d in data] == [("inbound", "STOP"), ("optout", "STOP")]


def test_sigkill_mid_flight_delivers_everything_at_least_once(server_factory: type[Server], receiver: Receiver,
                                                              tmp_path: Path) -> None:
    config = tmp_path / "smshook.toml"
    config.write_text(FAST + f"""
forwarding_concurrency = 4
[subscriptions.slow]
url = "{receiver.url}/hold/0.5"
secret = "{SECRET}"
""")
    server = server_factory(config=config).start()
    idents = [f"K{i:03d}" for i in range(24)]
    with httpx.Client(timeout=10) as client:
        for ident in idents:
            assert client.post(f"{server.url}/hooks/csoft", content=receipt(ident)).status_code == 200
    receiver.wait_for(lambda rows: len(rows) >= 4)
    server.kill()  # deliveries are in flight: leased, being sent, not yet recorded
    assert len(receiver.requests()) < len(idents)
    server = server_factory(config=config, port=server.port).start()
    rows = receiver.wait_for(
        lambda rows: {orjson.loads(r["body"])["data"]["message_id"] for r in rows if r["status"] == 200}
        >= set(idents), timeout=30)
    ids_per_event: dict[str, set[str]] = {}
    for r in rows:
        Webhook(SECRET).verify(r["body"], r["headers"])
        ids_per_event.setdefault(orjson.loads(r["body"])["data"]["id"], set()).add(r["headers"]["webhook-id"])
    assert len(ids_per_event) == len(idents)
    assert all(len(ids) == 1 for ids in ids_per_event.values())  # redelivered with the same webhook-id
    with httpx.Client(timeout=10) as client:
        deadline = time.monotonic() + 10
        while True:
            data = client.get(f"{server.url}/v1/deliveries", params={"limit": 100}).json()["data"]
            if len(data) == len(idents) and all(d["state"] == "delivered" for d in data):
                break
            assert time.monotonic() < deadline, data
            time.sleep(0.1)
