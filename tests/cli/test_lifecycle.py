"""``smshook register`` and ``smshook optouts`` against a real database (SQLite, and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from smshook.cli import main
from smshook.events import Event, finalize, iso, uuid7
from smshook.lifecycle import store as ls
from smshook.lifecycle.options import LifecycleOptions
from smshook.lifecycle.optouts import derive
from smshook.storage import RawRecord, Store, make_store
from tests.storage.conftest import BACKENDS

pytestmark = pytest.mark.usefixtures("clean_env")


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=stdin)


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_database"))
    url = f"sqlite:///{tmp_path / 'smshook.db'}"
    assert run("migrate", "--database", url).exit_code == 0  # commands never create a database: serve/migrate do
    return url


def with_store(database: str, call: object) -> object:
    async def go() -> object:
        store: Store = make_store(database)
        await store.open()
        try:
            return await call(store)  # type: ignore[operator]
        finally:
            await store.close()

    return asyncio.run(go())


def test_register_from_csv_and_ndjson(database: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "sent.csv"
    csv_file.write_text("connection,message_id,to,reference,parts,metadata\n"
                        'csoft,m1,+447700900123,order-1,,"{""a"": 1}"\n'
                        "csoft,m2,00447700900124,order-2,p1;p2,\n")
    result = run("register", "--database", database, str(csv_file))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "2 registered, 0 already registered, 0 in conflict"
    ndjson = '{"message_id": "m1", "to": "447700900123", "reference": "order-1", "metadata": {"a": 1}}\n' \
             '{"message_id": "m3", "to": "447700900125"}\n'
    again = run("register", "--database", database, "--connection", "csoft", "--json", "-", stdin=ndjson)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == {"created": 1, "existing": 1, "conflicts": 0, "errors": []}
    view = with_store(database, lambda s: ls.describe(s, "csoft", "p2"))
    assert isinstance(view, dict) and view["message_id"] == "m2" and [p["message_id"] for p in view["parts"]] == [
        "p1", "p2"]
    status = run("status", "--database", database, "csoft", "m2")
    assert status.exit_code == 0, status.output
    assert "registered: reference order-2" in status.stdout and "parts: p1 pending, p2 pending" in status.stdout
    conflict = run("register", "--database", database, "-", stdin='{"connection": "csoft", "message_id": "m3", '
                                                                  '"to": "447700900999"}\n')
    assert conflict.exit_code == 1 and "different to" in conflict.stderr
    bad = run("register", "--database", database, "-", stdin='{"connection": "csoft", "message_id": "m4", "to": '
                                                             '"1"}\n{"connection": "csoft", "to": "2"}\n')
    assert bad.exit_code != 0 and "line 2: message_id: required (nothing registered)" in bad.stderr
    assert with_store(database, lambda s: ls.describe(s, "csoft", "m4")) is None


def stop(store: Store, text: str, sender: str) -> object:
    inbound = Event(type="inbound", from_=sender, to="12345", text=text, occurred_at=datetime.now(UTC),
                    key_extra=uuid7())
    events = finalize([inbound, *derive([inbound], LifecycleOptions())], "csoft", "csoft", datetime.now(UTC))
    raw = RawRecord(uuid7(), "csoft", "csoft", "POST", "/hooks/csoft", "", (), b"x", None, iso(datetime.now(UTC)) or "")
    return store.append(raw, events)


def test_optouts_list_check_and_export(database: str) -> None:
    async def fill(store: Store) -> None:
        await stop(store, "STOP", "447700900001")  # type: ignore[misc]
        await stop(store, "unsubscribe now", "447700900002")  # type: ignore[misc]

    with_store(database, fill)
    listed = run("optouts", "--database", database)
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert len(lines) == 2 and "447700900002" in lines[0] and "UNSUBSCRIBE" in lines[0]
    exported = run("optouts", "--database", database, "--format", "csv").stdout.splitlines()
    assert exported[0] == "phone,sender,opted_out,since,keyword,event_id,connection,erased" and len(exported) == 3
    checked = run("optouts", "--database", database, "--phone", "+44 7700 900001", "--check", "12345")
    assert checked.exit_code == 1 and "is OPTED OUT of 12345" in checked.stdout
    other = run("optouts", "--database", database, "--phone", "0044 7700 900001", "--check", "999", "--json")
    assert other.exit_code == 0 and json.loads(other.stdout)["opted_out"] is False
