"""``smshook simulate``: every provider's simulated callbacks against the real server, and offline
against the real adapters (each unique callback's events are new, each retry adds nothing)."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest
from click.testing import CliRunner

from smshook.cli import main
from smshook.events import finalize
from smshook.providers import get, sns
from smshook.providers.base import ConnectionInfo, RawRequest
from smshook.simulate import PROVIDERS, Options, is_loopback, plan
from smshook.status import STATUSES
from tests.e2e.conftest import Server, all_events
from tests.providers.sns_signing import CERT_URL, TOPIC, certificate_source

NOW = datetime(2025, 3, 30, 0, 30, tzinfo=UTC)  # Prague and Amsterdam switch to summer time at 01:00 UTC
# sns is not among the default connections (it needs topics) and only AWS serves its certificates: tested below.
CASES = [(slug, []) for slug in PROVIDERS if slug != "sns"] + [("webcom", ["--format", "json"])]


TEST_KEY = Path(__file__).parents[1] / "providers" / "sns" / "test-key.pem"


@pytest.fixture
def sns_test_certificate(monkeypatch: pytest.MonkeyPatch) -> None:
    """simulate sns signs with the test key for CERT_URL, whose certificate the adapter gets from the tests."""
    monkeypatch.setattr(sns.CERTIFICATES, "source", certificate_source)
    monkeypatch.setenv("SIMULATE_SNS_KEY", str(TEST_KEY))
    monkeypatch.setenv("SIMULATE_SNS_CERT_URL", CERT_URL)
    sns.CERTIFICATES.clear()


def options_for(provider: str, fmt: str = "xml") -> Options:
    if provider == "sns":
        return Options(format=fmt, connection={"topic_arns": TOPIC})
    return Options(format=fmt)



@pytest.mark.parametrize(("provider", "extra"), CASES, ids=[" ".join([s, *x]) for s, x in CASES])
def test_simulated_callbacks_are_all_stored_once(server: Server, provider: str, extra: list[str]) -> None:
    args = ["simulate", provider, "--url", f"{server.url}/hooks/{provider}", "--count", "40", "--rate", "0",
            "--duplicates", "0.2", "--out-of-order", "--seed", "7", "--json", *extra]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, (result.output, server.output()[-2000:])
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    assert summary["sent"] == summary["answered_2xx"] == summary["expected_answers"] == 40
    assert summary["duplicates"] == 8 and summary["unique_callbacks"] == 32
    assert summary["errors"] == 0 and summary["non_2xx"] == {} and summary["problems"] == []
    if PROVIDERS[provider].inbound is not None:
        assert 0 < summary["inbound_events"] < summary["unique_events"]

    with httpx.Client(timeout=10) as client:
        stored = all_events(client, server.url, connection=provider)
        # the simulator's STOP / START messages also made opt-out events (smshook.lifecycle)
        stored = [e for e in stored if e["type"] not in ("optout", "optin")]
        assert len(stored) == summary["unique_events"]
        assert client.get(f"{server.url}/v1/quarantine").json()["data"] == []
    assert sum(e["type"] == "inbound" for e in stored) == summary["inbound_events"]
    for event in stored:
        if event["type"] == "status":
            assert event["status"] in STATUSES, event
        else:
            assert event["type"] == "inbound" and event["status"] is None, event
    # Timestamps are near now, in UTC (Twilio sends none at all).
    times = [e["occurred_at"] for e in stored if e["occurred_at"]]
    assert (times or provider == "twilio") and all(t.endswith("Z") and t[:4] >= "2024" for t in times)


@pytest.mark.usefixtures("sns_test_certificate")
@pytest.mark.parametrize(("provider", "fmt"), [(slug, "xml") for slug in PROVIDERS] + [("webcom", "json")])
def test_generators_match_the_adapters(provider: str, fmt: str) -> None:
    """Parsed by the real adapter, every unique callback's events are distinct and every retry
    repeats an earlier callback's events: the server must store exactly ``unique_events``."""
    the_plan = plan(provider, count=300, duplicates=0.3, out_of_order=True, inbound_share=0.3, seed=11,
                    options=options_for(provider, fmt), now=NOW)
    adapter = get(provider)
    connection = ConnectionInfo(name=provider, provider=provider, options={"topic_arns": [TOPIC]}
                                if provider == "sns" else {})
    keys: set[bytes] = set()
    for callback in the_plan.callbacks:
        method, query, headers, body = callback.request
        raw = RawRequest(method, f"/hooks/{provider}", query.encode(), tuple((k.lower(), v) for k, v in headers), body)
        assert method in adapter.methods
        adapter.verify(raw, connection)  # sns: signed as SNS signs (the others have nothing to check)
        events = finalize(adapter.parse(raw, connection), provider, provider, NOW)
        assert len(events) == callback.events
        assert sum(e.type == "inbound" for e in events) == callback.inbound
        assert all(e.status in STATUSES for e in events if e.type == "status")
        new = {e.key for e in events}
        assert len(new) == len(events)
        if callback.duplicate:
            assert new <= keys
        else:
            assert not new & keys
        keys |= new
    assert len(keys) == the_plan.unique_events
    assert the_plan.duplicates == 90 and len(the_plan.callbacks) == 300


