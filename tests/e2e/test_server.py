"""End-to-end: the real server process, real HTTP, as a provider and a user would talk to it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
from pathlib import Path

import httpx
import pytest

from smshook.events import finalize
from smshook.lifecycle import optouts
from smshook.lifecycle.options import DEFAULT_OPTIONS
from smshook.providers import get
from tests.e2e.conftest import Server, all_events
from tests.providers.test_vectors import CASES, RECEIVED, build_request, connection_for, load

OPEN_VECTORS = [p for p in CASES if "connection" not in load(p)]


def send_vector(client: httpx.Client, base: str, path: Path) -> httpx.Response:
    vector = load(path)
    spec = vector["request"]
    if "body_base64" in spec:
        body = base64.b64decode(spec["body_base64"])
    elif "body_json" in spec:
        body = json.dumps(spec["body_json"], ensure_ascii=False).encode()
    else:
        body = spec.get("body", "").encode()
    query = spec.get("query", "")
    url = f"{base}/hooks/{path.parent.name}" + (f"?{query}" if query else "")
    return client.request(spec.get("method", "POST"), url, content=body, headers=spec.get("headers", {}))



def test_every_seed_vector_over_http(server: Server) -> None:
    """Each example posted over HTTP gets the provider's expected answer and shows up in the API."""
    expected_keys: set[bytes] = set()
    expected_quarantine = 0
    with httpx.Client(timeout=10) as client:
        for path in OPEN_VECTORS:
            vector = load(path)
            response = send_vector(client, server.url, path)
            if "error" in vector:
                assert response.status_code == vector["error"]["status"], path.name
                expected_quarantine += vector["error"]["status"] not in (401, 403)
                continue
            want = vector["response"]
            assert response.status_code == want.get("status", 200), (path.name, response.text)
            if "body_json" in want:
                assert response.json() == want["body_json"], path.name
            elif "body" in want:
                assert response.text == want["body"], path.name
            slug = path.parent.name
            events = get(slug).parse(build_request(vector["request"], slug), connection_for(slug, vector))
            events += optouts.derive(events, DEFAULT_OPTIONS)  # STOP / START: opt-out events too
            expected_keys |= {e.key for e in finalize(events, slug, slug, RECEIVED)}

        stored = all_events(client, server.url)
        assert len(stored) == len(expected_keys)
        quarantined = client.get(f"{server.url}/v1/quarantine", params={"limit": 500}).json()["data"]
        assert len(quarantined) == expected_quarantine
        # Sending everything again changes nothing: every retry is recognised.
        for path in OPEN_VECTORS:
            send_vector(client, server.url, path)
        assert len(all_events(client, server.url)) == len(expected_keys)


