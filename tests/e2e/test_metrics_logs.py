"""/metrics and the logs of a real server process, after real provider callbacks."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Server
from tests.forwarding.conftest import SECRET, Receiver, receiver  # noqa: F401  (fixture)

API_TOKEN = "api-token-0123456789abcdef"
METRICS_TOKEN = "metrics-token-0123456789"
BULK_TOKEN = "bulk-token-0123456789"
PHONE = "447700912345"
FAST = """
forwarding_schedule = [0, 0.2, 0.2, 0.2]
forwarding_jitter = 0
forwarding_poll_interval = 0.05
"""

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def receipt(ident: str, report: str = "0", timestamp: str = "2026-01-01T00:00:00Z") -> str:
    return f"Username=NULL&PIN=NULL&SendTo={PHONE}&Timestamp1={timestamp}&MessageIdentifier={ident}&Report={report}"


def scrape(client: httpx.Client, server: Server, token: str = METRICS_TOKEN) -> Samples:
    r = client.get(f"{server.url}/metrics", headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_metrics_count_every_outcome_exactly(server_factory: type[Server], tmp_path: Path,
                                             receiver: Receiver) -> None:  # noqa: F811 (the fixture)
    config = tmp_path / "smshook.toml"
    config.write_text(FAST + f"""
api_token = "{API_TOKEN}"
metrics_token = "{METRICS_TOKEN}"
[connections.shop]
provider = "csoft"
[connections.bulk]
provider = "bulkgate"
token = "{BULK_TOKEN}"
[subscriptions.all]
url = "{receiver.url}/ok"
secret = "{SECRET}"
""")
    server = server_factory(config=config).start()
    hooks = f"{server.url}/hooks"
    with httpx.Client(timeout=10) as client:
        assert client.post(f"{hooks}/shop", content=receipt("M1")).status_code == 200  # accepted
        assert client.post(f"{hooks}/shop", content=receipt("M1")).status_code == 200  # duplicate
        assert client.post(f"{hooks}/shop", content=receipt("M2", "x")).status_code == 400  # quarantined
        assert client.get(f"{hooks}/shop").status_code == 405
        bulk = b'[{"status":"1","smsID":"a"},{"status":"2","smsID":"b"}]'
        assert client.post(f"{hooks}/bulk/{BULK_TOKEN}", content=bulk).status_code == 200
        assert client.post(f"{hooks}/bulk/wrong-token-0123456789", content=bulk).status_code == 401
        assert client.post(f"{hooks}/nope", content=b"x").status_code == 404

        r = client.get(f"{server.url}/metrics")
        assert r.status_code == 401 and "Bearer" in r.json()["error"]
        assert client.get(f"{server.url}/metrics", headers={"authorization": "Bearer nope"}).status_code == 401
        assert client.post(f"{server.url}/metrics").status_code == 405
        scrape(client, server, API_TOKEN)  # the API token opens it too

        receiver.wait_for(lambda rows: len(rows) == 3)
        deadline = time.monotonic() + 10
        while True:  # the attempt is counted just after the receiver answered
            m = scrape(client, server)
            delivered = value(m, "smshook_forwarding_attempts_total", subscription="all", outcome="delivered")
            if delivered == 3 and value(m, "smshook_forwarding_backlog", subscription="all") == 0:
                break
            assert time.monotonic() < deadline, "delivery attempts not counted"
            time.sleep(0.05)

    requests = "smshook_hook_requests_total"
    assert value(m, requests, connection="shop", outcome="accepted") == 1
    assert value(m, requests, connection="shop", outcome="duplicate") == 1
    assert value(m, requests, connection="shop", outcome="quarantined") == 1
    assert value(m, requests, connection="shop", outcome="method_not_allowed") == 1
    assert value(m, requests, connection="shop", outcome="unauthorized") == 0
    assert value(m, requests, connection="bulk", outcome="accepted") == 1
    assert value(m, requests, connection="bulk", outcome="unauthorized") == 1
    assert value(m, requests, connection="-", outcome="not_found") == 1
    stored = "smshook_events_stored_total"
    assert value(m, stored, connection="shop", type="status", status="delivered") == 1
    assert value(m, stored, connection="bulk", type="status", status="delivered") == 1
    assert value(m, stored, connection="bulk", type="status", status="buffered") == 1
    assert value(m, stored, connection="shop", type="inbound", status="-") == 0
    assert value(m, "smshook_events_duplicate_total", connection="shop") == 1
    assert value(m, "smshook_events_duplicate_total", connection="bulk") == 0
    assert value(m, "smshook_quarantined_total", connection="shop", reason="invalid_request") == 1
    latency = "smshook_hook_answer_seconds_count"
    assert value(m, latency, connection="shop") == 4
    assert value(m, latency, connection="bulk") == 2
    assert value(m, latency, connection="-") == 1
    assert value(m, "smshook_hook_answer_seconds_bucket", connection="shop", le="+Inf") == 4
    # every store write is a commit job: 3 appends + 1 quarantine, plus forwarding's claims and attempts
    assert value(m, "smshook_store_commit_jobs_sum") >= 4
    assert value(m, "smshook_store_commit_jobs_count") >= 1 and value(m, "smshook_store_commit_seconds_count") >= 1
    assert value(m, "smshook_store_commit_seconds_sum") > 0
    assert value(m, "smshook_forwarding_backlog", subscription="all") == 0
    assert value(m, "smshook_forwarding_dead_letters", subscription="all") == 0
    assert value(m, "smshook_forwarding_attempts_total", subscription="all", outcome="failed") == 0
    assert value(m, "process_resident_memory_bytes") > 0
    assert value(m, "smshook_info", version=__import__("smshook").__version__) == 1


def test_json_logs_mask_phone_numbers(server_factory: type[Server]) -> None:
    server = server_factory(env={"SMSHOOK_LOG_FORMAT": "json"}).start()
    with httpx.Client(timeout=10) as client:
        assert client.post(f"{server.url}/hooks/csoft", content=receipt("M1")).status_code == 200
        # a phone number where the time should be: the quarantine reason echoes it
        r = client.post(f"{server.url}/hooks/csoft", content=receipt("M2", timestamp=PHONE))
        assert r.status_code == 400 and PHONE in r.text  # the provider is told exactly what was wrong
        assert client.post(f"{server.url}/hooks/nowhere/secret-ish-token", content=b"x").status_code == 404
    server.stop()
    lines = [line for line in server.output().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"ts", "level", "logger", "msg"} <= r.keys() for r in records)
    assert PHONE not in server.output()
    quarantined = [r for r in records if r["msg"].startswith("quarantined")]
    assert len(quarantined) == 1 and "4477009*****" in quarantined[0]["msg"]
    assert quarantined[0]["level"] == "warning" and quarantined[0]["connection"] == "csoft"
    access = [r for r in records if r["logger"] == "smshook.access"]
    assert [(r["connection"], r["outcome"], r["status"]) for r in access] == [
        ("csoft", "accepted", 200), ("csoft", "quarantined", 400), ("-", "not_found", 404)]
    first = access[0]
    assert first["provider"] == "csoft" and first["events"] == 1 and first["duplicates"] == 0
    assert first["latency_ms"] > 0 and first["request_id"] and first["path"] == "/hooks/csoft"
    assert access[1]["request_id"] == quarantined[0]["request_id"]
    assert access[2]["path"] == "/hooks/nowhere/***" and "secret-ish-token" not in server.output()
    assert any("listening on" in r["msg"] for r in records)


def test_text_logs_unmasked_when_configured(server_factory: type[Server], tmp_path: Path) -> None:
    masked = server_factory(env={"SMSHOOK_LOG_LEVEL": "warning"}, database_url=f"sqlite:///{tmp_path}/a.db").start()
    unmasked = server_factory(env={"SMSHOOK_LOG_PHONE_NUMBERS": "true"},
                              database_url=f"sqlite:///{tmp_path}/b.db").start()
    with httpx.Client(timeout=10) as client:
        for server in (masked, unmasked):
            assert client.post(f"{server.url}/hooks/csoft", content=receipt("M2", timestamp=PHONE)).status_code == 400
    for server in (masked, unmasked):
        server.stop()
    assert PHONE not in masked.output() and "4477009*****" in masked.output()
    assert "smshook.access" not in masked.output()  # warning level: no access lines
    line = next(x for x in unmasked.output().splitlines() if "quarantined" in x and "WARNING" in x)
    assert PHONE in line and "connection=csoft" in line
    assert "smshook.access: POST /hooks/csoft 400 quarantined" in unmasked.output()


def test_sigterm_keeps_every_line_to_the_last(server_factory: type[Server]) -> None:
    """Access lines wait for the end of the event loop's turn (logs.StderrHandler); uvicorn re-raises
    SIGTERM once it has shut down, so nothing runs after that: the shutdown's own lines, and the
    access lines before them, must already be out."""
    server = server_factory().start()
    with httpx.Client(timeout=10) as client:
        assert client.post(f"{server.url}/hooks/csoft", content=receipt("T1")).status_code == 200
    server.stop()
    lines = server.output().splitlines()
    assert any("smshook.access: POST /hooks/csoft 200 accepted" in line for line in lines)
    assert "Application shutdown complete." in lines[-2] and "Finished server process" in lines[-1]
