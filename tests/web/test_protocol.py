"""The guarded HTTP protocol of `smshook serve` (issue 11, defect 3): bounded header blocks and read
timeouts, on a real uvicorn server on a loopback port; normal clients unaffected."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from smshook.app import SmshookApp
from smshook.settings import load_settings
from smshook.storage.sqlite import SQLiteStore
from smshook.web.protocol import MAX_HEAD, MAX_LINE, GuardedHttpToolsProtocol
from tests.e2e.conftest import free_port


class Quick(GuardedHttpToolsProtocol):
    head_timeout = 0.5
    body_timeout = 0.5


class SlowBody(GuardedHttpToolsProtocol):  # a body may take longer than the headers
    head_timeout = 0.5
    body_timeout = 3.0


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, protocol: type[GuardedHttpToolsProtocol] = Quick) -> AsyncIterator[int]:
    port = free_port()
    app = SmshookApp(load_settings(), SQLiteStore(tmp_path / "x.db"))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http=protocol, lifespan="on", log_config=None,
                            access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(1000):  # uvicorn offers no event to wait on
            if server.started:
                break
            await asyncio.sleep(0.01)
        yield port
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def port(tmp_path: Path) -> AsyncIterator[int]:
    async with serving(tmp_path) as p:
        yield p


async def exchange(port: int, data: bytes, *, pause: float = 0.0) -> bytes:
    """Send ``data`` (in 64 KiB writes; ``pause`` seconds before the last), then read until closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        chunks = [data[i:i + 65536] for i in range(0, len(data), 65536)]
        for i, chunk in enumerate(chunks):
            if pause and i == len(chunks) - 1:
                await asyncio.sleep(pause)
            writer.write(chunk)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)
    except ConnectionError:
        return b""
    finally:
        writer.close()


GET = b"GET /hooks/spryng?REFERENCE=r&STATUS=Delivered HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"


async def test_normal_requests_are_unaffected(port: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        big = {f"x-h{i}": "v" * 1000 for i in range(12)}  # 12 KiB of headers: within the limit
        r = await client.get("/hooks/spryng", params={"REFERENCE": "r", "STATUS": "Delivered"}, headers=big)
        assert (r.status_code, r.text) == (200, "TRUE")
        r = await client.post("/hooks/spryng", content=b"REFERENCE=r2&STATUS=Delivered")
        assert r.status_code == 200


async def test_a_huge_header_block_is_refused_early(port: int) -> None:
    started = time.monotonic()
    answer = await exchange(port, GET + b"X-Big: " + b"a" * (10 << 20) + b"\r\n\r\n")
    assert time.monotonic() - started < 3
    assert answer.startswith(b"HTTP/1.1 431 ") or answer == b""  # closed before all of it was sent


async def test_header_limits_answer_431_and_414(port: int) -> None:
    line = await exchange(port, GET + b"X-Big: " + b"a" * MAX_LINE + b"\r\n\r\n")
    assert line.startswith(b"HTTP/1.1 431 ") and b"over 8192 bytes" in line
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"a" * 4000) for i in range(5))
    block = await exchange(port, GET + many + b"\r\n")
    assert block.startswith(b"HTTP/1.1 431 ") and str(MAX_HEAD).encode() in block
    target = await exchange(port, b"GET /hooks/spryng?x=" + b"a" * MAX_LINE + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    assert target.startswith(b"HTTP/1.1 414 ")


async def test_slow_headers_are_answered_408(port: int) -> None:
    started = time.monotonic()
    answer = await exchange(port, GET + b"\r\n", pause=2.0)  # the blank line comes too late
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < 2.5


async def test_an_idle_connection_is_closed(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert (await asyncio.wait_for(reader.read(), 3)).startswith(b"HTTP/1.1 408 ")
    writer.close()


async def test_a_slow_body_is_dropped(port: int) -> None:
    head = b"POST /hooks/spryng HTTP/1.1\r\nHost: t\r\nContent-Length: 29\r\n\r\n"
    started = time.monotonic()
    answer = await exchange(port, head + b"REFERENCE=r3&STATUS=Delivered", pause=2.0)
    assert time.monotonic() - started < 2.5
    assert b"TRUE" not in answer  # dropped before the body was complete: nothing stored, nothing acknowledged


async def test_kept_alive_connections_get_each_requests_own_deadlines(tmp_path: Path) -> None:
    """One timer per connection, moved from deadline to deadline: requests on one connection that
    together last longer than the header timeout are served, and so is a body slower than the header
    timeout (within its own); the next request's slow headers still get their 408 on time, though the
    timer was last set for the longer body deadline."""
    head = b"POST /hooks/spryng HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n"
    async with serving(tmp_path, SlowBody) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for n in range(4):  # 4 x 0.3 s: past the 0.5 s header timeout, and past the first timer
                body = b"REFERENCE=k%d&STATUS=Delivered" % n
                writer.write(head % len(body))
                await asyncio.sleep(0.8 if n == 3 else 0)  # the last body: later than a header may be
                writer.write(body)
                answer = await asyncio.wait_for(reader.readuntil(b"TRUE"), 3)
                assert answer.startswith(b"HTTP/1.1 200 ")
                await asyncio.sleep(0.3 if n < 3 else 0)
            writer.write(b"POST /hooks/spryng HTTP/1.1\r\nHost: t\r\n")  # the rest of the headers never come
            started = time.monotonic()
            answer = await asyncio.wait_for(reader.read(), 5)
            assert answer.startswith(b"HTTP/1.1 408 ")
            assert 0.3 < time.monotonic() - started < 1.5  # the header deadline, not the body's 3 s
        finally:
            writer.close()
