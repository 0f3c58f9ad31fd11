"""trusted_proxies: allow_ips sees the client behind our own reverse proxies, and nobody else's word."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from ipaddress import ip_network
from pathlib import Path

import httpx
import pytest

from smshook.app import SmshookApp
from smshook.settings import load_settings
from smshook.storage.sqlite import SQLiteStore
from smshook.web.hooks import TrustedProxies

PROVIDER_NET = "203.0.113.0/24"  # where the provider's callbacks come from
PROXIES = (ip_network("10.0.0.0/8"), ip_network("::1"))
RECEIPT = "Username=NULL&PIN=NULL&SendTo=447700912345&Timestamp1=2005-07-26T14:11:00Z&MessageIdentifier={}&Report=0"

Client = Callable[[str], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.mark.parametrize(("peer", "header", "client"), [
    ("10.0.0.5", None, "10.0.0.5"),  # no header: the peer
    ("10.0.0.5", "203.0.113.9", "203.0.113.9"),
    ("10.0.0.5", "203.0.113.9:4711", "203.0.113.9"),  # a port some proxies add
    ("10.0.0.5", "198.51.100.1, 203.0.113.9, 10.1.2.3", "203.0.113.9"),  # our proxy chain is skipped
    ("10.0.0.5", "203.0.113.9, 198.51.100.1", "198.51.100.1"),  # what the client wrote (left) is not believed
    ("10.0.0.5", "10.9.9.9, 10.1.1.1", "10.9.9.9"),  # every hop trusted: the left-most
    ("::1", '"[2001:db8::7]:80", ::1', "2001:db8::7"),
    ("10.0.0.5", "::ffff:203.0.113.9", "203.0.113.9"),  # IPv4-mapped IPv6 compares as IPv4
    ("10.0.0.5", "garbage", "10.0.0.5"),  # malformed: the peer
    ("10.0.0.5", "203.0.113.9, , 10.1.2.3", "10.0.0.5"),
    ("10.0.0.5", "203.0.113.9, [::1", "10.0.0.5"),
    ("10.0.0.5", "", "10.0.0.5"),
])
def test_forwarded_client(peer: str, header: str | None, client: str) -> None:
    headers = [(b"host", b"x")] + ([(b"x-forwarded-for", header.encode())] if header is not None else [])
    assert TrustedProxies(PROXIES).client(peer, headers) == client
    memo = TrustedProxies(PROXIES)  # what the hook path uses: the same answers, memoised
    assert memo.contains(peer) and memo.client(peer, headers) == memo.client(peer, headers) == client


def test_several_headers_are_one_list() -> None:
    headers = [(b"x-forwarded-for", b"198.51.100.1"), (b"x-forwarded-for", b"203.0.113.9, 10.0.0.2")]
    assert TrustedProxies(PROXIES).client("10.0.0.5", headers) == "203.0.113.9"


@pytest.fixture
async def hook_client(tmp_path: Path) -> AsyncIterator[Client]:
    """A client for the app whose connection ``p`` only takes callbacks from PROVIDER_NET."""
    store = SQLiteStore(tmp_path / "x.db")
    await store.open()

    @asynccontextmanager
    async def connect(peer: str, trusted: str = "10.0.0.0/8,::1") -> AsyncIterator[httpx.AsyncClient]:
        settings = load_settings(trusted_proxies=trusted,
                                 connections={"p": {"provider": "csoft", "allow_ips": [PROVIDER_NET]}})
        app = SmshookApp(settings, store)
        transport = httpx.ASGITransport(app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client

    yield connect
    await store.close()


async def post(client: httpx.AsyncClient, ident: str, forwarded: str | None) -> httpx.Response:
    headers = {"x-forwarded-for": forwarded} if forwarded is not None else {}
    return await client.post("/hooks/p", content=RECEIPT.format(ident), headers=headers)


async def test_spoofed_header_from_untrusted_peer_is_ignored(hook_client: Client) -> None:
    async with hook_client("198.51.100.7") as client:
        response = await post(client, "A1", "203.0.113.9")
    assert response.status_code == 403
    assert "198.51.100.7" in response.text


async def test_header_ignored_when_no_proxy_is_trusted(hook_client: Client) -> None:
    async with hook_client("10.0.0.5", trusted="") as client:
        assert (await post(client, "A2", "203.0.113.9")).status_code == 403


async def test_trusted_proxy_chain_is_honoured(hook_client: Client, tmp_path: Path) -> None:
    async with hook_client("10.0.0.5") as client:
        accepted = await post(client, "B1", "198.51.100.1, 203.0.113.9, 10.1.2.3")
        forged = await post(client, "B2", "203.0.113.9, 198.51.100.1")  # the client wrote the left part
        direct = await post(client, "B3", None)  # the proxy itself is not the provider
    assert accepted.status_code == 200 and accepted.text.startswith("MessageIdentifier=B1&Report=0")
    assert forged.status_code == 403 and "198.51.100.1" in forged.text
    assert direct.status_code == 403 and "10.0.0.5" in direct.text
    async with hook_client("::1") as client:
        assert (await post(client, "B4", "203.0.113.10")).status_code == 200
    with sqlite3.connect(tmp_path / "x.db") as db:  # the stored request names the real client
        clients = sorted(r[0] for r in db.execute("SELECT client FROM raw_requests"))
    assert clients == ["203.0.113.10", "203.0.113.9"]


@pytest.mark.parametrize("header", ["garbage", "203.0.113.9, ", "[::1", "999.1.1.1", "\u00ff\u00fe", "a" * 5000])
async def test_malformed_header_means_the_peer(hook_client: Client, header: str) -> None:
    async with hook_client("10.0.0.5") as client:
        response = await client.post("/hooks/p", content=RECEIPT.format("C1"),
                                     headers=[("x-forwarded-for", header.encode("latin-1"))])
    assert response.status_code == 403
    assert "source address 10.0.0.5 is not allowed" in response.text
