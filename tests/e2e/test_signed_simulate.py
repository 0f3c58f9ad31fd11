"""``smshook simulate`` signs Telnyx, Sinch, MessageBird and Infobip callbacks as the providers do,
against the real server with those secrets configured: every signed callback is stored once, the same
callbacks unsigned are all refused (401) and stored as nothing, and the rejected log lists them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from smshook.cli import main
from smshook.simulate.profiles.telnyx import SIMULATOR_PUBLIC_KEY
from tests.e2e.conftest import Server, all_events

SINCH_SECRET = "sinch-e2e-webhook-secret-0123456789"
MB_KEY = "7d1f3b5a9c0e2d4f6a8b1c3e5f7a9b0d2c4e6f8a1b3d5f7a9c0e2b4d6f8a1c3e"
MB_PUBLIC_URL = "https://sms.example.com/hooks/mb"  # what MessageBird is told to call (a proxy in between)
IB_PASSWORD = "infobip-e2e-password-0123"

CONFIG = f"""
[connections.tx]
provider = "telnyx"
public_key = "{SIMULATOR_PUBLIC_KEY}"

[connections.si]
provider = "sinch"
webhook_secret = "{SINCH_SECRET}"

[connections.mb]
provider = "messagebird"
signing_key = "{MB_KEY}"
public_url = "{MB_PUBLIC_URL}"

[connections.ib]
provider = "infobip"
basic_user = "infobip"
basic_password = "{IB_PASSWORD}"
"""

CASES = {
    "tx": ("telnyx", ["-o", f"public_key={SIMULATOR_PUBLIC_KEY}"]),
    "si": ("sinch", ["-o", f"webhook_secret={SINCH_SECRET}"]),
    "mb": ("messagebird", ["-o", f"signing_key={MB_KEY}", "--signed-url", MB_PUBLIC_URL]),
    "ib": ("infobip", ["-o", "basic_user=infobip", "-o", f"basic_password={IB_PASSWORD}"]),
}


@pytest.fixture(scope="module")
def signed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir: Path = tmp_path_factory.mktemp("signed")
    config = workdir / "smshook.toml"
    config.write_text(CONFIG)
    server = Server(workdir=workdir, config=config).start()
    yield server
    server.stop()


def simulate(server: Server, name: str, *extra: str) -> dict[str, object]:
    slug, _ = CASES[name]
    args = ["simulate", slug, "--url", f"{server.url}/hooks/{name}", "--count", "25", "--rate", "0",
            "--duplicates", "0.2", "--seed", "3", "--json", *extra]
    result = CliRunner().invoke(main, args)
    summary: dict[str, object] = json.loads(result.stdout)
    return summary


@pytest.mark.parametrize("name", sorted(CASES))
def test_signed_callbacks_are_stored_and_unsigned_ones_refused(signed_server: Server, name: str) -> None:
    _, options = CASES[name]
    unsigned = simulate(signed_server, name)
    assert unsigned["ok"] is False and unsigned["non_2xx"] == {"401": 25}, unsigned
    summary = simulate(signed_server, name, *options)
    assert summary["ok"] is True, (summary, signed_server.output()[-2000:])
    assert summary["answered_2xx"] == 25 and summary["duplicates"] == 5
    with httpx.Client(timeout=10) as client:
        stored = all_events(client, signed_server.url, connection=name)
        # the simulator's STOP / START messages (and the providers' opt-out signals) also made opt-out
        # events (smshook.lifecycle), each from a stored event of the same message
        changes = [e for e in stored if e["type"] in ("optout", "optin")]
        stored = [e for e in stored if e["type"] not in ("optout", "optin")]
        assert len(stored) == summary["unique_events"]
        assert {e["message_id"] for e in changes} <= {e["message_id"] for e in stored}
        rejected = client.get(f"{signed_server.url}/v1/rejected", params={"connection": name}).json()["data"]
    assert rejected and sum(r["attempts"] for r in rejected) == 25
    assert {r["reason"] for r in rejected} == {"missing"}
