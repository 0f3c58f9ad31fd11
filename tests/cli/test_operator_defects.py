"""Issue 16's command-line defects, each as a user met it: reading commands in another folder,
--help, replay --json, serve on a busy port, username without pin, the banner's subscriptions,
events as CSV/NDJSON, doctor comparing the CLI's database with a running server's, and the README
(its configuration tables generated from the code, its curl walk-through answered as documented)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from smshook.cli import main
from smshook.preflight import subscription_lines
from smshook.reference_doc import section
from smshook.settings import load_settings, reference_markdown
from tests.e2e.conftest import Server, free_port

pytestmark = pytest.mark.usefixtures("clean_env")
README = Path(__file__).parents[2] / "README.md"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def migrated(path: Path) -> str:
    url = f"sqlite:///{path}"
    assert run("migrate", "--database", url).exit_code == 0
    return url


@pytest.mark.parametrize("command", [["events"], ["stats"], ["status", "csoft", "X1"], ["deliveries"],
                                     ["tail", "--timeout", "0.1"], ["reprocess", "--all"],
                                     ["replay", "--subscription", "crm"]])
def test_reading_commands_never_create_a_database(tmp_path: Path, command: list[str]) -> None:
    result = run(*command)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: no database at ./smshook.db")
    assert "use --config or --database" in result.stderr
    assert list(tmp_path.iterdir()) == []  # neither smshook.db nor its lock file


def test_events_say_which_database_and_when_there_are_none(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    url = migrated(tmp_path / "data" / "sms.db")
    result = run("events", "--database", url)
    assert result.exit_code == 0 and result.stdout == ""
    assert f"database: {tmp_path / 'data' / 'sms.db'}" in result.stderr
    assert "no events" in result.stderr
    assert run("deliveries", "--database", url).stderr.endswith("no deliveries\n")


def test_help_lists_every_command_uncut() -> None:
    for args in ([], ["config"]):
        commands = run(*args, "--help").stdout.split("Commands:")[1]
        assert "..." not in commands, commands
    assert "Check the configuration, the store (reachable, migrated), file permissions" in " ".join(
        run("--help").stdout.split())


def test_replay_json(tmp_path: Path) -> None:
    url = migrated(tmp_path / "x.db")
    result = run("replay", "--database", url, "--event", "nope", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout) == {"replayed": 0}


def test_serve_on_a_busy_port_says_so_in_one_line_and_creates_nothing(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "smshook", "serve", "--port", str(port), "--database",
                               f"sqlite:///{tmp_path / 'x.db'}"], capture_output=True, text=True, timeout=60,
                              cwd=tmp_path, env={**os.environ, "SMSHOOK_LOG_LEVEL": "info"})
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"error: cannot listen on 127.0.0.1:{port}: the port is already in use "
                                        "(another smshook, or another program; choose another with --port)"]
    assert "listening" not in done.stdout + done.stderr and "startup" not in done.stderr
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize(("given", "missing"), [("username = 'u'", "pin"), ("pin = '1234'", "username")])
def test_csoft_username_and_pin_go_together(tmp_path: Path, given: str, missing: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f"[connections.shop]\nprovider = 'csoft'\n{given}\n")
    result = run("config", "check", "--config", str(config))
    assert result.exit_code == 2
    assert f"connections.shop: {given.split()[0]} without {missing}" in result.stderr


def test_banner_lists_subscriptions_with_masked_urls(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[subscriptions.crm]\nurl = "https://crm.example.com:8443/hooks/sms?key=s3cr3t"\n'
                      '[subscriptions.off]\nurl = "https://x.example.com/h"\nenabled = false\n')
    lines = subscription_lines(load_settings(config))
    assert lines == ["forwarding to 2 subscription(s) from the configuration:",
                     "  → crm            https://crm.example.com:8443/hooks/sms?***",
                     "  → off            https://x.example.com/h (disabled)"]


def test_banner_of_a_real_server(server_factory: type[Server], tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[subscriptions.crm]\nurl = "http://127.0.0.1:9/hook?token=s3cr3t"\n')
    server = server_factory(config=config).start()
    out = server.output()
    assert "crm" in out and "http://127.0.0.1:9/hook?***" in out and "s3cr3t" not in out


def test_events_as_csv_and_ndjson(server: Server) -> None:
    for i in range(3):
        body = (f"Username=NULL&PIN=NULL&SendTo=447700912345&MessageIdentifier=CSV{i}&Report=0"
                f"&Timestamp1=2025-07-26T14%3A0{i}%3A00Z")
        assert httpx.post(f"{server.url}/hooks/csoft", content=body, timeout=10).status_code == 200
    url = f"sqlite:///{server.database}"
    table = list(csv.DictReader(io.StringIO(run("events", "--database", url, "--format", "csv").stdout)))
    assert [r["message_id"] for r in table] == ["CSV2", "CSV1", "CSV0"]
    lines = run("events", "--database", url, "--format", "ndjson", "--limit", "2").stdout.splitlines()
    assert [json.loads(x)["message_id"] for x in lines] == ["CSV2", "CSV1"]
    until = json.loads(lines[1])["received_at"]
    older = run("events", "--database", url, "--format", "ndjson", "--until", until).stdout.splitlines()
    assert [json.loads(x)["message_id"] for x in older] == ["CSV0"]
    header = run("events", "--database", url, "--format", "csv", "--message", "none").stdout
    assert header.startswith("id,type,connection") and header.count("\n") == 1


def test_doctor_warns_when_the_server_uses_another_database(server: Server, tmp_path: Path) -> None:
    other = migrated(tmp_path / "other.db")
    config = tmp_path / "c.toml"
    config.write_text(f"port = {server.port}\n")
    same = run("doctor", "--config", str(config), "--database", f"sqlite:///{server.database}", "--json")
    checks = {c["check"]: c for c in json.loads(same.stdout)["checks"]}
    assert checks["server database"]["level"] == "ok", checks
    assert "uses this database too" in checks["server database"]["detail"]
    wrong = run("doctor", "--config", str(config), "--database", other)
    assert "[warn] server database: the server at" in wrong.stdout and "ANOTHER database" in wrong.stdout
    assert str(tmp_path / "other.db") in wrong.stdout
    config.write_text(f"port = {free_port()}\n")
    alone = run("doctor", "--config", str(config), "--database", other)
    assert "server database: no server answers" in alone.stdout


def test_readme_configuration_tables_are_generated_from_the_code() -> None:
    text = README.read_text(encoding="utf-8")
    begin, end = section(text)
    assert text[begin:end].strip() == reference_markdown().strip(), (
        "README.md's configuration tables differ from the code: run `smshook config reference --update README.md`")


def test_readme_curl_walkthrough_answers_as_documented(server: Server) -> None:
    """Every curl block of "Try it with curl" against a real server: each answer line is documented
    (the `# …` lines under the block) and each documented line is answered."""
    text = README.read_text(encoding="utf-8")
    part = text[text.index("## Try it with curl"):text.index("Then look at what arrived")]
    blocks = re.findall(r"```sh\n(.*?)```", part, re.S)
    assert len(blocks) == 7
    for block in blocks:
        documented = [line[2:] for line in block.splitlines() if line.startswith("# ")]
        script = "curl() { command curl \"$@\"; echo; }\n" + block.replace("http://127.0.0.1:8080", server.url)
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
        answered = [line for line in done.stdout.splitlines() if line.strip()]
        assert done.returncode == 0, done.stderr
        assert set(answered) <= set(documented) and set(documented) <= set(answered), (block, answered)


def test_deliveries_say_what_a_blocked_ordered_delivery_waits_for(tmp_path: Path) -> None:
    import asyncio

    from smshook.forwarding.model import Subscription
    from smshook.storage.sqlite import SQLiteStore
    from tests.storage.test_store import raw, status

    async def seed() -> None:
        store = SQLiteStore(tmp_path / "x.db")
        await store.open()
        try:
            await store.put_subscription(Subscription(id="o", kind="webhook", target="http://127.0.0.1:9/x",
                                                      secrets=("whsec_" + "A" * 32,), ordered=True))
            await store.append(raw(), [status("m1", "sent", minutes=0)])
            await store.append(raw(), [status("m1", "delivered", minutes=1)])
        finally:
            await store.close()

    asyncio.run(seed())
    url = f"sqlite:///{tmp_path / 'x.db'}"
    later, earlier = map(json.loads, run("deliveries", "--database", url, "--json").stdout.splitlines())
    assert later["waiting_for"] == earlier["id"] and earlier["waiting"] is None
    text = run("deliveries", "--database", url).stdout
    assert f"waits for an earlier event of this message (ordered subscription): {earlier['id']}" in text
