"""The operator's commands against real databases, filled by a real server or by the store itself:
connections, events, tail, status, reprocess, stats, doctor."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from smshook.cli import main
from smshook.errors import InvalidRequest
from smshook.events import Event, finalize, iso, uuid7
from smshook.forwarding.config import SubscriptionSpec
from smshook.forwarding.model import Outcome
from smshook.providers.base import ConnectionInfo, RawRequest
from smshook.providers.csoft import Csoft
from smshook.settings import default_providers
from smshook.storage import RawRecord
from smshook.storage.sqlite import SQLiteStore
from tests.e2e.conftest import Server

pytestmark = pytest.mark.usefixtures("clean_env")

TOKEN = "Tok-abcdefghijklmnop_0123"
API_TOKEN = "api-token-0123456789abcdef"
CONFIG = f"""
api_token = "{API_TOKEN}"

[connections.shop]
provider = "csoft"
token = "{TOKEN}"

[connections.mo]
provider = "spryng"
allow_ips = ["127.0.0.1/32"]
"""
COMMANDS = ["connections", "events", "tail", "status", "reprocess", "stats", "doctor"]


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def receipt(message_id: str, report: str, when: str) -> bytes:
    return (f"Username=NULL&PIN=NULL&SendTo=447700912345&MessageIdentifier={message_id}&Report={report}"
            f"&Timestamp1={when}").encode()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "smshook.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def filled(server_factory: type[Server], config: Path) -> Iterator[tuple[Server, list[str]]]:
    """A real server with receipts (one late, one conflicting) and an inbound message stored."""
    server = server_factory(config=config).start()
    hook = f"{server.url}/hooks/shop/{TOKEN}"
    form = {"content-type": "application/x-www-form-urlencoded"}
    for body in (receipt("A1", "-4", "2026-03-01T12:00:00Z"), receipt("A1", "0", "2026-03-01T12:00:06Z"),
                 receipt("A1", "-4", "2026-03-01T12:00:01Z"), receipt("A1", "27", "2026-03-01T12:00:09Z"),
                 receipt("B2", "3", "2026-03-01T12:00:02Z")):
        assert httpx.post(hook, content=body, headers=form).status_code == 200
    answer = httpx.get(f"{server.url}/hooks/mo", params={"MSISDN": "+31612345678", "KEYWORD": "STOP",
                                                          "OPERATOR": "20408"})
    assert answer.status_code == 200
    yield server, ["--config", str(config), "--database", f"sqlite:///{server.database}"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.stdout and "--json" in result.stdout
    assert command in run("--help").stdout


# -- connections -------------------------------------------------------------------------------------


def test_connections_prints_the_urls_to_paste(config: Path) -> None:
    result = run("connections", "--config", str(config), "--public-url", "https://sms.example.com/")
    assert result.exit_code == 0, result.output
    assert f"https://sms.example.com/hooks/shop/{TOKEN}" in result.stdout
    assert "https://sms.example.com/hooks/mo\n" in result.stdout and "GET/POST" in result.stdout
    data = json.loads(run("connections", "--config", str(config), "--json").stdout)
    assert data["public_url"] == "http://127.0.0.1:8080"
    shop, mo = data["connections"]
    assert shop == {"connection": "shop", "provider": "csoft", "provider_name": "Connection Software",
                    "url": f"http://127.0.0.1:8080/hooks/shop/{TOKEN}", "methods": ["POST"], "authenticated": True,
                    "protection": ["token"], "allow_ips": [], "docs_url": shop["docs_url"],
                    "public_url": None}
    assert mo["protection"] == ["allow_ips"] and mo["allow_ips"] == ["127.0.0.1/32"]
    open_one = run("connections")  # the defaults: one open connection per built-in provider, said so
    assert open_one.stdout.count("UNAUTHENTICATED") == len(default_providers())
    bad = run("connections", "--public-url", "sms.example.com")
    assert bad.exit_code == 2 and "--public-url" in bad.stderr


# -- events, status, stats ---------------------------------------------------------------------------


def test_events_with_filters_and_json(filled: tuple[Server, list[str]]) -> None:
    _, args = filled
    listed = run("events", *args)
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert len(lines) == 7 and "mo" in lines[0] and "optout" in lines[0] and "STOP" in lines[1]  # newest first
    by_phone = run("events", *args, "--phone", "0031612345678", "--type", "inbound", "--json").stdout.splitlines()
    assert [(e["connection"], e["keyword"], e["network"]["operator"]) for e in map(json.loads, by_phone)] == [
        ("mo", "STOP", "KPN Mobile")]
    failed = [json.loads(x) for x in run("events", *args, "--status", "rejected", "--json").stdout.splitlines()]
    assert [(e["message_id"], e["failure_class"]) for e in failed] == [("B2", "permanent")]
    assert len(run("events", *args, "--message", "A1", "--limit", "2").stdout.splitlines()) == 2
    bad = run("events", *args, "--status", "gone")
    assert bad.exit_code == 2 and "--status" in bad.stderr


def test_status_marks_late_and_conflicting_events(filled: tuple[Server, list[str]]) -> None:
    _, args = filled
    result = run("status", *args, "shop", "A1")
    assert result.exit_code == 0, result.output
    head, *timeline = result.stdout.splitlines()
    assert head.startswith("shop A1: delivered (final, CONFLICT")
    assert [line.split()[3] for line in timeline] == ["sent", "delivered", "sent", "expired"]
    assert "LATE" in timeline[2] and "CONFLICT" in timeline[3] and "LATE" not in timeline[1]
    data = json.loads(run("status", *args, "shop", "A1", "--json").stdout)
    assert data["status"] == "delivered" and data["conflict"] is True
    assert sorted(data["effects"].values()) == ["applied", "applied", "conflict", "late"]
    missing = run("status", *args, "shop", "nope")
    assert missing.exit_code == 1 and "no events for message 'nope'" in missing.stderr


def test_stats_by_connection_status_and_class(filled: tuple[Server, list[str]]) -> None:
    _, args = filled
    data = json.loads(run("stats", *args, "--json", "--window", "hour").stdout)
    assert data["window"] == "hour" and data["bucket_seconds"] == 60
    assert [c["connection"] for c in data["connections"]] == ["mo", "shop"] and data["inbound"] == {"mo": 1}
    shop = data["connections"][1]
    assert shop["funnel"] == {"sent": 2, "delivered": 1, "failed": 1, "pending": 0,
                              "failed_by_class": {"permanent": 1}}
    assert shop["median_time_to_delivery_s"] == 6.0 and shop["delivery_rate"] == 0.5
    human = run("stats", *args)
    assert human.exit_code == 0, human.output
    row = next(line for line in human.stdout.splitlines() if line.startswith("shop "))
    assert row.split() == ["shop", "csoft", "2", "1", "1", "0", "50.0%", "6.0", "s"]
    assert "failed by class: permanent 1" in human.stdout and "inbound messages: mo 1" in human.stdout


# -- reprocess ---------------------------------------------------------------------------------------


def test_reprocess_stores_what_a_newer_adapter_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests quarantined by an adapter that rejected csoft's code -3 go through today's adapter."""
    import asyncio

    from smshook.settings import load_settings
    from smshook.web.hooks import connections_from, parse_events

    db = tmp_path / "q.db"
    real = Csoft.parse

    def older(self: Csoft, request: RawRequest, connection: ConnectionInfo) -> list[Any]:
        if b"Report=-3" in request.body:
            raise InvalidRequest("field 'Report': '-3' is not a csoft report code")
        return real(self, request, connection)

    async def quarantine_some() -> list[str]:
        store = SQLiteStore(db)
        await store.open()
        shop = connections_from(load_settings())["csoft"]
        ids = []
        monkeypatch.setattr(Csoft, "parse", older)
        for body in (receipt("P1", "-3", "2026-03-01T12:00:00Z"), receipt("P2", "-3", "2026-03-01T12:00:00Z"),
                     b"Username=NULL&PIN=NULL&MessageIdentifier=P3&Report=OK"):
            request = RawRequest("POST", "/hooks/csoft", b"", (), body, "127.0.0.1")
            record = RawRecord(uuid7(), "csoft", "csoft", "POST", "/hooks/csoft", "", (), body, "127.0.0.1",
                               iso(datetime.now(UTC)) or "")
            with pytest.raises(InvalidRequest) as refused:
                parse_events(shop, request, datetime.now(UTC))
            ids.append(await store.quarantine(record, refused.value.message, 400))
        monkeypatch.setattr(Csoft, "parse", real)
        await store.close()
        return ids

    p1, p2, p3 = asyncio.run(quarantine_some())
    database = ["--database", f"sqlite:///{db}"]
    one = run("reprocess", *database, p1)
    assert one.exit_code == 0, one.output
    assert one.stdout.splitlines() == [f"{p1}: re-processed, 1 new event(s), 0 duplicate(s)", "1 of 1 re-processed"]
    rest = run("reprocess", *database, "--all", "--json")
    assert rest.exit_code == 1  # one is still unreadable
    results = [json.loads(line) for line in rest.stdout.splitlines()]
    assert [(r["id"], r["reprocessed"]) for r in results] == [(p2, True), (p3, False)]
    assert results[1]["status"] == 422 and "'OK' is not a csoft report code" in results[1]["error"]
    events = [json.loads(x) for x in run("events", *database, "--json").stdout.splitlines()]
    assert sorted((e["message_id"], e["status"]) for e in events) == [("P1", "pending"), ("P2", "pending")]
    again = run("reprocess", *database, p1)
    assert again.exit_code == 1 and "already" in again.stdout
    assert run("reprocess", *database).exit_code == 2


