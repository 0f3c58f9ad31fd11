"""The dashboard in a real headless browser (Debian's chromium driven by Playwright) against a real
server with an API token: each page loads, a callback posted while the live feed is open appears,
a message's timeline shows late and conflicting events, a quarantined request is re-processed.
Screenshots of every page are kept in ``$SMSHOOK_ARTIFACTS`` (default ``tests/artifacts/``).

Without chromium these tests fail; ``SMSHOOK_SKIP_BROWSER=1`` skips them (local use only)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smshook.settings import default_providers
from tests.e2e.conftest import Server

TOKEN = "dashboard-test-token-0123456789"
AUTH = {"authorization": f"Bearer {TOKEN}"}
CHROMIUM = os.environ.get("SMSHOOK_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STEP_MS = 10_000  # every browser step (navigation, wait, click) gives up after this long
ARTIFACTS = Path(os.environ.get("SMSHOOK_ARTIFACTS") or Path(__file__).parents[1] / "artifacts")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        if os.environ.get("SMSHOOK_SKIP_BROWSER") == "1":
            pytest.skip(f"no chromium at {CHROMIUM} (SMSHOOK_SKIP_BROWSER=1)")
        pytest.fail(f"no chromium at {CHROMIUM}: install the Debian package `chromium` (scripts/test does), "
                    "or set SMSHOOK_SKIP_BROWSER=1 to skip the browser tests locally")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=30_000)
        yield b
        b.close()


@pytest.fixture
def server(server_factory: type[Server]) -> Server:
    return server_factory(env={"SMSHOOK_API_TOKEN": TOKEN}).start()


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(STEP_MS)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    # API errors are the page's to show (tested below); any other console error is a bug.
    pg.on("console", lambda msg: errors.append(msg.text)
          if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    yield pg
    context.close()
    assert not errors, f"errors in the page: {errors}"


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000
    return path


def login(page: Any, route: str = "#/live") -> None:
    page.goto(f"/{route}")
    page.locator("#token").fill(TOKEN)
    page.get_by_role("button", name="Open dashboard").click()
    page.locator("#login").wait_for(state="hidden")


def csoft(server: Server, message_id: str, report: str, minute: int, to: str = "447700912345") -> None:
    body = (f"Username=NULL&PIN=NULL&SendTo={to}&Timestamp1=2025-07-26T14%3A{minute:02d}%3A00Z"
            f"&MessageIdentifier={message_id}&Report={report}")
    r = httpx.post(f"{server.url}/hooks/csoft", content=body, timeout=10)
    assert r.status_code == 200, r.text


def test_static_files_are_public_data_is_not(server: Server) -> None:
    r = httpx.get(f"{server.url}/", timeout=5)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in r.text  # no inline script
    js = httpx.get(f"{server.url}/dashboard/app.js", timeout=5)
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert httpx.get(f"{server.url}/dashboard/nope.js", timeout=5).status_code == 404
    for path in ("/v1/events", "/v1/stream", "/v1/quarantine", "/v1/subscriptions"):
        assert httpx.get(f"{server.url}{path}", timeout=5).status_code == 401, path


def test_token_prompt_and_live_feed(page: Any, server: Server) -> None:
    page.goto("/")
    page.locator("#login").wait_for(state="visible")
    assert page.locator("#view").is_hidden()
    page.locator("#token").fill("wrong-token-wrong-token")
    page.get_by_role("button", name="Open dashboard").click()
    page.get_by_text("The token was refused").wait_for()
    page.locator("#token").fill(TOKEN)
    page.get_by_role("button", name="Open dashboard").click()
    page.locator(".state.live").wait_for()
    assert page.evaluate("sessionStorage.getItem('smshook.token')") == TOKEN
    page.get_by_text("No events yet").wait_for()
    # The connection picker offers the configured connections (GET /v1/connections), events or not.
    page.wait_for_function(f"document.querySelectorAll('#conns option').length === {len(default_providers())}")
    options = page.eval_on_selector_all("#conns option", "os => os.map(o => o.value)")
    assert sorted(options) == sorted(default_providers())

    csoft(server, "309B9A1A", "0", 11)  # arrives while the page is open
    row = page.locator("table.events tbody tr", has_text="309B9A1A")
    row.wait_for()
    assert "delivered" in row.inner_text() and "csoft" in row.inner_text()
    shot(page, "live")

    # Filters: an inbound-only feed does not show the receipt; a status-only one does.
    page.select_option("select[name=type]", "inbound")
    page.get_by_role("button", name="Filter").click()
    page.locator(".state.live").wait_for()
    page.get_by_text("No events yet").wait_for()
    page.select_option("select[name=type]", "status")
    page.get_by_role("button", name="Filter").click()
    page.locator("table.events tbody tr", has_text="309B9A1A").wait_for()
    csoft(server, "309B9A1B", "-4", 12)
    page.locator("table.events tbody tr", has_text="309B9A1B").wait_for()

    # The token stays for the tab: a reload goes straight to the page.
    page.reload()
    page.locator(".state.live").wait_for()
    assert page.locator("#login").is_hidden()


def test_message_lookup_marks_late_and_conflicting_events(page: Any, server: Server) -> None:
    csoft(server, "77AA0001", "0", 20)   # delivered
    csoft(server, "77AA0001", "-4", 10)  # sent, older and lower: late
    csoft(server, "77AA0001", "27", 30)  # expired: a second, different final status: conflict
    login(page, "#/lookup")
    page.fill("#lookup-message input[name=connection]", "csoft")
    page.fill("#lookup-message input[name=id]", "77AA0001")
    page.get_by_role("button", name="Look up").click()
    items = page.locator("ol.timeline li")
    items.nth(2).wait_for()
    assert items.count() == 3
    assert page.locator(".tl.effect-late .flag-late").count() == 1
    assert page.locator(".tl.effect-conflict .flag-conflict").count() == 1
    assert "delivered" in page.locator(".card.message p").first.inner_text()
    page.get_by_text("CONFLICTING FINALS").wait_for()
    shot(page, "lookup")

    page.fill("#lookup-message input[name=id]", "NOPE0000")
    page.get_by_role("button", name="Look up").click()
    page.get_by_text("no events for message 'NOPE0000'").wait_for()


def test_lookup_by_phone_number(page: Any, server: Server) -> None:
    csoft(server, "88BB0001", "0", 20, to="31612345678")
    csoft(server, "88BB0002", "0", 21, to="447700900001")
    login(page, "#/lookup")
    page.fill("#lookup-phone input[name=phone]", "+31612345678")
    page.get_by_role("button", name="Find events").click()
    page.locator(".result table.events tbody tr", has_text="88BB0001").wait_for()
    assert page.locator(".result table.events tbody tr", has_text="88BB0002").count() == 0
    page.locator(".result a", has_text="88BB0001").click()
    page.locator("ol.timeline li").first.wait_for()


def quarantine_directly(database: Path, body: bytes, reason: str) -> str:
    """A quarantined csoft request as if its mapping had been fixed since (the body is readable now):
    written straight into the server's SQLite file, as another process would."""
    qid = str(uuid.uuid4())
    now = "2026-01-01T00:00:00.000Z"
    with sqlite3.connect(database, timeout=30) as db:
        db.execute("INSERT INTO raw_requests (id, connection, provider, method, path, query, headers, body, client, "
                   "received_at) VALUES (?, 'csoft', 'csoft', 'POST', '/hooks/csoft', '', '[]', ?, '127.0.0.1', ?)",
                   (qid, body, now))
        db.execute("INSERT INTO quarantine (id, digest, connection, provider, reason, http_status, first_seen, "
                   "last_seen, raw_request_id) VALUES (?, ?, 'csoft', 'csoft', ?, 400, ?, ?, ?)",
                   (qid, uuid.uuid4().bytes, reason, now, now, qid))
    return qid


