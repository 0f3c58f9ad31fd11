"""The deployment examples in deploy/, run for real: nginx with TLS in front of a real smshook server
(allow_ips sees the client's address through trusted_proxies), the systemd unit through
``systemd-analyze``, and the container's health check command."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from twilio.request_validator import RequestValidator

from tests.e2e.conftest import Server, free_port

DEPLOY = Path(__file__).parents[2] / "deploy"
RECEIPT = ("Username=NULL&PIN=NULL&SendTo=447700912345&Timestamp1=2005-07-26T14:11:00Z"
           "&MessageIdentifier={}&Report=0")
PROVIDER = "127.0.0.2"  # the only address connection `p` accepts
PROXY = "127.0.0.3"  # where nginx connects to smshook from: the only trusted proxy


def adapt(example: str, *, http_port: int, tls_port: int, upstream_port: int, cert: Path, key: Path) -> str:
    """deploy/nginx.conf with loopback ports, a throwaway certificate, and nginx connecting to smshook
    from PROXY (so the test client's own 127.0.0.1 is not a trusted proxy)."""
    for old, new in [
        ("server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream_port};"),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen [::]:80;", ""),
        ("listen 443 ssl;", f"listen 127.0.0.1:{tls_port} ssl;"),
        ("listen [::]:443 ssl;", ""),
        ("/etc/letsencrypt/live/sms.example.com/fullchain.pem", str(cert)),
        ("/etc/letsencrypt/live/sms.example.com/privkey.pem", str(key)),
        ("proxy_pass http://smshook;", f"proxy_pass http://smshook;\n        proxy_bind {PROXY};"),
    ]:
        assert old in example, f"deploy/nginx.conf no longer contains {old!r}: update this test"
        example = example.replace(old, new)
    return example


@dataclass
class Nginx:
    https: str
    http: str
    cert: Path


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        pytest.skip("nginx is not installed (scripts/test installs the Debian package nginx)")
    return found


@pytest.fixture
def proxied(server_factory: type[Server], tmp_path: Path,
            request: pytest.FixtureRequest) -> Iterator[tuple[Nginx, Server]]:
    """A real smshook (connection `p` takes callbacks from PROVIDER only) behind a real nginx. Indirect
    parametrization may add config text, where ``{https}`` is nginx's TLS address."""
    binary = nginx_binary()
    http_port, tls_port = free_port(), free_port()
    config = tmp_path / "smshook.toml"
    config.write_text(f'trusted_proxies = ["{PROXY}"]\n\n[connections.p]\nprovider = "csoft"\n'
                      f'allow_ips = ["{PROVIDER}"]\n'
                      + getattr(request, "param", "").replace("{https}", f"https://127.0.0.1:{tls_port}"))
    server = server_factory(config=config).start()

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", str(key),
                    "-out", str(cert), "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    site = tmp_path / "smshook-site.conf"
    site.write_text(adapt((DEPLOY / "nginx.conf").read_text(), http_port=http_port, tls_port=tls_port,
                          upstream_port=server.port, cert=cert, key=key))
    temp = {name: tmp_path / f"nginx-{name}" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    main = tmp_path / "nginx.conf"
    main.write_text(
        "daemon off;\nmaster_process off;\nworker_processes 1;\n"
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/nginx-error.log warn;\n"
        "events { worker_connections 256; }\n"
        "http {\n    access_log off;\n"
        + "".join(f"    {name}_temp_path {path};\n" for name, path in temp.items())
        + f"    include {site};\n}}\n"
    )
    command = [binary, "-p", str(tmp_path), "-e", str(tmp_path / "nginx-error.log"), "-c", str(main)]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", tls_port), timeout=1).close()
                break
            except OSError:
                log = (tmp_path / "nginx-error.log").read_text()
                assert process.poll() is None and time.monotonic() < deadline, log
                time.sleep(0.05)
        yield Nginx(f"https://127.0.0.1:{tls_port}", f"http://127.0.0.1:{http_port}", cert), server
    finally:
        process.terminate()
        process.wait(10)


def client(source: str, verify: ssl.SSLContext | bool = True) -> httpx.Client:
    """A client whose connections come from ``source`` (any 127.0.0.0/8 address is local on Linux)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source, verify=verify), timeout=10)


def test_nginx_passes_the_real_client_address(proxied: tuple[Nginx, Server]) -> None:
    nginx, server = proxied
    tls = ssl.create_default_context(cafile=str(nginx.cert))  # real TLS, checked against the throwaway cert
    hook = f"{nginx.https}/hooks/p"
    with client(PROVIDER, tls) as provider, client("127.0.0.1", tls) as stranger:
        accepted = provider.post(hook, content=RECEIPT.format("N1"))
        refused = stranger.post(hook, content=RECEIPT.format("N2"))
        forged = stranger.post(hook, content=RECEIPT.format("N3"), headers={"X-Forwarded-For": PROVIDER})
        too_large = provider.post(hook, content=b"x" * (1024 * 1024 + 1))
        api = stranger.get(f"{nginx.https}/v1/events")
    assert accepted.status_code == 200 and accepted.text.startswith("MessageIdentifier=N1&Report=0"), accepted.text
    assert refused.status_code == 403 and "source address 127.0.0.1 is not allowed" in refused.text
    assert forged.status_code == 403 and "source address 127.0.0.1 is not allowed" in forged.text
    assert too_large.status_code == 413  # nginx's client_max_body_size, before smshook
    assert [e["message_id"] for e in api.json()["data"]] == ["N1"]

    with client("127.0.0.1") as plain:
        redirect = plain.post(f"{nginx.http}/hooks/p", content=RECEIPT.format("N4"))
        # Straight to smshook, not through nginx: the header is not believed (not from a trusted proxy).
        direct = plain.post(f"{server.url}/hooks/p", content=RECEIPT.format("N5"),
                            headers={"X-Forwarded-For": PROVIDER})
    assert redirect.status_code == 301 and redirect.headers["location"].startswith("https://127.0.0.1/hooks/p")
    assert direct.status_code == 403

    with sqlite3.connect(server.database) as db:
        (client_address, headers), = db.execute("SELECT client, headers FROM raw_requests").fetchall()
    assert client_address == PROVIDER  # the stored request names the provider, not the proxy
    assert ["x-forwarded-for", PROVIDER] in json.loads(headers)


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    smshook = Path(sys.executable).with_name("smshook")
    unit = tmp_path / "smshook.service"
    unit.write_text((DEPLOY / "smshook.service").read_text().replace("/opt/smshook/bin/smshook", str(smshook)))
    verified = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True)
    # Unknown keys and bad values are only warnings: any output at all is a failure.
    assert verified.returncode == 0 and verified.stdout + verified.stderr == "", verified.stderr
    security = subprocess.run([tool, "security", "--offline=true", "--threshold=20", str(unit)],
                              capture_output=True, text=True)
    assert security.returncode == 0, security.stdout[-2000:]  # exposure 2.0 or less ("OK")


def test_container_health_check_command(server: Server) -> None:
    """The Containerfile's HEALTHCHECK, run as written: passes against a live server, fails without one."""
    text = (DEPLOY / "Containerfile").read_text().replace("\\\n", " ")
    check = next(line for line in text.splitlines() if line.startswith("HEALTHCHECK"))
    command = json.loads(check[check.index("CMD") + 3:].strip())
    assert command[0] == "python"
    env = {**os.environ, "SMSHOOK_PORT": str(server.port)}
    assert subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True).returncode == 0
    env["SMSHOOK_PORT"] = str(free_port())
    assert subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True).returncode != 0


