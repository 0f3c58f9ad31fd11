"""The dashboard's message-lifecycle pages (issue 15) in a real browser against a real server: the
lookup shows a registered message's reference, parts and time to final; the Stuck page lists a
message expired for lack of a final receipt; the Opt-outs page lists a STOP. And the time-to-delivery
chart of simulated BulkGate traffic has a real spread (issue 16, defect 2)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from smshook.lifecycle.options import LifecycleOptions
from smshook.lifecycle.stuck import sweep_once
from smshook.storage.sqlite import SQLiteStore
from tests.e2e.conftest import Server
from tests.e2e.test_dashboard import AUTH, browser, csoft, login, page, server, shot

__all__ = ["browser", "page", "server"]


def register(server: Server, body: dict[str, Any]) -> None:
    r = httpx.post(f"{server.url}/v1/messages", json=body, headers=AUTH, timeout=10)
    assert r.status_code == 201, r.text


def test_lookup_shows_reference_parts_and_time_to_final(page: Any, server: Server) -> None:
    register(server, {"connection": "csoft", "message_id": "LC000001", "to": "+447700912345",
                      "reference": "order-42", "parts": ["LC000001", "LC000002"], "sent_at": "2025-07-26T14:05:00Z",
                      "metadata": {"customer": "c-7"}})
    csoft(server, "LC000002", "0", 12)  # the second part first
    csoft(server, "LC000001", "0", 9)
    login(page, "#/lookup/reference/order-42")
    page.locator(".result a", has_text="LC000001").click()
    panel = page.locator(".registration")
    panel.wait_for()
    text = panel.inner_text()
    assert "order-42" in text and "c-7" in text and "7.0 min" in text  # 14:05 to the last part at 14:12
    assert page.locator("table.parts tbody tr").count() == 2
    assert page.locator("ol.timeline li").count() == 2
    shot(page, "lookup-registered")


def test_stuck_and_optouts_pages(page: Any, server: Server) -> None:
    register(server, {"connection": "csoft", "message_id": "ST000001", "to": "+447700912345",
                      "reference": "order-stuck", "sent_at": "2020-01-01T00:00:00Z"})

    async def sweep() -> int:  # what the server's sweeper does every minute, from another process
        store = SQLiteStore(server.database)
        await store.open()
        try:
            return await sweep_once(store, {"csoft": ("csoft", LifecycleOptions())})
        finally:
            await store.close()

    with ThreadPoolExecutor(1) as pool:  # Playwright's own event loop runs in this thread
        assert pool.submit(lambda: asyncio.run(sweep())).result(timeout=60) == 1
    r = httpx.post(f"{server.url}/hooks/csoft", content=b"SendTo=447700900100&ReplyTo=%2B447700900555&Message=STOP",
                   timeout=10)
    assert r.status_code == 200
    login(page, "#/stuck")
    row = page.locator("table.stuck tbody tr", has_text="ST000001")
    row.wait_for()
    assert "order-stuck" in row.inner_text()
    shot(page, "stuck")
    page.get_by_role("link", name="Opt-outs").click()
    optout = page.locator("table.optouts tbody tr", has_text="+447700900555")
    optout.wait_for()
    assert "STOP" in optout.inner_text() and "opted out" in optout.inner_text()
    shot(page, "optouts")
    page.fill("#optout-check input[name=phone]", "0044 7700 900555")
    page.get_by_role("button", name="Check").click()
    page.locator("table.optouts tbody tr", has_text="447700900100").wait_for()


def test_time_to_delivery_chart_has_a_real_spread(page: Any, server: Server) -> None:
    sim = subprocess.run([sys.executable, "-m", "smshook", "simulate", "bulkgate", "--url",
                          f"{server.url}/hooks/bulkgate", "--count", "40", "--rate", "200", "--seed", "11"],
                         capture_output=True, text=True, timeout=120)
    assert sim.returncode == 0, sim.stdout + sim.stderr
    stats = httpx.get(f"{server.url}/v1/stats", params={"window": "hour", "connection": "bulkgate"}, headers=AUTH,
                      timeout=10).json()["connections"][0]
    median, p90 = stats["median_time_to_delivery_s"], stats["p90_time_to_delivery_s"]
    assert median is not None and median > 0 and p90 >= median, stats  # not flat at zero
    login(page, "#/connections?window=hour")
    card = page.locator(".card.connection[data-connection='bulkgate']")
    card.wait_for()
    assert card.locator("svg.chart.ttd path.line").count() == 1
    kpis = card.locator(".kpis").inner_text()
    assert "median time to delivery" in kpis and "p90 time to delivery" in kpis and "0.0 s" not in kpis
    shot(page, "connections-ttd")
