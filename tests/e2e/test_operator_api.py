"""The operator endpoints over real HTTP against a real server process, API token required."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server

pytestmark = pytest.mark.usefixtures("clean_env")

API_TOKEN = "api-token-0123456789abcdef"
FORM = {"content-type": "application/x-www-form-urlencoded"}


def test_phone_stats_and_reprocess_over_http(server_factory: type[Server], tmp_path: Path) -> None:
    config = tmp_path / "smshook.toml"
    config.write_text(f'api_token = "{API_TOKEN}"\n[connections.uk]\nprovider = "csoft"\n')
    server = server_factory(config=config).start()
    auth = {"authorization": f"Bearer {API_TOKEN}"}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for body in (b"Username=NULL&PIN=NULL&SendTo=%2B447700900123&MessageIdentifier=M1&Report=-4",
                     b"Username=NULL&PIN=NULL&SendTo=447700900123&MessageIdentifier=M1&Report=0",
                     b"Username=NULL&PIN=NULL&SendTo=447700900999&MessageIdentifier=M2&Report=25"):
            assert client.post("/hooks/uk", content=body, headers=FORM).status_code == 200
        bad = client.post("/hooks/uk", content=b"Username=NULL&PIN=NULL&MessageIdentifier=M3&Report=x", headers=FORM)
        assert bad.status_code == 400

        for path in ("/v1/events?phone=%2B447700900123", "/v1/stats", "/v1/quarantine"):
            assert client.get(path).status_code == 401, path
        found = client.get("/v1/events", params={"phone": "+44 7700 900123"}, headers=auth).json()["data"]
        assert [e["status"] for e in found] == ["delivered", "sent"]

        stats = client.get("/v1/stats", params={"window": "hour"}, headers=auth).json()
        [uk] = stats["connections"]
        assert (uk["connection"], uk["messages"], uk["delivery_rate"]) == ("uk", 2, 0.5)
        assert uk["funnel"]["failed_by_class"] == {"temporary": 1} and len(uk["series"]) == 60

        [entry] = client.get("/v1/quarantine", headers=auth).json()["data"]
        assert client.post(f"/v1/quarantine/{entry['id']}/reprocess").status_code == 401
        again = client.post(f"/v1/quarantine/{entry['id']}/reprocess", headers=auth)
        assert again.status_code == 422 and "'x' is not a csoft report code" in again.json()["error"]
        [kept] = client.get("/v1/quarantine", headers=auth).json()["data"]
        assert kept["reprocessed_at"] is None and kept["id"] == entry["id"]