# -- signatures behind nginx -------------------------------------------------------------------------
# Signatures behind the shipped nginx (deploy/nginx.conf): Twilio signs the URL configured in its
# console — here ``https://127.0.0.1:<port>/hooks/tw`` — which nginx does not pass on whole (``Host:
# $host`` drops the port). With ``public_url`` set the signature still verifies and the callback is
# stored; without it smshook rebuilds ``https://127.0.0.1/hooks/tw2`` from the trusted proxy's headers,
# refuses the request, and the rejected log shows which URL it checked.

TWILIO_TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
TWILIO_CONFIG = f"""
[connections.tw]
provider = "twilio"
auth_token = "{TWILIO_TOKEN}"
public_url = "{{https}}/hooks/tw"

[connections.tw2]
provider = "twilio"
auth_token = "{TWILIO_TOKEN}"
"""


@pytest.mark.parametrize("proxied", [TWILIO_CONFIG], indirect=True)
def test_twilio_signature_verifies_behind_nginx_with_public_url(proxied: tuple[Nginx, Server]) -> None:
    nginx, server = proxied
    tls = ssl.create_default_context(cafile=str(nginx.cert))
    form = [("SmsSid", "SM0b6e2697aae04182a9f5b5c7a8994c7f"), ("SmsStatus", "received"),
            ("Body", "Hello + 'quoted' @ 5:30"), ("From", "+14133881111"), ("To", "+12028831111"),
            ("MessageSid", "SM0b6e2697aae04182a9f5b5c7a8994c7f"), ("NumSegments", "1")]
    with client(PROVIDER, tls) as twilio:
        answers = {}
        for name in ("tw", "tw2"):
            url = f"{nginx.https}/hooks/{name}?uuid=O%27Brien+1"  # what Twilio calls and signs, query verbatim
            signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, dict(form))
            answers[name] = twilio.post(url, content=urlencode(form), headers={
                "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature})
    ok, refused = answers["tw"], answers["tw2"]
    assert ok.status_code == 200, (ok.text, server.output()[-2000:])
    assert ok.headers["content-type"].startswith("text/xml") and "<Response/>" in ok.text and "<Message" not in ok.text
    assert refused.status_code == 403
    with httpx.Client(timeout=10) as api:
        events = api.get(f"{server.url}/v1/events").json()["data"]
        rejected = api.get(f"{server.url}/v1/rejected").json()["data"]
    assert [(e["connection"], e["text"]) for e in events] == [("tw", "Hello + 'quoted' @ 5:30")]
    [row] = rejected
    assert row["connection"] == "tw2" and row["reason"] == "signature"
    assert row["request"]["url"] == "https://127.0.0.1/hooks/tw2?uuid=O%27Brien+1"  # nginx's $host has no port