def test_refusals_name_the_problem(server: Server) -> None:
    base = server.url
    with httpx.Client(timeout=10) as client:
        r = client.post(f"{base}/hooks/nope", content=b"x")
        assert r.status_code == 404 and "nope" in r.text
        r = client.get(f"{base}/hooks/csoft?Report=0")
        assert r.status_code == 405 and r.headers["allow"] == "POST"
        big = b"a" * (1024 * 1024 + 1)
        r = client.post(f"{base}/hooks/bulkgate", content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413
        r = client.post(f"{base}/hooks/bulkgate", content=b'[{"status": "1", "smsID": ', headers={
            "content-type": "application/json"})
        assert r.status_code == 400 and "JSON" in r.text
        r = client.post(f"{base}/hooks/webcom", content=b"<!DOCTYPE x [<!ENTITY a 'aaaa'>]><response>&a;</response>")
        assert r.status_code == 400
        r = client.get(f"{base}/v1/events", params={"status": "bogus"})
        assert r.status_code == 400 and "status" in r.json()["error"]
        r = client.get(f"{base}/v1/events", params={"limit": 0})
        assert r.status_code == 400 and "limit" in r.json()["error"]
        r = client.get(f"{base}/v1/events", params={"cursor": "zzz"})
        assert r.status_code == 400 and "cursor" in r.json()["error"]
        r = client.get(f"{base}/v1/messages/csoft/unknown-id")
        assert r.status_code == 404
        quarantine = client.get(f"{base}/v1/quarantine").json()["data"]
        assert {q["connection"] for q in quarantine} == {"bulkgate", "webcom"}
        assert all(q["reason"] for q in quarantine)
        # still healthy after all of that
        assert client.get(f"{base}/healthz").json() == {"status": "ok"}
        assert client.get(f"{base}/readyz").status_code == 200


def test_garbage_never_gets_a_500(server: Server) -> None:
    rng = random.Random(7)
    with httpx.Client(timeout=10) as client:
        for _ in range(150):
            slug = rng.choice(["csoft", "cdyne", "webcom", "spryng", "bulkgate"])
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
            method = rng.choice(["POST", "GET", "PUT"])
            r = client.request(method, f"{server.url}/hooks/{slug}", content=body,
                               headers={"content-type": rng.choice(["application/json", "text/xml", "text/html"])})
            assert r.status_code < 500, (slug, method, body, r.status_code, r.text)
        assert client.get(f"{server.url}/readyz").status_code == 200


def test_api_token_and_connection_secrets(server_factory: type[Server], tmp_path: Path) -> None:
    config = tmp_path / "smshook.toml"
    config.write_text(
        'api_token = "s3cret-api-token-0123456789"\n'
        "[connections.shop]\n"
        'provider = "csoft"\n'
        'token = "hook-token-abcdefghijklmnop"\n'
        'username = "ANother.12345"\n'
        'pin = "123456789"\n'
        "[connections.office]\n"
        'provider = "bulkgate"\n'
        'allow_ips = ["10.0.0.0/8"]\n'
    )
    server = server_factory(config=config).start()
    receipt = (b"Username=ANother.12345&PIN=123456789&SendTo=447700912345&Timestamp1=2005-07-26T14:11:00Z"
               b"&MessageIdentifier=309B9A1A&Report=0")
    auth = {"authorization": "Bearer s3cret-api-token-0123456789"}
    with httpx.Client(timeout=10) as client:
        assert client.post(f"{server.url}/hooks/shop", content=receipt).status_code == 401
        assert client.post(f"{server.url}/hooks/shop/wrong-token-xxxxxxxxxx", content=receipt).status_code == 401
        bad_pin = receipt.replace(b"PIN=123456789", b"PIN=NULL")
        r = client.post(f"{server.url}/hooks/shop/hook-token-abcdefghijklmnop", content=bad_pin)
        assert r.status_code == 401 and "Report=-1" in r.text
        r = client.post(f"{server.url}/hooks/shop/hook-token-abcdefghijklmnop", content=receipt)
        assert r.status_code == 200 and r.text == "MessageIdentifier=309B9A1A&Report=0&Text=OK"
        r = client.post(f"{server.url}/hooks/office", content=b'[{"status":"1","smsID":"a"}]')
        assert r.status_code == 403
        assert client.post(f"{server.url}/hooks/csoft", content=receipt).status_code == 404
        assert client.get(f"{server.url}/v1/events").status_code == 401
        events = client.get(f"{server.url}/v1/events", headers=auth).json()["data"]
        assert len(events) == 1 and events[0]["connection"] == "shop"
        raw = server.database.read_bytes()
        assert b"hook-token-abcdefghijklmnop" not in raw, "the URL token was written to the store"
        assert client.get(f"{server.url}/healthz").status_code == 200


async def _hammer(base: str, acked: set[str], stop: asyncio.Event, worker: int, going: asyncio.Event) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        i = 0
        while not stop.is_set():
            ident = f"K{worker:02d}x{i:06d}"
            i += 1
            body = (f"Username=NULL&PIN=NULL&SendTo=447700912345&Timestamp1=2026-01-01T00:00:00Z"
                    f"&MessageIdentifier={ident}&Report=0")
            try:
                r = await client.post(f"{base}/hooks/csoft", content=body)
            except httpx.HTTPError:
                return  # the server is gone
            if r.status_code == 200 and "Report=0" in r.text:
                acked.add(ident)
                if len(acked) >= 300:
                    going.set()


def test_sigkill_under_load_loses_nothing_acknowledged(server_factory: type[Server]) -> None:
    server = server_factory().start()
    acked: set[str] = set()

    async def load_then_kill() -> None:
        stop = asyncio.Event()
        going = asyncio.Event()
        workers = [asyncio.create_task(_hammer(server.url, acked, stop, w, going)) for w in range(32)]
        # Under load, not after a fixed time: starting 32 clients alone can take seconds on a busy machine.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(going.wait(), 30)
        server.kill()  # SIGKILL mid-flight: no shutdown, no flush
        stop.set()
        await asyncio.gather(*workers)

    asyncio.run(load_then_kill())
    assert len(acked) > 100, "the load did not get going"
    restarted = server_factory(port=0).start()
    with httpx.Client(timeout=30) as client:
        stored = {e["message_id"] for e in all_events(client, restarted.url, connection="csoft")}
    missing = acked - stored
    assert not missing, f"{len(missing)} acknowledged receipts lost, e.g. {sorted(missing)[:5]}"


@pytest.mark.parametrize("connections", [1, 64])
def test_concurrent_duplicates_are_stored_once(server: Server, connections: int) -> None:
    body = b'[{"status":"1","smsID":"dup-%d","price":"0.71","date":"1904111007;1904111011"}]' % connections

    async def fire() -> list[int]:
        async with httpx.AsyncClient(timeout=10) as client:
            rs = await asyncio.gather(*(client.post(f"{server.url}/hooks/bulkgate", content=body)
                                        for _ in range(connections)))
            return [r.status_code for r in rs]

    assert set(asyncio.run(fire())) == {200}
    with httpx.Client() as client:
        stored = client.get(f"{server.url}/v1/events", params={"message_id": f"dup-{connections}"}).json()
    assert len(stored["data"]) == 1
