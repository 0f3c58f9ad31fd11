"""smshook against the real Jasmin SMS gateway, on loopback (run through scripts/e2e-jasmin).

What it does, all in a temporary directory and on free 127.0.0.1 ports, every process stopped by its
PID at the end:

1. a virtualenv with ``jasmin==0.11.1`` from PyPI (cached in ``~/.cache/smshook/e2e-jasmin``), with the
   one-line fix of Jasmin's unreleased commit a3635cc1 applied to ``jasmin/managers/listeners.py``
   (every ``_pdu.response`` -> ``r.response`` in the "Send DLR to DLRLookup" block, three lines: without it
   0.11.1 throws no receipt at all), and the AMQP spec files from the sdist;
2. ``epmd`` + RabbitMQ (Debian's ``rabbitmq-server``) and ``redis-server``;
3. smshook (``smshook serve``) with a ``jasmin`` connection, and ``scripts/jasmin_smsc.py``, a small SMPP
   SMSC that answers ``submit_sm`` and sends receipts and two inbound messages (GSM and UCS-2);
4. ``jasmind.py`` with the DLR thrower, DLR lookup and deliver_sm thrower in one process, provisioned
   through jCli (SMPP connector, HTTP connector to smshook, MO and MT default routes, a user);
5. five MTs through Jasmin's HTTP API with ``dlr-level=3`` whose destinations make the SMSC answer
   DELIVRD, EXPIRED, UNDELIV, REJECTD, and refuse one (``ESME_RINVDSTADR``); then checks that smshook
   stored exactly the level-1 and level-2 receipts with the right statuses, and the two inbound
   messages with the right numbers and texts, and that Jasmin logged each throw as acknowledged.

Exit 0 when everything matched; the report is printed either way.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "smshook" / "e2e-jasmin"
JASMIN = "jasmin==0.11.1"
RABBITMQ = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
TOKEN = "jasmin-e2e-token-0123"
T = TypeVar("T")

# destination -> (level-1 status, level-2 status or None)
MTS = {
    "46701234560": ("sent", "delivered"),
    "46701234561": ("sent", "expired"),
    "46701234562": ("sent", "undelivered"),
    "46701234563": ("sent", "rejected"),
    "46701234569": ("rejected", None),  # the SMSC refuses it: ESME_RINVDSTADR at level 1, no receipt
}
MOS = [("46709876543", "12345", 0, "Hello from handset"), ("46709876544", "12345", 8, "Привет, Jasmin ✓")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = check()
        except (OSError, httpx.HTTPError):
            found = None
        if found:
            return found
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def say(message: str) -> None:
    print(f"[e2e-jasmin] {message}", flush=True)


# -- Jasmin from PyPI, patched -----------------------------------------------------------------------


def jasmin_venv() -> Path:
    venv = CACHE / "venv"
    python = venv / "bin" / "python"
    if not (venv / "bin" / "jasmind.py").exists():
        say(f"creating {venv} with {JASMIN} from PyPI")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", JASMIN],
                       check=True)
    sdist = CACHE / "sdist"
    if not list(sdist.glob("jasmin-*/misc/config/resource/amqp0-9-1.xml")):
        sdist.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(python), "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
                        "--no-binary", ":all:", "-d", str(sdist), JASMIN], check=True)
        with tarfile.open(next(sdist.glob("jasmin-*.tar.gz"))) as tar:
            members = [m for m in tar.getmembers() if "/misc/config/resource/" in m.name]
            tar.extractall(sdist, members=members, filter="data")
    patch_listeners(venv)
    return venv


def patch_listeners(venv: Path) -> None:
    """Jasmin commit a3635cc1: the submit_sm_resp listener reads the response from the request PDU."""
    path = next(venv.glob("lib/python3*/site-packages/jasmin/managers/listeners.py"))
    text = path.read_text()
    start = text.find("# Send DLR to DLRLookup")
    if start < 0:
        raise RuntimeError(f"{path}: the 'Send DLR to DLRLookup' block is not where 0.11.1 has it")
    end = text.find("\n\n", start)
    block = text[start:end]
    if "_pdu.response" not in block:
        return  # already patched
    if "r.response.status == CommandStatus.ESME_ROK" not in block:
        raise RuntimeError(f"{path}: the DLR block is not the one 0.11.1 has")
    path.write_text(text[:start] + block.replace("_pdu.response", "r.response") + text[end:])
    say(f"patched {path.name}: _pdu.response -> r.response (jookies/jasmin a3635cc1)")


# -- processes -----------------------------------------------------------------------------------------


class Processes:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with (self.workdir / f"{name}.log").open("ab") as out:
            proc = subprocess.Popen(args, cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT,
                                    env={**os.environ, **(env or {})}, start_new_session=True)
        self.started.append((name, proc))
        return proc

    def log(self, name: str, lines: int = 20) -> str:
        path = self.workdir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        """Each process by its PID, last started first; then any child it left (RabbitMQ's beam.smp)."""
        for name, proc in reversed(self.started):
            if proc.poll() is not None:
                continue
            children = _children(proc.pid)
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(5)
            for pid in children:
                _stop_pid(pid)
            say(f"stopped {name} (pid {proc.pid})")


def _children(pid: int) -> list[int]:
    """Descendants of ``pid`` (from /proc), deepest first."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found += [*_children(int(entry.name)), int(entry.name)]
    return found


def _stop_pid(pid: int) -> None:
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not Path(f"/proc/{pid}").exists() or "Z" in _state(pid):
                return
            time.sleep(0.1)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


# -- jCli --------------------------------------------------------------------------------------------


class JCli:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.read_until(b"Authentication required.")  # the Username: prompt comes only after a first line
        self.send(b"jcliadmin", b"Password: ")
        self.send(b"jclipwd", b"jcli : ")

    def read_until(self, marker: bytes) -> bytes:
        data = b""
        while marker not in data:
            try:
                chunk = self.sock.recv(4096)
            except TimeoutError:
                raise RuntimeError(f"jCli: no {marker!r} after {data[-300:]!r}") from None
            if not chunk:
                raise RuntimeError(f"jCli closed the connection: {data[-300:]!r}")
            data += self.negotiate(chunk)
        return data

    def negotiate(self, chunk: bytes) -> bytes:
        """Refuse every telnet option jCli offers (IAC DO/WILL x -> IAC WONT/DONT x); the rest is text."""
        out, i = b"", 0
        while i < len(chunk):
            if chunk[i] == 0xFF and i + 2 < len(chunk) and chunk[i + 1] in (0xFB, 0xFC, 0xFD, 0xFE):
                answer = 0xFC if chunk[i + 1] == 0xFD else 0xFE  # DO -> WONT, WILL -> DONT
                if chunk[i + 1] in (0xFD, 0xFB):
                    self.sock.sendall(bytes((0xFF, answer, chunk[i + 2])))
                i += 3
            else:
                out += chunk[i:i + 1]
                i += 1
        return out

    def send(self, line: bytes, prompt: bytes = b"jcli : ") -> str:
        self.sock.sendall(line + b"\r\n")
        return self.read_until(prompt).decode(errors="replace")

    def block(self, *lines: str) -> str:
        """A multi-line command (``smppccm -a`` …) ending with ``ok``; returns what jCli answered."""
        out = ""
        for line in lines[:-1]:
            out += self.send(line.encode(), b"> ")
        out += self.send(lines[-1].encode())
        return out


# -- the run -----------------------------------------------------------------------------------------


def jasmin_config(path: Path, ports: dict[str, int]) -> None:
    path.write_text(f"""
[smpp-server]
bind = 127.0.0.1
port = {ports['smpp_server']}

[smpp-server-pb]
bind = 127.0.0.1
port = {ports['smpp_server_pb']}

[client-management]
bind = 127.0.0.1
port = {ports['client_management']}

[router]
bind = 127.0.0.1
port = {ports['router']}

[http-api]
bind = 127.0.0.1
port = {ports['http_api']}

[jcli]
bind = 127.0.0.1
port = {ports['jcli']}

[amqp-broker]
host = 127.0.0.1
port = {ports['amqp']}

[redis-client]
host = 127.0.0.1
port = {ports['redis']}
""")


def run(workdir: Path, procs: Processes) -> list[str]:
    venv = jasmin_venv()
    ports = {name: free_port() for name in ("redis", "amqp", "epmd", "dist", "smsc", "smshook", "http_api", "jcli",
                                            "router", "client_management", "smpp_server", "smpp_server_pb")}
    etc = workdir / "etc"
    (etc / "store").mkdir(parents=True)
    shutil.copytree(next((CACHE / "sdist").glob("jasmin-*/misc/config/resource")), etc / "resource")
    (workdir / "log").mkdir()
    jasmin_config(etc / "jasmin.cfg", ports)

    say("starting redis-server, epmd and RabbitMQ on loopback")
    procs.start("redis", ["redis-server", "--bind", "127.0.0.1", "--port", str(ports["redis"]), "--save", "",
                          "--appendonly", "no", "--dir", str(workdir)])
    rabbit_home = workdir / "rabbitmq"
    (rabbit_home / "mnesia").mkdir(parents=True)
    (rabbit_home / "enabled_plugins").write_text("[].\n")
    erl_env = {"HOME": str(rabbit_home), "ERL_EPMD_ADDRESS": "127.0.0.1", "ERL_EPMD_PORT": str(ports["epmd"])}
    procs.start("epmd", ["epmd", "-address", "127.0.0.1", "-port", str(ports["epmd"])], erl_env)
    wait_for("epmd", lambda: port_open(ports["epmd"]), 10)
    procs.start("rabbitmq", [str(RABBITMQ)], {
        **erl_env, "RABBITMQ_NODENAME": "smshook-e2e@localhost", "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(ports["amqp"]), "RABBITMQ_DIST_PORT": str(ports["dist"]),
        "RABBITMQ_MNESIA_BASE": str(rabbit_home / "mnesia"), "RABBITMQ_LOG_BASE": str(rabbit_home),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(rabbit_home / "enabled_plugins"),
        "RABBITMQ_CONFIG_FILE": str(rabbit_home / "rabbitmq"),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}"})
    wait_for("RabbitMQ's AMQP port", lambda: port_open(ports["amqp"]), 90)
    wait_for("redis", lambda: port_open(ports["redis"]), 10)

    say("starting smshook and the SMPP simulator")
    config = workdir / "smshook.toml"
    config.write_text(f'[connections.jasmin]\nprovider = "jasmin"\ntoken = "{TOKEN}"\n')
    smshook = f"http://127.0.0.1:{ports['smshook']}"
    procs.start("smshook", [str(ROOT / ".venv" / "bin" / "python"), "-m", "smshook", "serve", "--port",
                            str(ports["smshook"]), "--database", f"sqlite:///{workdir / 'smshook.db'}",
                            "--config", str(config)])
    wait_for("smshook", lambda: httpx.get(f"{smshook}/readyz", timeout=1).status_code == 200, 30)
    mo_args = [arg for f, t, coding, text in MOS for arg in
               ("--mo", f"{f}:{t}:{coding}:{text.encode('utf-16-be' if coding == 8 else 'latin-1').hex()}")]
    procs.start("smsc", [str(venv / "bin" / "python"), str(ROOT / "scripts" / "jasmin_smsc.py"), str(ports["smsc"]),
                         *mo_args])
    wait_for("the SMPP simulator", lambda: port_open(ports["smsc"]), 10)

    say("starting jasmind (DLR thrower, DLR lookup, deliver_sm thrower)")
    started = time.monotonic()
    procs.start("jasmind", [str(venv / "bin" / "python"), str(venv / "bin" / "jasmind.py"), "-c",
                            str(etc / "jasmin.cfg"), "--enable-dlr-thrower", "--enable-dlr-lookup",
                            "--enable-deliver-thrower"],
                {"CONFIG_PATH": f"{etc}/", "RESOURCE_PATH": f"{etc}/resource/", "LOG_PATH": str(workdir / "log")})
    wait_for("jCli", lambda: port_open(ports["jcli"]), 60)
    wait_for("Jasmin's HTTP API", lambda: port_open(ports["http_api"]), 30)
    say(f"Jasmin up in {time.monotonic() - started:.1f} s; provisioning through jCli")
    hook = f"{smshook}/hooks/jasmin/{TOKEN}"
    jcli = JCli(ports["jcli"])
    answers = [
        jcli.block("smppccm -a", "cid smsc1", "host 127.0.0.1", f"port {ports['smsc']}", "username smppclient1",
                   "password password", "ok"),
        jcli.block("httpccm -a", "cid http1", f"url {hook}", "method POST", "ok"),
        jcli.block("morouter -a", "type DefaultRoute", "connector http(http1)", "ok"),
        jcli.block("mtrouter -a", "type DefaultRoute", "connector smppc(smsc1)", "rate 0.00", "ok"),
        jcli.block("group -a", "gid g1", "ok"),
        jcli.block("user -a", "uid u1", "username foo", "password bar", "gid g1", "ok"),
        jcli.send(b"smppccm -1 smsc1"),  # started last: the simulator sends the MOs on bind, routes exist
    ]
    for answer in answers:
        if "Successfully" not in answer:
            raise RuntimeError(f"jCli refused a command:\n{answer}")
    wait_for("the SMPP connector bound", lambda: "BOUND" in jcli.send(b"smppccm --list").upper(), 30)

    say("sending MTs through Jasmin's HTTP API (dlr-level=3)")
    ids: dict[str, str] = {}
    for index, to in enumerate(MTS):
        method = "GET" if index == 0 else "POST"
        response = httpx.get(f"http://127.0.0.1:{ports['http_api']}/send", timeout=10, params={
            "username": "foo", "password": "bar", "to": to, "from": "12345", "content": f"hello {to}",
            "dlr": "yes", "dlr-url": f"{hook}?ref=mt-{index}", "dlr-level": "3", "dlr-method": method})
        if response.status_code != 200 or not response.text.startswith("Success"):
            raise RuntimeError(f"/send to {to}: {response.status_code} {response.text}")
        ids[to] = response.text.split('"')[1]
    expected_receipts = sum(1 + (level2 is not None) for _, level2 in MTS.values())

    def stored() -> list[dict[str, Any]] | None:
        data = httpx.get(f"{smshook}/v1/events", params={"limit": 100}, timeout=5).json()["data"]
        statuses = [e for e in data if e["type"] == "status"]
        inbound = [e for e in data if e["type"] == "inbound"]
        return data if len(statuses) >= expected_receipts and len(inbound) >= len(MOS) else None

    try:
        events = wait_for("smshook to store every receipt and inbound message", stored, 60)
    except RuntimeError:
        events = httpx.get(f"{smshook}/v1/events", params={"limit": 100}, timeout=5).json()["data"]
    time.sleep(2)  # anything more (a retry stored twice, an extra receipt) would show now
    events = httpx.get(f"{smshook}/v1/events", params={"limit": 100}, timeout=5).json()["data"]
    return check(events, ids, procs)


def check(events: list[dict[str, Any]], ids: dict[str, str], procs: Processes) -> list[str]:
    problems: list[str] = []
    by_id = {jasmin_id: to for to, jasmin_id in ids.items()}
    got: dict[str, list[tuple[str, str, str]]] = {}
    for e in events:
        if e["type"] == "status":
            to = by_id.get(e["message_id"], f"unknown id {e['message_id']}")
            got.setdefault(to, []).append((e["details"].get("level", ""), e["status"], e["provider_status"]))
    for to, (level1, level2) in MTS.items():
        want = [("1", level1)] + ([("2", level2)] if level2 else [])
        have = sorted((level, status) for level, status, _ in got.pop(to, []))
        line = f"MT to {to}: {have}"
        if have != want:
            problems.append(f"{line}, expected {want}")
        say(line)
    problems += [f"unexpected receipts for {to}: {rows}" for to, rows in got.items()]
    inbound = sorted((e["from"], e["to"], e["text"], e["details"].get("coding")) for e in events
                     if e["type"] == "inbound")
    want_in = sorted((f, t, text, str(coding)) for f, t, coding, text in MOS)
    say(f"inbound: {inbound}")
    if inbound != want_in:
        problems.append(f"inbound {inbound}, expected {want_in}")
    paths = [procs.workdir / "log" / name for name in ("dlr-thrower.log", "deliversm-thrower.log")]
    logs = "\n".join(path.read_text(errors="replace") for path in paths if path.exists())
    thrown, failed = logs.count("Throwed "), logs.count("Throwing ")
    say(f"Jasmin's throwers: {thrown} requests made, {failed} answers not accepted")
    if failed:  # an answer other than ACK/Jasmin is logged as "Throwing … to …: <error>" and retried
        problems.append(f"Jasmin did not accept {failed} of smshook's answers (not ACK/Jasmin)")
    return problems


def main() -> int:
    missing = [name for name, ok in (("rabbitmq-server", RABBITMQ.exists()),
                                     ("redis-server", shutil.which("redis-server") is not None),
                                     ("epmd (erlang-base)", shutil.which("epmd") is not None)) if not ok]
    if missing:
        say(f"missing Debian packages: {', '.join(missing)} (apt-get install -y rabbitmq-server redis-server)")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="smshook-e2e-jasmin-"))
    procs = Processes(workdir)
    started = time.monotonic()
    try:
        problems = run(workdir, procs)
    except Exception as exc:
        problems = [f"{type(exc).__name__}: {exc}"]
        for name in ("jasmind", "rabbitmq", "smsc", "smshook"):
            say(f"--- {name} log\n{procs.log(name)}")
    finally:
        procs.stop()
    say(f"workdir {workdir} (logs kept); {time.monotonic() - started:.0f} s in all")
    if problems:
        say("FAILED:\n  " + "\n  ".join(problems))
        return 1
    say("PASSED: every receipt and inbound message Jasmin threw was stored with the right status and text")
    print(json.dumps({"result": "passed", "seconds": round(time.monotonic() - started)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