def test_a_seed_replays_the_same_run() -> None:
    for provider in PROVIDERS:
        first = plan(provider, count=50, out_of_order=True, seed=3, now=NOW)
        again = plan(provider, count=50, out_of_order=True, seed=3, now=NOW)
        assert first.callbacks == again.callbacks
        assert plan(provider, count=50, seed=4, now=NOW).callbacks != first.callbacks


def test_a_remote_url_is_refused() -> None:
    result = CliRunner().invoke(main, ["simulate", "csoft", "--url", "http://192.0.2.10:8080/hooks/csoft"])
    assert result.exit_code == 2
    assert "loopback" in result.stderr and "--allow-remote" in result.stderr
    result = CliRunner().invoke(main, ["simulate", "csoft", "--url", "ftp://127.0.0.1/hooks/csoft"])
    assert result.exit_code == 2 and "http" in result.stderr
    for url in ("http://127.0.0.1:8080/hooks/x", "http://127.1.2.3/x", "http://[::1]:8080/x", "http://localhost/x"):
        assert is_loopback(url), url
    for url in ("http://example.com/hooks/x", "http://10.0.0.1/x", "http://[2001:db8::1]/x", "http:///x"):
        assert not is_loopback(url), url


def test_wrong_answers_exit_1(server: Server) -> None:
    # No such connection: 404. csoft receipts to a Spryng hook: unreadable there, 400.
    for path, want in (("nope", "404"), ("spryng", "400")):
        args = ["simulate", "csoft", "--url", f"{server.url}/hooks/{path}", "--count", "5", "--rate", "0",
                "--inbound-share", "0", "--json"]
        result = CliRunner().invoke(main, args)
        summary = json.loads(result.stdout)
        assert result.exit_code == 1 and summary["ok"] is False, result.output
        assert summary["expected_answers"] == 0 and summary["problems"]
        assert summary["non_2xx"] == {want: 5}


def test_answers_are_checked_as_each_provider_expects() -> None:
    """A 2xx is not enough where the provider wants a particular answer."""
    csoft = plan("csoft", count=1, inbound_share=0, seed=1, now=NOW).callbacks[0].request
    ident = dict(parse_qsl(csoft[3].decode()))["MessageIdentifier"]
    check = PROVIDERS["csoft"].check
    assert check(csoft, f"MessageIdentifier={ident}&Report=0&Text=OK".encode()) is None
    assert "Report" in (check(csoft, f"MessageIdentifier={ident}&Report=-1&Text=busy".encode()) or "")
    assert "echo" in (check(csoft, b"MessageIdentifier=OTHER&Report=0") or "")

    for fmt in ("xml", "json"):
        webcom = plan("webcom", count=1, seed=2, options=Options(format=fmt), now=NOW).callbacks[0].request
        events = get("webcom").parse(RawRequest("POST", "/hooks/webcom", body=webcom[3]),
                                     ConnectionInfo("webcom", "webcom"))
        ids = list(dict.fromkeys(e.message_id or "" for e in events))
        if fmt == "xml":
            answer = "".join(f"<id_sms>{i}</id_sms>" for i in ids)
            full, short = f"<response>{answer}</response>", f"<response>{answer[: answer.rfind('<id_sms>')]}</response>"
        else:
            full = json.dumps([{"id_sms": int(i)} for i in ids])
            short = json.dumps([{"id_sms": int(i)} for i in ids[:-1]])
        assert PROVIDERS["webcom"].check(webcom, full.encode()) is None
        assert "not listed" in (PROVIDERS["webcom"].check(webcom, short.encode()) or "")
        assert PROVIDERS["webcom"].check(webcom, b"OK") is not None

    spryng = plan("spryng", count=1, seed=3, now=NOW).callbacks[0].request
    assert PROVIDERS["spryng"].check(spryng, b"TRUE") is None
    assert PROVIDERS["spryng"].check(spryng, b"OK") is not None