def test_quarantine_reprocess(page: Any, server: Server) -> None:
    r = httpx.post(f"{server.url}/hooks/csoft", content=b"Username=NULL&PIN=NULL&Report=0", timeout=10)
    assert 400 <= r.status_code < 500  # unreadable: kept in quarantine
    fixed = quarantine_directly(server.database, b"Username=NULL&PIN=NULL&SendTo=447700912345&Timestamp1="
                                b"2025-07-26T14%3A11%3A00Z&MessageIdentifier=QQQQ0001&Report=0",
                                "mapping did not know this request (fixed since)")
    login(page, "#/quarantine")
    cards = page.locator(".card.quarantine")
    cards.nth(1).wait_for()
    assert cards.count() == 2
    good = page.locator(f".card.quarantine[data-id='{fixed}']")
    good.locator("summary").click()
    assert "MessageIdentifier=QQQQ0001" in good.locator("pre").inner_text()
    good.get_by_role("button", name="Re-process").click()
    good.get_by_text("Re-processed: 1 new event(s), 0 duplicate(s).").wait_for()
    assert good.get_by_role("button", name="Re-process").is_disabled()
    shot(page, "quarantine")

    bad = page.locator(f".card.quarantine:not([data-id='{fixed}'])")
    bad.get_by_role("button", name="Re-process").click()
    bad.locator(".error").wait_for()  # the 422 answer's error is shown, the button can be tried again
    assert bad.locator(".error").inner_text().startswith("Error: ")
    assert bad.get_by_role("button", name="Re-process").is_enabled()

    events = httpx.get(f"{server.url}/v1/events", params={"message_id": "QQQQ0001"}, headers=AUTH, timeout=5)
    assert len(events.json()["data"]) == 1


