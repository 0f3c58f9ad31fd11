"""/metrics in-process: who may read it, the store-failure outcome, one registry per app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from smshook.app import SmshookApp
from smshook.settings import load_settings
from smshook.storage.sqlite import SQLiteStore
from tests.web.test_hooks import CSOFT, BrokenStore

API = "api-token-0123456789"
METRICS = "metrics-token-0123456789"


def client(app: SmshookApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t")


def sample(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    raise AssertionError(f"no sample {name} {labels}")


@pytest.mark.parametrize(("settings", "allowed", "refused"), [
    ({}, [None], []),
    ({"api_token": API}, [API], [None, METRICS]),
    ({"metrics_token": METRICS}, [METRICS], [None, API]),
    ({"api_token": API, "metrics_token": METRICS}, [API, METRICS], [None, "wrong-token-0123456789"]),
    ({"api_token": API, "metrics_public": True}, [None, "anything"], []),
])
async def test_who_may_read_metrics(clean_env: None, store: SQLiteStore, settings: dict[str, Any],
                                    allowed: list[str | None], refused: list[str | None]) -> None:
    async with client(SmshookApp(load_settings(**settings), store)) as c:
        for token in allowed + refused:
            headers = {"authorization": f"Bearer {token}"} if token else {}
            r = await c.get("/metrics", headers=headers)
            if token in allowed:
                assert r.status_code == 200 and "smshook_hook_requests_total" in r.text
            else:
                assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
                assert "metrics_token" in r.json()["error"]
        head = await c.head("/metrics", headers={"authorization": f"Bearer {allowed[0]}"} if allowed[0] else {})
        assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) > 0


async def test_store_failure_is_counted_and_apps_do_not_share_counters(clean_env: None, tmp_path: Path,
                                                                       store: SQLiteStore) -> None:
    broken = BrokenStore(tmp_path / "broken.db")
    await broken.open()
    try:
        failing, working = SmshookApp(load_settings(), broken), SmshookApp(load_settings(), store)
        async with client(failing) as c, client(working) as w:
            assert (await c.post("/hooks/csoft", content=CSOFT)).status_code == 503
            assert (await c.post("/hooks/bulkgate", content=b"not json")).status_code == 503  # quarantine failed
            assert (await w.post("/hooks/csoft", content=CSOFT)).status_code == 200
            bad, good = (await c.get("/metrics")).text, (await w.get("/metrics")).text
    finally:
        await broken.close()
    name = "smshook_hook_requests_total"
    assert sample(bad, name, connection="csoft", outcome="store_unavailable") == 1
    assert sample(bad, name, connection="bulkgate", outcome="store_unavailable") == 1
    assert sample(bad, name, connection="csoft", outcome="accepted") == 0
    assert sample(bad, "smshook_quarantined_total", connection="bulkgate", reason="invalid_request") == 0
    assert sample(good, name, connection="csoft", outcome="accepted") == 1
    assert sample(good, name, connection="csoft", outcome="store_unavailable") == 0
    assert sample(good, "smshook_store_commit_jobs_count") >= 1
    assert sample(bad, "smshook_store_commit_jobs_count") == 0