# -- tail --------------------------------------------------------------------------------------------


def start_tail(server: Server, *args: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "smshook", "tail", "--database", f"sqlite:///{server.database}", "--interval", "0.1",
         *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=server.workdir,
        env={k: v for k, v in os.environ.items() if not k.startswith("SMSHOOK_")})
    assert process.stderr is not None
    assert process.stderr.readline().startswith("following new events"), "tail did not start"
    return process


def test_tail_follows_a_live_server(filled: tuple[Server, list[str]]) -> None:
    server, _ = filled
    tail = start_tail(server, "--json", "--max-events", "4", "--timeout", "60", "--lines", "1",
                      "--connection", "shop")
    hook = f"{server.url}/hooks/shop/{TOKEN}"
    for i in range(3):  # written while tail polls, by another process
        answer = httpx.post(hook, content=receipt(f"L{i}", "0", "2026-03-01T13:00:00Z"),
                            headers={"content-type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 200
    httpx.get(f"{server.url}/hooks/mo", params={"MSISDN": "1", "KEYWORD": "X"})  # another connection: left out
    out, err = tail.communicate(timeout=60)
    assert tail.returncode == 0, err
    got = [json.loads(line) for line in out.splitlines()]
    assert [e["message_id"] for e in got] == ["B2", "L0", "L1", "L2"]  # the last one stored, then the new ones


def test_tail_stops_cleanly_on_ctrl_c_and_on_timeout(server: Server) -> None:
    tail = start_tail(server)
    tail.send_signal(signal.SIGINT)
    out, err = tail.communicate(timeout=30)
    assert tail.returncode == 0 and "Traceback" not in err and out == ""
    started = time.monotonic()
    quiet = start_tail(server, "--timeout", "0.5")
    assert quiet.wait(30) == 0 and time.monotonic() - started < 20


# -- doctor ------------------------------------------------------------------------------------------


def doctor(*args: str) -> tuple[int, dict[str, list[tuple[str, str]]]]:
    result = run("doctor", *args, "--json")
    data = json.loads(result.stdout)
    assert data["ok"] == (result.exit_code == 0)
    found: dict[str, list[tuple[str, str]]] = {}
    for check in data["checks"]:
        found.setdefault(check["check"], []).append((check["level"], check["detail"]))
    return result.exit_code, found


def test_doctor_passes_a_protected_setup(filled: tuple[Server, list[str]]) -> None:
    server, args = filled
    for path in server.workdir.glob("smshook.db*"):
        path.chmod(0o600)
    code, found = doctor(*args)
    assert code == 0, found
    assert {level for checks in found.values() for level, _ in checks} == {"ok"}
    assert set(found) >= {"configuration", "api_token", "endpoint", "database directory", "database permissions",
                          "store", "quarantine"}
    human = run("doctor", *args)
    assert human.exit_code == 0 and human.stdout.endswith("no problems found\n")


def test_doctor_finds_problems(tmp_path: Path) -> None:
    config = tmp_path / "open.toml"
    config.write_text('host = "0.0.0.0"\ninsecure = true\n[connections.shop]\nprovider = "csoft"\n')
    db = tmp_path / "data" / "smshook.db"

    async def prepare() -> None:
        store = SQLiteStore(db)
        await store.open()
        sub = SubscriptionSpec.model_validate({"url": "http://127.0.0.1:9/hook"}).build("crm", "api")
        await store.put_subscription(sub)
        event = finalize([Event(type="status", message_id="m", status="delivered")], "shop", "csoft",
                         datetime.now(UTC))
        await store.append(RawRecord(uuid7(), "shop", "csoft", "POST", "/hooks/shop", "", (), b"x", None,
                                     iso(datetime.now(UTC)) or ""), event)
        [claimed] = await store.claim_deliveries("me", time.time(), 30, 10)
        assert await store.record_attempt(claimed.id, "me", Outcome("dead", time.time(), error="HTTP 500"))
        await store.close()

    import asyncio

    asyncio.run(prepare())
    db.chmod(0o666)
    code, found = doctor("--config", str(config), "--database", f"sqlite:///{db}")
    assert code == 1
    assert found["api_token"][0][0] == "fail" and "0.0.0.0" in found["api_token"][0][1]
    assert found["endpoint"] == [("fail", found["endpoint"][0][1])] and "/hooks/shop" in found["endpoint"][0][1]
    assert ("fail", f"{db} is writable by every user (mode 666): chmod 600") in found["database permissions"]
    [(level, detail)] = found["forwarding"]
    assert level == "fail" and "'crm': 1 dead-lettered delivery (last error: HTTP 500)" in detail

    # A schema older than this smshook: reported, not migrated behind the operator's back.
    db.chmod(0o600)
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM smshook_migrations WHERE version = (SELECT max(version) FROM smshook_migrations)")
    code, found = doctor("--database", f"sqlite:///{db}")
    assert code == 1 and found["store"][0][0] == "fail" and "smshook migrate" in found["store"][0][1]

    broken = tmp_path / "broken.toml"
    broken.write_text('[connections.shop]\nprovider = "nosuch"\n')
    code, found = doctor("--config", str(broken))
    assert code == 1 and "connections.shop" in found["configuration"][0][1]
    missing = doctor("--database", f"sqlite:///{tmp_path / 'new' / 'x.db'}")
    assert missing[0] == 1 and "does not exist" in missing[1]["database directory"][0][1]


def test_connections_print_a_signing_connections_public_url(tmp_path: Path) -> None:
    """A connection's public_url is the URL to paste (and what signatures are checked against); its
    secret is never printed; its protection is the provider's signature."""
    secret = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
    config = tmp_path / "signed.toml"
    config.write_text('[connections.tw]\nprovider = "twilio"\n'
                      f'auth_token = "{secret}"\npublic_url = "https://sms.example.com/prefix/hooks/tw"\n')
    result = run("connections", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert "https://sms.example.com/prefix/hooks/tw  (public_url: signatures are checked against it)" in result.stdout
    assert "GET/POST; signature)" in result.stdout and secret not in result.output
    [row] = json.loads(run("connections", "--config", str(config), "--json").stdout)["connections"]
    assert row["public_url"] == row["url"] == "https://sms.example.com/prefix/hooks/tw"
    assert row["protection"] == ["signature"] and row["authenticated"] is True
    checked = run("config", "check", "--config", str(config))
    assert checked.exit_code == 0 and secret not in checked.output and 'auth_token = "***"' in checked.stdout
