"""The dashboard's "Dismiss" button on a quarantined request, in a real headless browser."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import Server, server_factory
from tests.e2e.test_dashboard import AUTH, browser, login, page, server, shot

__all__ = ["browser", "page", "server", "server_factory"]  # fixtures used here


def test_dismiss_a_quarantined_request(page: Any, server: Server) -> None:
    for body in (b"Username=NULL&PIN=NULL&Report=0", b"Username=NULL&PIN=NULL&Report=1&MessageIdentifier="):
        r = httpx.post(f"{server.url}/hooks/csoft", content=body, timeout=10)
        assert 400 <= r.status_code < 500
    listed = httpx.get(f"{server.url}/v1/quarantine", headers=AUTH, timeout=5).json()["data"]
    assert len(listed) == 2, listed
    login(page, "#/quarantine")
    cards = page.locator(".card.quarantine")
    cards.nth(1).wait_for()
    card = cards.first
    qid = card.get_attribute("data-id")
    card.get_by_role("button", name="Dismiss").click()
    card.locator("input[name=who]").fill("ops")
    card.locator("input[name=why]").fill("test traffic from the load balancer")
    card.get_by_role("button", name="Confirm dismissal").click()
    card.get_by_text("Dismissed by ops").wait_for()
    assert card.get_by_role("button", name="Re-process").is_disabled()
    shot(page, "quarantine-dismissed")

    listed = httpx.get(f"{server.url}/v1/quarantine", headers=AUTH, timeout=5).json()["data"]
    assert qid not in [q["id"] for q in listed] and len(listed) == 1
    [gone] = httpx.get(f"{server.url}/v1/quarantine", params={"state": "dismissed"}, headers=AUTH,
                       timeout=5).json()["data"]
    assert gone["id"] == qid and gone["dismissed_by"] == "ops"

    page.reload()
    page.locator(".card.quarantine").first.wait_for()
    assert page.locator(".card.quarantine").count() == 1  # open entries only, by default
    page.get_by_label("show dismissed").check()
    page.locator(f".card.quarantine.dismissed[data-id='{qid}']").get_by_text("Dismissed by ops").wait_for()
