"""End to end on PostgreSQL: `smshook serve --database postgresql://…` on a throwaway cluster, the
README's curl examples run as written (bash + curl) against it, read back from the API, and every
event delivered to a webhook subscription, signed."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.e2e.conftest import Server, all_events
from tests.forwarding.conftest import SECRET, Receiver, receiver  # noqa: F401  (fixture)

README = Path(__file__).parents[2] / "README.md"


def readme_curl_blocks() -> list[tuple[str, list[str]]]:
    """The ```sh blocks of "Try it with curl" that post callbacks: (script, expected answers)."""
    section = README.read_text().split("## Try it with curl", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    out = []
    for block in blocks:
        if "/hooks/" not in block:
            continue
        expected = [line[2:].strip() for line in block.splitlines() if line.startswith("# ")]
        out.append((block, expected))
    return out


def run_block(script: str, base: str) -> str:
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script.replace("http://127.0.0.1:8080", base)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_readme_examples_on_postgresql_with_forwarding(server_factory: type[Server],
                                                       receiver: Receiver,  # noqa: F811
                                                       postgres_database: str, tmp_path: Path) -> None:
    config = tmp_path / "smshook.toml"
    config.write_text(f"""
forwarding_schedule = [0, 0.2, 0.2]
forwarding_jitter = 0
forwarding_poll_interval = 0.05

[subscriptions.everything]
url = "{receiver.url}/ok"
secret = "{SECRET}"
""")
    server = server_factory(config=config, database_url=postgres_database).start()
    blocks = readme_curl_blocks()
    assert len(blocks) == 7, "one curl block per built-in provider in the README (SNS needs AWS's signature)"
    for script, expected in blocks:
        answer = run_block(script, server.url)
        for want in expected:
            assert want in answer, (script, answer)

    with httpx.Client(timeout=10) as client:
        events = all_events(client, server.url)
        providers = {e["provider"] for e in events}
        assert providers == {"csoft", "cdyne", "webcom", "spryng", "bulkgate", "kannel", "jasmin"}
        assert len({e["id"] for e in events}) == len(events) >= 13
        message = client.get(f"{server.url}/v1/messages/webcom/3235").json()
        assert message["connection"] == "webcom" and message["events"]
        assert client.get(f"{server.url}/v1/messages/csoft/309B9A1A").json()["status"] == "delivered"
        # PostgreSQL text holds no NUL: a %00 in a query is a clear answer, not "store unavailable".
        assert client.get(f"{server.url}/v1/events", params={"message_id": "a\x00"}).json()["data"] == []
        assert client.get(f"{server.url}/v1/messages/csoft/a%00").status_code == 404

        # Posting the examples again is a retry: answered the same, stored once.
        for script, expected in blocks:
            answer = run_block(script, server.url)
            assert all(want in answer for want in expected)
        assert len(all_events(client, server.url)) == len(events)

        # Every event reached the subscription exactly once, signed, with its own webhook-id.
        rows = receiver.wait_for(lambda rows: len(rows) >= len(events), timeout=20)
        time.sleep(0.3)
        rows = receiver.requests()
        delivered = [Webhook(SECRET).verify(r["body"], r["headers"]) for r in rows]
        assert sorted(d["data"]["id"] for d in delivered) == sorted(e["id"] for e in events)
        deliveries = client.get(f"{server.url}/v1/deliveries", params={"limit": 500}).json()["data"]
        assert len(deliveries) == len(events) and {d["state"] for d in deliveries} == {"delivered"}

    # The data is in PostgreSQL, not in a local file: a second server on the same database sees it.
    server.stop()
    assert not server.database.exists()
    again = server_factory(database_url=postgres_database).start()
    with httpx.Client(timeout=10) as client:
        assert len(all_events(client, again.url)) == len(events)


def test_serve_migrates_at_start_unless_told_not_to(server_factory: type[Server], postgres_database: str,
                                                    tmp_path: Path) -> None:
    from tests.storage.test_migrations import old_database_url
    from tests.storage.test_store import status

    for backend in ("sqlite", "postgresql"):
        url = old_database_url(backend, postgres_database, tmp_path, [status("m1", "sent")])
        with pytest.raises(RuntimeError, match=r"not up to date \(pending: 0002_forwarding\.sql.*smshook migrate"):
            server_factory(database_url=url, args=["--no-migrate"]).start()
        server = server_factory(database_url=url).start()  # auto_migrate: upgraded, data kept
        with httpx.Client(timeout=10) as client:
            assert [e["message_id"] for e in all_events(client, server.url)] == ["m1"]
            assert client.get(f"{server.url}/v1/subscriptions").json()["data"] == []
        server.stop()
