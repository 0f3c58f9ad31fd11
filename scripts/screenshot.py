#!/usr/bin/env python3
# ruff: noqa: S105, S603  (a developer tool: a fixed throwaway token, our own commands)
"""Regenerate docs/dashboard.png: start smshook on a scratch database, fill it with `smshook simulate`
(every built-in provider), open the dashboard in Debian's chromium and take a screenshot.

    .venv/bin/python scripts/screenshot.py [--page live|connections|...] [--out docs/dashboard.png]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "screenshot-token-0123456789abcdef"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TRAFFIC = [("bulkgate", 10), ("csoft", 40), ("webcom", 5), ("spryng", 30), ("cdyne", 30)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", default="live", help="dashboard route to capture (default: live)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SMSHOOK_API_TOKEN": TOKEN}
        server = subprocess.Popen([sys.executable, "-m", "smshook", "serve", "--port", str(port), "--database",
                                   f"sqlite:///{tmp}/smshook.db"], env=env, cwd=tmp,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            simulators = [subprocess.Popen(  # all at once, so the providers' callbacks interleave
                [sys.executable, "-m", "smshook", "simulate", provider, "--url", f"{url}/hooks/{provider}",
                 "--count", str(count), "--rate", "10", "--seed", "42", "--out-of-order"],
                stdout=subprocess.DEVNULL) for provider, count in TRAFFIC]
            if any(sim.wait(120) != 0 for sim in simulators):
                sys.exit("a simulator failed")
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
                page = browser.new_page(base_url=url, viewport={"width": 1200, "height": 760})
                page.set_default_timeout(15_000)
                page.goto(f"/#/{args.page}")
                page.locator("#token").fill(TOKEN)
                page.get_by_role("button", name="Open dashboard").click()
                page.locator("#login").wait_for(state="hidden")
                page.locator("#view h1").wait_for()  # (the live feed's stream never lets the network idle)
                page.wait_for_timeout(3500)  # data loaded, the "new row" highlight faded
                args.out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.out))
                browser.close()
        finally:
            server.terminate()
            server.wait(15)
    print(f"{args.out}: {args.out.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
