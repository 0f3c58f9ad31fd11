"""Subscriptions in the config file, and the `deliveries` / `replay` commands."""

from __future__ import annotations

import asyncio
import json
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from smshook.cli import main
from smshook.errors import ConfigError
from smshook.forwarding.model import Filters, Outcome, Subscription
from smshook.settings import load_settings
from smshook.storage.sqlite import SQLiteStore
from tests.forwarding.conftest import SECRET
from tests.storage.test_store import raw, status

CONFIG = f"""
forwarding_schedule = [0, 1, 2]

[subscriptions.crm]
url = "https://crm.example/hooks/sms"
secret = ["{SECRET}", "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="]
ordered = true
[subscriptions.crm.filters]
types = ["inbound"]
keywords = ["stop"]

[subscriptions.bus]
redis_url = "redis://127.0.0.1:6379/0"
stream = "sms"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "smshook.toml"
    path.write_text(text)
    return path


def test_subscriptions_from_the_config_file(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, CONFIG))
    crm = settings.subscriptions["crm"].build("crm", "config")
    assert crm.kind == "webhook" and crm.ordered and len(crm.secrets) == 2
    assert crm.filters == Filters(types=("inbound",), keywords=("STOP",))
    bus = settings.subscriptions["bus"].build("bus", "config")
    assert bus.kind == "redis" and bus.stream == "sms" and bus.secrets[0].startswith("whsec_")
    assert settings.forwarding_schedule == [0, 1, 2]
    shown = json.dumps(settings.redacted())
    assert SECRET not in shown and "***" in shown


@pytest.mark.parametrize("extra, problem", [
    ("[subscriptions.x]\nurl = 'https://a'\nsecrit = 'x'\n",
     "subscriptions.x.secrit: unknown key (did you mean secret?)"),
    ("[subscriptions.x]\nurl = 'https://a'\n[subscriptions.x.filters]\nkeyword = ['A']\n",
     "subscriptions.x.filters.keyword: unknown key (did you mean keywords?)"),
    ("[subscriptions.x]\nurl = 'https://a'\nsecret = 'whsec_short'\n", "subscriptions.x.secret"),
    ("[subscriptions.x]\nstream = 's'\n", "exactly one of url"),
    ("[subscriptions.x]\nurl = 'https://a'\n[subscriptions.x.filters]\ntext_regex = '(('\n", "regular expression"),
    ("forwarding_schedule = []\n", "forwarding_schedule"),
])
def test_config_mistakes_are_named(tmp_path: Path, extra: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, extra))
    assert problem in str(info.value)
    assert "whsec_short" not in str(info.value)


def test_config_check_prints_subscriptions_masked(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["config", "check", "--config", str(write(tmp_path, CONFIG))])
    assert result.exit_code == 0, result.output
    data = tomllib.loads("\n".join(line for line in result.output.splitlines() if not line.startswith("WARNING")))
    assert data["subscriptions"]["crm"]["secret"] == "***" and data["subscriptions"]["crm"]["filters"]["keywords"]
    assert SECRET not in result.output


def test_deliveries_and_replay_commands(tmp_path: Path) -> None:
    db = tmp_path / "smshook.db"

    async def seed() -> str:
        store = SQLiteStore(db)
        await store.open()
        try:
            await store.put_subscription(Subscription(id="crm", kind="webhook", target="https://x/", secrets=(SECRET,)))
            event = status("m1", "failed")
            await store.append(raw(), [event])
            [c] = await store.claim_deliveries("a", 0, 10, 10) or await store.claim_deliveries("a", 1e12, 10, 10)
            await store.record_attempt(c.id, "a", Outcome("dead", 1e9, error="HTTP 500: boom", http_status=500))
            return event.id
        finally:
            await store.close()

    event_id = asyncio.run(seed())
    database = f"sqlite:///{db}"
    runner = CliRunner()
    result = runner.invoke(main, ["deliveries", "--database", database, "--state", "dead", "--json"])
    assert result.exit_code == 0, result.output
    [row] = [json.loads(line) for line in result.stdout.splitlines()]
    assert row["event_id"] == event_id and row["last_error"] == "HTTP 500: boom"
    result = runner.invoke(main, ["deliveries", "--database", database])
    assert "HTTP 500: boom" in result.output and "dead" in result.output
    assert runner.invoke(main, ["replay", "--database", database]).exit_code == 2
    result = runner.invoke(main, ["replay", "--database", database, "--event", event_id, "--state", "dead"])
    assert result.exit_code == 0 and "replayed 1 deliveries" in result.output
    result = runner.invoke(main, ["deliveries", "--database", database, "--state", "pending", "--json"])
    row = json.loads(result.stdout)  # a new round of the schedule; the earlier attempt stays counted
    assert row["attempts_since_replay"] == 0 and row["attempts"] == row["replays"] == 1
    result = runner.invoke(main, ["replay", "--database", database, "--subscription", "crm",
                                  "--since", "yesterday"])
    assert result.exit_code == 2 and "--since" in result.output
