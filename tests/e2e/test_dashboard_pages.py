"""Every dashboard page in headless Chromium at desktop and phone widths, with screenshots kept as
artifacts and an accessibility check by axe-core (no serious or critical violations); and the
operator's actions: pause/resume a subscription, replay its dead letters, its deliveries, pages
beyond the first, date ranges and CSV/NDJSON downloads.

axe-core comes from the npm registry, pinned (``AXE_VERSION``), installed once into a cache folder
outside the repository and injected into each page at run time (the page's CSP allows only its own
scripts, so the checking context bypasses CSP; the server's own pages are unchanged)."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smshook.settings import default_providers
from tests.e2e.conftest import Server
from tests.e2e.test_dashboard import ARTIFACTS, AUTH, STEP_MS, TOKEN, browser, csoft, login
from tests.forwarding.conftest import Receiver, receiver

__all__ = ["browser", "receiver"]

AXE_VERSION = "4.14.1"
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's browser build, from npm at the pinned version (cached between runs)."""
    home = Path(os.environ.get("SMSHOOK_AXE_CACHE") or Path(tempfile.gettempdir()) / f"smshook-axe-{AXE_VERSION}")
    script = home / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is needed to install axe-core for the accessibility check (Debian package `npm`)")
        home.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(home),
                               f"axe-core@{AXE_VERSION}"], capture_output=True, text=True, timeout=240)
        assert done.returncode == 0 and script.exists(), done.stdout + done.stderr
    version = json.loads((script.parent / "package.json").read_text())["version"]
    assert version == AXE_VERSION
    return script.read_text()


@pytest.fixture
def server(server_factory: type[Server], tmp_path: Path) -> Server:
    config = tmp_path / "smshook.toml"
    config.write_text('forwarding_schedule = [0]\nforwarding_poll_interval = 0.1\n'
                      '[subscriptions.crm]\nurl = "http://127.0.0.1:9/hook?key=s3cr3t"\n'
                      # the default connections (one open connection per provider) and one whose
                      # credentials a request can fail, for the Rejected page
                      + "".join(f'[connections.{slug}]\nprovider = "{slug}"\n' for slug in default_providers())
                      + '[connections.shop]\nprovider = "csoft"\nusername = "shopuser"\npin = "1234"\n')
    return server_factory(config=config, env={"SMSHOOK_API_TOKEN": TOKEN}).start()


def open_page(browser: Any, server: Server, viewport: dict[str, int], errors: list[str]) -> Any:
    context = browser.new_context(base_url=server.url, viewport=viewport, bypass_csp=True, accept_downloads=True)
    context.set_default_timeout(STEP_MS)
    pg = context.new_page()
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: errors.append(msg.text)
          if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    return pg


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    errors: list[str] = []
    pg = open_page(browser, server, WIDTHS["desktop"], errors)
    yield pg
    pg.context.close()
    assert not errors, f"errors in the page: {errors}"


