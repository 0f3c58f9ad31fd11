"""Forwarding safety at delivery time: names resolving to private addresses, and what a receiver's
error body may leave in last_error."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest

from smshook.forwarding.dispatcher import DispatchConfig, Dispatcher
from smshook.forwarding.model import Claimed, DeliveryQuery, Subscription
from smshook.forwarding.sinks import MAX_BODY_SHOWN, WebhookSink, status_line
from smshook.forwarding.targets import UnsafeTarget, check_resolved, check_url
from smshook.storage import Store
from tests.e2e.conftest import free_port
from tests.forwarding.conftest import SECRET, Receiver
from tests.storage.test_store import raw, status

FAST = DispatchConfig(schedule=(0, 0.2), jitter=0, timeout=1.0, lease=3, poll_interval=0.05)


async def test_a_name_resolving_to_loopback_is_refused_at_delivery(store: Store, receiver: Receiver) -> None:
    # Stored directly (as an older smshook, or another instance with the setting on, would have):
    # "localhost" resolves to 127.0.0.1, which this dispatcher may not reach.
    port = receiver.url.rsplit(":", 1)[1]
    await store.put_subscription(Subscription(id="s", kind="webhook", target=f"http://localhost:{port}/x",
                                              secrets=(SECRET,)))
    await store.append(raw(), [status("m1", "delivered")])
    dispatcher = Dispatcher(store, FAST)
    assert await dispatcher.run_once() == 1
    await dispatcher.stop()
    [delivery] = await store.deliveries(DeliveryQuery())
    assert receiver.requests() == [] and delivery["state"] == "pending"
    assert "unsafe target" in delivery["last_error"] and "forwarding_allow_private_targets" in delivery["last_error"]
    allowed = Dispatcher(store, DispatchConfig(schedule=(0, 0), jitter=0, timeout=1.0, lease=3,
                                               allow_private_targets=True))
    deadline = time.monotonic() + 5
    while not receiver.requests("/x") and time.monotonic() < deadline:
        await allowed.run_once()
        await asyncio.sleep(0.05)
    await allowed.stop()
    assert len(receiver.requests("/x")) == 1


async def test_resolution_checks_every_address(monkeypatch: pytest.MonkeyPatch) -> None:
    # A public-looking name whose DNS answer points inside (no network: the resolver is replaced).
    answers = {"rebind.example": ["93.184.216.34", "169.254.169.254"], "inside.example": ["10.0.0.7"],
               "fine.example": ["93.184.216.34", "2606:2800:220:1::1"]}

    async def getaddrinfo(self: Any, host: str, port: int, **kw: Any) -> list[Any]:
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in answers[host]]

    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", getaddrinfo)
    with pytest.raises(UnsafeTarget, match=r"rebind.example \(resolves to 169.254.169.254\) is a cloud metadata"):
        await check_resolved("https://rebind.example/hook", allow_private=True)
    with pytest.raises(UnsafeTarget, match="private"):
        await check_resolved("https://inside.example/hook", allow_private=False)
    await check_resolved("https://inside.example/hook", allow_private=True)
    await check_resolved("https://fine.example/hook", allow_private=False)
    with pytest.raises(UnsafeTarget, match="loopback"):  # refused by its name, before any look-up
        await check_resolved("http://localhost/", allow_private=False)


def test_legacy_ipv4_forms_are_the_address_they_name() -> None:
    for url in ("http://0x7f000001/", "http://2130706433/", "http://0177.0.0.1/", "http://127.1/",
                "http://0x7f.1/"):
        with pytest.raises(UnsafeTarget, match="loopback"):
            check_url(url, allow_private=False)
    for url in ("http://0xa9fea9fe/", "http://2852039166/"):  # 169.254.169.254
        with pytest.raises(UnsafeTarget, match="metadata"):
            check_url(url, allow_private=True)
    assert check_url("https://hooks.example.com:8443/x", allow_private=False) == "hooks.example.com"


def test_last_error_keeps_a_short_printable_status_line() -> None:
    body = "<html>\r\n<title>Error</title>\x1b[31m" + "secret stack trace line\n" * 500
    line = status_line(body)
    assert len(line) <= MAX_BODY_SHOWN and "\n" not in line and "\r" not in line and "\x1b" not in line
    assert line.startswith("<html> <title>Error</title> [31msecret")


async def test_receiver_error_body_is_not_echoed_in_full() -> None:
    from aiohttp import web

    body = ("line one\r\nInjected: header\r\n" + "x" * 10_000).encode()

    async def fail(request: web.Request) -> web.Response:
        return web.Response(status=500, body=body)

    app = web.Application()
    app.router.add_post("/x", fail)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    sink = WebhookSink()
    try:
        sub = Subscription(id="s", kind="webhook", target=f"http://127.0.0.1:{port}/x", secrets=(SECRET,))
        result = await sink.send(Claimed("msg_1", sub, {"type": "status"}, 0, "me"), b"{}", 5.0)
    finally:
        await sink.aclose()
        await runner.cleanup()
    assert result.error is not None and result.error.startswith("HTTP 500: line one Injected: header xxx")
    assert len(result.error) <= len("HTTP 500: ") + MAX_BODY_SHOWN and "\r" not in result.error