SIGNED = {"twilio": {"auth_token": "f0e1d2c3b4a5968778695a4b3c2d1e0f"},
          "vonage": {"signature_secret": "vonage-signature-secret-0123", "signature_method": "sha512"},
          "plivo": {"auth_token": "Y2Q2ZDgxZmY5YWRiOTI5YmQ1Njg0MTAxZWIyOTc4"}}


@pytest.mark.parametrize("provider", sorted(SIGNED))
def test_simulate_signs_with_the_secret(server_factory: type[Server], provider: str) -> None:
    """Given the connection's secret, every simulated callback is signed as the provider signs it and
    accepted; with a wrong secret every one is refused and kept in the rejected log."""
    public = "https://sms.example.com/hooks/signed"
    conns = {"signed": {"provider": provider, "public_url": public, **SIGNED[provider]}}
    server = server_factory(env={"SMSHOOK_CONNECTIONS": json.dumps(conns)}).start()
    options = [arg for key, value in SIGNED[provider].items() for arg in ("-o", f"{key}={value}")]
    args = ["simulate", provider, "--url", f"{server.url}/hooks/signed", "--count", "30", "--rate", "0",
            "--seed", "5", "--json", "--signed-url", public]
    good = CliRunner().invoke(main, [*args, *options])
    assert good.exit_code == 0, (good.output, server.output()[-2000:])
    assert json.loads(good.stdout)["expected_answers"] == 30
    secret = next(k for k in SIGNED[provider] if k != "signature_method")
    wrong = [*args, "-o", f"{secret}=not-the-secret-at-all-123"]
    bad = CliRunner().invoke(main, wrong)
    summary = json.loads(bad.stdout)
    assert bad.exit_code == 1 and summary["expected_answers"] == 0
    assert set(summary["non_2xx"]) <= {"401", "403"}
    with httpx.Client(timeout=10) as client:
        rejected = client.get(f"{server.url}/v1/rejected", params={"limit": 500}).json()["data"]
    assert sum(r["attempts"] for r in rejected) == 30


def test_simulate_refuses_unknown_options() -> None:
    result = CliRunner().invoke(main, ["simulate", "twilio", "--url", "http://127.0.0.1:9/hooks/x", "-o", "pin=1"])
    assert result.exit_code == 2 and "auth_token" in result.stderr


def test_gateway_answers_are_checked() -> None:
    kannel = plan("kannel", count=1, seed=1, now=NOW).callbacks[0].request
    assert PROVIDERS["kannel"].check(kannel, b"") is None
    assert "SMS" in (PROVIDERS["kannel"].check(kannel, b"OK") or "")
    jasmin = plan("jasmin", count=1, seed=1, now=NOW).callbacks[0].request
    assert PROVIDERS["jasmin"].check(jasmin, b"ACK/Jasmin") is None
    assert PROVIDERS["jasmin"].check(jasmin, b"OK") is not None


@pytest.mark.usefixtures("sns_test_certificate")
async def test_simulated_sns_notifications_verify_and_are_stored(tmp_path: Path) -> None:
    """smshook simulate sns, signing with the test key, against smshook in this process (which fetches the
    certificate of CERT_URL from the tests, not from AWS); a run with a throwaway key is refused."""
    from tests.e2e.test_sns import serve

    async with serve(tmp_path, [TOPIC]) as base:
        url = f"{base}/hooks/aws/sns-e2e-token-0123456789"
        args = ["simulate", "sns", "--url", url, "--count", "30", "--rate", "0", "--duplicates", "0.2",
                "--seed", "5", "--json", "-o", f"topic_arns={TOPIC}"]
        result = await asyncio.to_thread(CliRunner().invoke, main, args)
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        async with httpx.AsyncClient(base_url=base) as client:
            stored = (await client.get("/v1/events", params={"limit": 500})).json()["data"]
        optouts = [e for e in stored if e["type"] in ("optout", "optin")]  # STOP texts, opted-out events
        stored = [e for e in stored if e["type"] not in ("optout", "optin")]
        assert len(stored) == summary["unique_events"] and summary["inbound_events"] > 0
        assert all(e["from"] for e in optouts)
        os.environ.pop("SIMULATE_SNS_KEY")  # a throwaway key: AWS's certificate does not match it
        throwaway = await asyncio.to_thread(CliRunner().invoke, main, args)
        assert throwaway.exit_code == 1 and json.loads(throwaway.stdout)["non_2xx"] == {"401": 30}