def accessibility(page: Any, axe: str, name: str) -> list[str]:
    """axe-core's WCAG 2.x A/AA rules (and best practices) on the page as shown: its serious and
    critical violations (all of them are kept in the artifacts as JSON)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe)
    result = page.evaluate("""() => axe.run(document, {runOnly: {type: 'tag',
        values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}, resultTypes: ['violations']})""")
    bad = [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
           for v in result["violations"] if v["impact"] in ("serious", "critical")]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"axe-{name}.json").write_text(json.dumps(result["violations"], indent=1))
    return [f"{name}: {line}" for line in bad]


def seed(server: Server) -> None:
    """Something on every page: receipts, an inbound message to a short code, a quarantined request
    whose body has one invalid byte, and a failing subscription (its deliveries die at once)."""
    csoft(server, "PAGE0001", "0", 11)
    csoft(server, "PAGE0001", "-4", 10)
    r = httpx.get(f"{server.url}/hooks/spryng", params={
        "MSISDN": "+491123456789", "KEYWORD": "WIN", "PARM": "ON", "OPERATOR": "26201", "TIMESTAMP": "20040208152544",
        "SHORTCODE": "4414", "COUNTRY": "DEU"}, timeout=10)
    assert r.status_code == 200, r.text
    r = httpx.post(f"{server.url}/hooks/webcom", content=b'[{"id_sms":"1","state":"deliv\xffer"}]', timeout=10)
    assert 400 <= r.status_code < 500
    r = httpx.post(f"{server.url}/hooks/shop", content=b"Username=shopuser&PIN=9999&SendTo=447700912345"
                   b"&MessageIdentifier=RJ01&Report=0", timeout=10)
    assert r.status_code == 401, r.text


def wait_dead(server: Server, count: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        rows = httpx.get(f"{server.url}/v1/deliveries", params={"state": "dead"}, headers=AUTH, timeout=5).json()
        if len(rows["data"]) >= count:
            return
        time.sleep(0.1)
    raise AssertionError("deliveries were not dead-lettered")


PAGES = {
    "live": ("#/live", "table.events tbody tr"),
    "connections": ("#/connections", ".card.connection"),
    "lookup-message": ("#/lookup/message/csoft/PAGE0001", "ol.timeline li"),
    "lookup-phone": ("#/lookup/phone/447700912345", ".result table.events tbody tr"),
    "quarantine": ("#/quarantine", ".card.quarantine"),
    "rejected": ("#/rejected", ".card.rejected"),
    "subscriptions": ("#/subscriptions", "table.subs tbody tr"),
    "deliveries": ("#/subscriptions/crm", "table.deliveries tbody tr"),
}


@pytest.mark.parametrize("width", list(WIDTHS))
def test_every_page_at_desktop_and_phone_width_is_accessible(browser: Any, server: Server, axe_source: str,
                                                             width: str) -> None:
    seed(server)
    wait_dead(server, 3)
    errors: list[str] = []
    violations: list[str] = []
    pg = open_page(browser, server, WIDTHS[width], errors)
    try:
        login(pg)
        for name, (route, ready) in PAGES.items():
            pg.goto(f"/{route}")
            pg.locator(ready).first.wait_for()
            assert "null" not in pg.locator("#view").inner_text().split(), f"{name}: a literal null on the page"
            pg.screenshot(path=str(ARTIFACTS / f"dashboard-{name}-{width}.png"), full_page=True)
            violations += accessibility(pg, axe_source, f"{name}-{width}")
        pg.goto("/")  # the token prompt too
        pg.get_by_role("button", name="Forget token").click()
        pg.locator("#login").wait_for()
        pg.screenshot(path=str(ARTIFACTS / f"dashboard-login-{width}.png"), full_page=True)
        violations += accessibility(pg, axe_source, f"login-{width}")
    finally:
        pg.context.close()
    assert not errors, f"errors in the page: {errors}"
    assert not violations, "serious or critical accessibility violations:\n" + "\n".join(violations)


def test_connections_page_without_inbound_messages_prints_no_null(page: Any, server: Server) -> None:
    csoft(server, "NULL0001", "0", 11)  # receipts only: no inbound message in the window
    login(page, "#/connections")
    page.locator(".card.connection[data-connection='csoft']").wait_for()
    page.wait_for_timeout(200)
    assert "null" not in page.locator("#view").inner_text()


def test_short_codes_and_dates_in_the_live_feed(page: Any, server: Server) -> None:
    seed(server)
    login(page, "#/live")
    row = page.locator("table.events tbody tr", has_text="spryng")
    row.wait_for()
    assert "+491123456789 → 4414" in row.inner_text()  # a short code is no international number
    year = str(time.gmtime().tm_year)
    when = row.locator("td").first.inner_text()
    assert year in when, f"the time {when!r} has no date"


def test_quarantined_body_with_an_invalid_byte_is_shown_as_text(page: Any, server: Server) -> None:
    seed(server)
    login(page, "#/quarantine")
    card = page.locator(".card.quarantine", has_text="webcom")
    card.wait_for()
    assert "byte 0xff at offset 29" in card.locator(".reason").inner_text()  # the byte is named, not "surrogates"
    card.locator("summary").first.click()
    assert '"state":"deliv\\xffer"' in card.locator("pre").inner_text()
    b64 = card.locator("code.b64")
    assert b64.is_hidden()
    card.locator("details.b64 summary").click()
    assert base64.b64decode(b64.inner_text()) == b'[{"id_sms":"1","state":"deliv\xffer"}]'


def test_subscription_pause_resume_replay_and_deliveries(page: Any, server: Server) -> None:
    csoft(server, "SUBS0001", "0", 11)
    csoft(server, "SUBS0002", "0", 12)
    wait_dead(server, 2)
    login(page, "#/subscriptions")
    row = page.locator("table.subs tr[data-id='crm']")
    row.wait_for()
    assert row.locator("td.state-cell").inner_text() == "failing"
    assert row.locator("td.last-success").inner_text() == "—"
    assert row.locator("td.last-failure").inner_text() != "—"
    row.get_by_role("button", name="Pause").click()
    page.locator("table.subs tr[data-id='crm'] td.state-cell", has_text="paused").wait_for()
    assert httpx.get(f"{server.url}/v1/subscriptions/crm", headers=AUTH, timeout=5).json()["enabled"] is False
    row.get_by_role("button", name="Replay 2 dead").click()
    page.locator("table.subs tr[data-id='crm'] td", has_text="2").first.wait_for()
    # Paused: the replayed deliveries wait, and say why.
    row.get_by_role("link", name="Deliveries").click()
    waiting = page.locator("table.deliveries tbody tr")
    waiting.nth(1).wait_for()
    assert waiting.count() == 2
    assert "waits subscription paused" in waiting.first.locator("td.next").inner_text()
    # the earlier try stays counted
    assert waiting.first.locator("td").nth(3).inner_text() == "1 (0 since the last of 1 replay)"
    shot = ARTIFACTS / "dashboard-deliveries-paused.png"
    page.screenshot(path=str(shot), full_page=True)
    page.goto("/#/subscriptions")
    page.locator("table.subs tr[data-id='crm']").get_by_role("button", name="Resume").click()
    page.locator("table.subs tr[data-id='crm'] td.state-cell", has_text="paused").wait_for(state="detached")
    assert httpx.get(f"{server.url}/v1/subscriptions/crm", headers=AUTH, timeout=5).json()["enabled"] is True
    wait_dead(server, 2)
    page.goto("/#/subscriptions/crm?state=dead")
    page.locator("table.deliveries tbody tr").nth(1).wait_for()
    assert "2 (1 since the last of 1 replay)" in page.locator("table.deliveries tbody").inner_text()


def write_events(database: Path, count: int) -> None:
    """``count`` csoft receipts a minute apart, straight into the server's SQLite file (as another
    process would), received 2026-01-01 00:00 onwards."""
    with sqlite3.connect(database, timeout=30) as db:
        columns = [r[1] for r in db.execute("PRAGMA table_info(events)")]
        raw_id = "00000000-0000-7000-8000-000000000000"
        db.execute("INSERT INTO raw_requests (id, connection, provider, method, path, query, headers, body, client, "
                   "received_at) VALUES (?, 'csoft', 'csoft', 'POST', '/hooks/csoft', '', '[]', x'', NULL, ?)",
                   (raw_id, "2026-01-01T00:00:00.000Z"))
        for i in range(count):
            row = {"id": f"01900000-0000-7000-8000-{i:012d}", "type": "status", "connection": "csoft",
                   "provider": "csoft", "message_id": f"BULK{i:04d}", "status": "delivered", "provider_status": "0",
                   "channel": "sms", "recipient": "31699999999", "details": "{}", "key": os.urandom(16),
                   "received_at": f"2026-01-01T{i // 60:02d}:{i % 60:02d}:00Z", "raw_request_id": raw_id}
            row = {k: v for k, v in row.items() if k in columns}
            db.execute(f"INSERT INTO events ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                       list(row.values()))


def test_pages_beyond_the_first_date_ranges_and_downloads(page: Any, server: Server) -> None:
    write_events(server.database, 130)
    login(page, "#/lookup/phone/31699999999")
    rows = page.locator(".result table.events tbody tr")
    rows.nth(99).wait_for()
    assert rows.count() == 100
    page.get_by_role("button", name="Load more").click()
    rows.nth(129).wait_for()
    assert rows.count() == 130 and page.get_by_role("button", name="Load more").is_hidden()

    # A date range (01:00 to 01:05 UTC), given in the form in the browser's own time.
    page.goto("/#/lookup/phone/31699999999?since=2026-01-01T01:00:00.000Z&until=2026-01-01T01:05:00.000Z")
    page.wait_for_function("document.querySelectorAll('.result table.events tbody tr').length === 5")
    assert rows.count() == 5
    since = page.locator("#lookup-phone input[name=since]").input_value()
    assert since.startswith("2026-01-01T") or since.startswith("2025-12-31T")

    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV").click()
    table = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text())))
    assert sorted(r["message_id"] for r in table) == [f"BULK{i:04d}" for i in range(60, 65)]
    with page.expect_download() as info:
        page.get_by_role("button", name="Download NDJSON").click()
    lines = Path(info.value.path()).read_text().splitlines()
    assert len(lines) == 5 and all(json.loads(x)["to"] == "31699999999" for x in lines)

    # The live feed: 50 at first, then older pages; a closed range is not followed live.
    page.goto("/#/live?until=2026-01-01T02:00:00.000Z")
    live = page.locator("table.events tbody tr")
    live.nth(49).wait_for()
    assert live.count() == 50
    page.get_by_role("button", name="Load more").click()
    live.nth(99).wait_for()
    page.get_by_text("date range: not following new events").wait_for()


def test_message_timeline_download(page: Any, server: Server) -> None:
    csoft(server, "DOWN0001", "-4", 10)
    csoft(server, "DOWN0001", "0", 11)
    login(page, "#/lookup/message/csoft/DOWN0001")
    page.locator("ol.timeline li").nth(1).wait_for()
    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV").click()
    table = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text())))
    assert [r["status"] for r in table] == ["sent", "delivered"]


def test_a_failure_followed_by_a_success_is_not_shown_as_failing(page: Any, server: Server,
                                                                   receiver: Receiver) -> None:
    r = httpx.post(f"{server.url}/v1/subscriptions", headers=AUTH, timeout=5,
                   json={"id": "flaky", "url": f"{receiver.url}/fail/1"})  # the first request fails
    assert r.status_code == 201, r.text
    csoft(server, "FLAK0001", "0", 11)
    wait_dead(server, 2)  # crm's and flaky's first (only) attempts failed
    assert httpx.post(f"{server.url}/v1/replay", headers=AUTH, timeout=5,
                      json={"subscription_id": "flaky", "states": ["dead"]}).json() == {"replayed": 1}
    receiver.wait_for(lambda rows: len(rows) >= 2)
    login(page, "#/subscriptions")
    row = page.locator("table.subs tr[data-id='flaky']")
    for _ in range(STEP_MS // 250):
        row.wait_for()
        if row.locator("td.last-success").inner_text() != "—":
            break
        page.wait_for_timeout(250)
        page.reload()
    assert row.locator("td.state-cell").inner_text() == "healthy"  # not the old error in red
    assert row.locator("td.last-success").inner_text() != "—"
    assert "HTTP 500" in row.locator("td.last-failure").inner_text()  # still shown, with its time
    assert page.locator("table.subs tr[data-id='crm'] td.state-cell").inner_text() == "failing"
