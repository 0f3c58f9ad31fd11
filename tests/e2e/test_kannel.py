"""End to end against the real Kannel (Debian's ``kannel`` + ``kannel-extras``, installed by scripts/test).

bearerbox + smsbox + ``fakesmsc`` (the fake SMSC client) on loopback with a generated ``kannel.conf``
in a temp dir, smshook as a real server behind them. MTs go through Kannel's ``sendsms`` interface
with ``dlr-mask=31`` and smshook's ``dlr-url`` template (the one ``smshook connections`` prints);
inbound lines (GSM text, UCS-2 text; GET and POST services) are typed into ``fakesmsc``. smshook must
store exactly those receipts and messages, and its empty answers must not make Kannel send any
reply SMS. Every process is stopped by its PID.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pytest

from smshook.providers.kannel import DLR_TEMPLATE, GET_TEMPLATE, POST_TEMPLATE
from tests.e2e.conftest import Server, all_events, free_port

BEARERBOX = Path("/usr/sbin/bearerbox")
SMSBOX = Path("/usr/sbin/smsbox")
FAKESMSC = Path("/usr/lib/kannel/test/fakesmsc")
TOKEN = "kannel-e2e-token-0123"
ADMIN_PASSWORD = "e2e-admin"
T = TypeVar("T")

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not all(p.exists() for p in (BEARERBOX, SMSBOX, FAKESMSC)),
                       reason="Debian's kannel and kannel-extras are not installed (scripts/test installs them)"),
]


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 15.0, logs: Callable[[], str] = str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = check()
        except (httpx.HTTPError, OSError):
            found = None
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n{logs()}")


@dataclass
class Kannel:
    """bearerbox, smsbox and fakesmsc with their own config and logs in ``workdir``."""

    workdir: Path
    hook_url: str
    admin_port: int = field(default_factory=free_port)
    box_port: int = field(default_factory=free_port)
    sendsms_port: int = field(default_factory=free_port)
    smsc_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def config(self) -> str:
        return f"""
group = core
admin-port = {self.admin_port}
admin-interface = 127.0.0.1
admin-password = {ADMIN_PASSWORD}
smsbox-port = {self.box_port}
smsbox-interface = 127.0.0.1
box-allow-ip = 127.0.0.1
log-level = 0
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = FAKE
port = {self.smsc_port}
our-host = 127.0.0.1
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {self.box_port}
sendsms-port = {self.sendsms_port}
sendsms-interface = 127.0.0.1
global-sender = 12345
http-request-retry = 2
http-queue-delay = 1
log-level = 0

group = sendsms-user
username = tester
password = e2e-sendsms

group = sms-service
keyword = post
max-messages = 0
send-sender = true
post-url = "{self.hook_url}{POST_TEMPLATE}"

group = sms-service
keyword = default
catch-all = true
max-messages = 0
get-url = "{self.hook_url}{GET_TEMPLATE}"
"""

    def start(self) -> Kannel:
        conf = self.workdir / "kannel.conf"
        conf.write_text(self.config())
        self._spawn("bearerbox", [str(BEARERBOX), "-v", "1", str(conf)])
        wait_for("bearerbox's admin port", lambda: self.status() is not None, logs=self.logs)
        self._spawn("smsbox", [str(SMSBOX), "-v", "1", str(conf)])
        wait_for("smsbox's sendsms port", self._sendsms_up, logs=self.logs)
        # fakesmsc reads MO lines from its stdin (a pipe held open here) and logs the MTs it gets.
        self._spawn("fakesmsc", [str(FAKESMSC), "-H", "127.0.0.1", "-r", str(self.smsc_port), "-i", "0.1"],
                    stdin=subprocess.PIPE)
        wait_for("the fake SMSC online", lambda: "online" in (self.status() or "").split("SMSC connections:")[-1],
                 logs=self.logs)
        return self

    def _spawn(self, name: str, args: list[str], **kw: Any) -> None:
        with (self.workdir / f"{name}.log").open("ab") as out:
            self.processes[name] = subprocess.Popen(args, cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT, **kw)

    def status(self) -> str | None:
        r = httpx.get(f"http://127.0.0.1:{self.admin_port}/status.txt", params={"password": ADMIN_PASSWORD}, timeout=2)
        return r.text if r.status_code == 200 else None

    def _sendsms_up(self) -> bool:
        r = httpx.get(f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms", timeout=2)
        return r.status_code in (400, 401, 403)  # up, and refusing a request without credentials

    def sendsms(self, to: str, text: str, message_id: str) -> httpx.Response:
        dlr_url = self.hook_url + DLR_TEMPLATE.format(id=quote(message_id, safe=""))
        return httpx.get(f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms", timeout=5, params={
            "username": "tester", "password": "e2e-sendsms", "from": "12345", "to": to, "text": text,
            "dlr-mask": "31", "dlr-url": dlr_url})

    def inject(self, line: str) -> None:
        """One MO line into fakesmsc: ``<sender> <receiver> text|ucs2 <message>``."""
        stdin = self.processes["fakesmsc"].stdin
        assert stdin is not None
        stdin.write(line.encode() + b"\n")
        stdin.flush()

    def mts_received(self) -> list[str]:
        """The MTs the fake SMSC got (fakesmsc logs each as ``Got message N: <from to text ...>``)."""
        log = (self.workdir / "fakesmsc.log").read_text(errors="replace")
        return [line.split(": <", 1)[1].rstrip(">") for line in log.splitlines() if "Got message" in line]

    def logs(self) -> str:
        out = []
        for name in ("bearerbox", "smsbox", "fakesmsc"):
            path = self.workdir / f"{name}.log"
            if path.exists():
                out.append(f"--- {name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-15:]))
        return "\n".join(out)

    def stop(self) -> None:
        """Each process by its own PID, the boxes' clients first; SIGKILL whatever will not stop."""
        for name in ("fakesmsc", "smsbox", "bearerbox"):
            proc = self.processes.get(name)
            if proc is None or proc.poll() is not None:
                continue
            if proc.stdin is not None:
                proc.stdin.close()
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(5)