def test_connections_page_shows_funnel_and_charts(page: Any, server: Server) -> None:
    sim = subprocess.run([sys.executable, "-m", "smshook", "simulate", "bulkgate", "--url",
                          f"{server.url}/hooks/bulkgate", "--count", "20", "--rate", "200", "--seed", "7"],
                         capture_output=True, text=True, timeout=120)
    assert sim.returncode == 0, sim.stdout + sim.stderr
    login(page, "#/connections")
    card = page.locator(".card.connection[data-connection='bulkgate']")
    card.wait_for()
    assert "sent" in card.locator(".funnel-head").inner_text()
    assert card.locator("svg.bar rect").count() >= 1
    assert card.locator("svg.chart.rate path.line").count() == 1
    assert card.locator("svg.chart.ttd").count() == 1
    shot(page, "connections")
    page.get_by_role("link", name="Last week").click()
    page.locator("nav.tabs a.active", has_text="Last week").wait_for()
    card.wait_for()


def test_subscriptions_page(page: Any, server: Server) -> None:
    login(page, "#/subscriptions")
    page.get_by_text("No subscriptions.").wait_for()
    dead_port = "http://127.0.0.1:9/hook"  # nothing listens: every attempt fails
    r = httpx.post(f"{server.url}/v1/subscriptions", headers=AUTH, timeout=5,
                   json={"id": "crm", "url": dead_port, "secret": "whsec_" + "A" * 32})
    assert r.status_code == 201, r.text
    csoft(server, "SUBS0001", "0", 11)
    row = page.locator("table.subs tr[data-id='crm']")
    for _ in range(STEP_MS // 500):  # wait for the first failed attempt, reloading the page
        page.reload()
        row.wait_for()
        if row.locator("td.last-failure").inner_text() != "—":
            break
        page.wait_for_timeout(500)
    cells = row.locator("td")
    assert cells.nth(1).inner_text() == "failing"  # the current state, in words
    assert cells.nth(2).inner_text() == "1"  # backlog: the event waits for its next attempt
    assert int(cells.nth(4).inner_text()) >= 1  # failures
    assert cells.nth(6).inner_text() == "—"  # last success: none yet
    assert row.locator("td.last-failure .err").inner_text() != ""  # last failure: when, and the error
    assert cells.nth(8).inner_text() != "—"  # next attempt
    shot(page, "subscriptions")


def test_api_errors_are_shown(page: Any, server: Server) -> None:
    login(page, "#/live")
    page.route("**/v1/subscriptions", lambda route: route.fulfill(
        status=503, content_type="application/json", body='{"error": "store unavailable: disk full"}'))
    page.goto("/#/subscriptions")
    page.locator("p.error", has_text="store unavailable: disk full").wait_for()
    page.route("**/v1/stats*", lambda route: route.abort())
    page.goto("/#/connections")
    page.locator("p.error", has_text="cannot reach smshook").wait_for()


def test_without_an_api_token_no_prompt(browser: Any, server_factory: type[Server]) -> None:
    server = server_factory().start()  # no api_token: the API is open (loopback), so is the page
    context = browser.new_context(base_url=server.url)
    context.set_default_timeout(STEP_MS)
    try:
        pg = context.new_page()
        pg.goto("/#/live")
        pg.locator(".state.live").wait_for()
        assert pg.locator("#login").is_hidden() and pg.locator("#logout").is_hidden()
        csoft(server, "OPEN0001", "0", 11)
        pg.locator("table.events tbody tr", has_text="OPEN0001").wait_for()
    finally:
        context.close()


def test_rejected_requests_are_shown(browser: Any, server_factory: type[Server]) -> None:
    """A request whose credentials fail is answered 401, stored nowhere but the rejected log, and
    the Rejected page shows why and against which URL it was checked, secrets masked."""
    conns = {"shop": {"provider": "csoft", "username": "shopuser", "pin": "1234"}}
    srv = server_factory(env={"SMSHOOK_API_TOKEN": TOKEN, "SMSHOOK_CONNECTIONS": json.dumps(conns)}).start()
    r = httpx.post(f"{srv.url}/hooks/shop", content=b"Username=shopuser&PIN=9999&SendTo=447700912345"
                   b"&MessageIdentifier=RJ01&Report=0", timeout=10)
    assert r.status_code == 401
    context = browser.new_context(base_url=srv.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(STEP_MS)
    pg = context.new_page()
    try:
        login(pg, "#/rejected")
        card = pg.locator(".card.rejected")
        card.wait_for()
        assert "Username/PIN do not match" in card.locator(".reason").inner_text()
        assert card.locator("code.url").inner_text().endswith("/hooks/shop")
        card.locator("summary").click()
        raw = card.locator("pre").inner_text()
        assert "PIN=***" in raw and "9999" not in raw and "MessageIdentifier=RJ01" in raw
        shot(pg, "rejected")
    finally:
        context.close()