@pytest.fixture
def smshook(server_factory: type[Server], tmp_path: Path) -> Server:
    config = tmp_path / "smshook.toml"
    config.write_text(f'[connections.gateway]\nprovider = "kannel"\ntoken = "{TOKEN}"\n')
    return server_factory(config=config).start()


@pytest.fixture
def kannel(smshook: Server, tmp_path: Path) -> Iterator[Kannel]:
    workdir = tmp_path / "kannel"
    workdir.mkdir()
    gateway = Kannel(workdir, f"{smshook.url}/hooks/gateway/{TOKEN}")
    try:
        yield gateway.start()
    finally:
        gateway.stop()


def test_real_kannel_receipts_and_inbound(smshook: Server, kannel: Kannel) -> None:
    client = httpx.Client(timeout=10)

    def events(count: int, **params: str) -> list[dict[str, Any]]:
        found = wait_for(f"{count} events {params}", lambda: (
            lambda got: got if len(got) >= count else None)(all_events(client, smshook.url, **params)),
            logs=lambda: kannel.logs() + "\n--- smshook\n" + smshook.output()[-3000:])
        return found

    # MTs with delivery reports: Kannel accepts, the fake SMSC takes them, two receipts each (8, then 1).
    for to, text, message_id in (("0046701234567", "hello from smshook", "order-1001"),
                                 ("+46701234568", "second one", "order 1002/b")):
        answer = kannel.sendsms(to, text, message_id)
        assert answer.status_code == 202 and "Accepted" in answer.text, answer.text
    receipts = sorted(events(4, type="status"), key=lambda e: (e["message_id"], e["provider_status"]))
    got = [(e["message_id"], e["provider_status"], e["status"], e["from"], e["to"]) for e in receipts]
    assert got == [
        ("order 1002/b", "1", "delivered", "12345", "46701234568"),
        ("order 1002/b", "8", "sent", "12345", "46701234568"),
        ("order-1001", "1", "delivered", "12345", "46701234567"),
        ("order-1001", "8", "sent", "12345", "46701234567"),
    ]
    for e in receipts:
        assert e["occurred_at"] and e["details"]["smsc"] == "FAKE"
        assert e["details"]["reply"] == ("ACK/" if e["provider_status"] == "8" else "")
        assert bool(e["details"]["fid"]) == (e["provider_status"] == "1")  # the SMSC's id: finals only

    # Inbound: GSM and UCS-2 text, through the get-url service and the post-url ("post" keyword) one.
    lines = [
        ("0046709876543 12345 text Hello there world", "Hello there world"),
        ("0046709876543 12345 ucs2 " + quote("Привет мир".encode("utf-16-be")), "Привет мир"),
        ("+46709876543 12345 text post this is a POST", "post this is a POST"),
        ("+46709876543 12345 ucs2 " + quote("post Ünïcødé ✓".encode("utf-16-be")), "post Ünïcødé ✓"),
    ]
    for n, (line, _) in enumerate(lines, start=1):
        kannel.inject(line)
        events(n, type="inbound")
    inbound = sorted(events(len(lines), type="inbound"), key=lambda e: e["occurred_at"] + e["id"])
    assert sorted(e["text"] for e in inbound) == sorted(text for _, text in lines)
    for e in inbound:
        assert (e["from"], e["to"]) == ("46709876543", "12345")
        assert e["message_id"] and e["occurred_at"]
        assert e["details"]["coding"] == ("2" if e["text"] in ("Привет мир", "post Ünïcødé ✓") else "0")
    assert {e["keyword"] for e in inbound} == {"HELLO", "ПРИВЕТ", "POST"}
    posted = [e for e in inbound if e["text"].startswith("post")]
    assert all(e["details"]["service"] == "^[ ]*(post)[ ]*" for e in posted)  # came by post-url

    # Exactly these: no duplicates, nothing quarantined, and no reply SMS went back to a handset
    # (the fake SMSC got the two MTs and nothing else).
    time.sleep(1.5)
    assert len(all_events(client, smshook.url)) == 4 + len(lines)
    assert client.get(f"{smshook.url}/v1/quarantine").json()["data"] == []
    assert kannel.mts_received() == ["12345 0046701234567 text hello from smshook",
                                     "12345 +46701234568 text second one"]
    client.close()
