"""The live feed (``GET /v1/stream``) against real server processes: events appear, a reconnect
with Last-Event-ID resumes, events written by another process show up, and an open stream does
not hold up the server's shutdown."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import Server

TOKEN = "stream-test-token-0123456789"
AUTH = {"authorization": f"Bearer {TOKEN}"}


def csoft(server: Server, message_id: str, report: str = "0", minute: int = 11) -> None:
    body = (f"Username=NULL&PIN=NULL&SendTo=447700912345&Timestamp1=2025-07-26T14%3A{minute:02d}%3A00Z"
            f"&MessageIdentifier={message_id}&Report={report}")
    r = httpx.post(f"{server.url}/hooks/csoft", content=body, timeout=10)
    assert r.status_code == 200, r.text


class Reader:
    """Reads an SSE stream in a thread; frames land in ``frames`` as (id, event) pairs."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.frames: queue.Queue[tuple[str, dict[str, object]] | None] = queue.Queue()
        self.status: int | None = None
        self.opened = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(url, headers), daemon=True)
        self.thread.start()
        assert self.opened.wait(10), "stream did not open"

    def _run(self, url: str, headers: dict[str, str]) -> None:
        try:
            with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(10, read=30)) as r:
                self.status = r.status_code
                self.content_type = r.headers.get("content-type", "")
                self.opened.set()
                frame_id, data = None, None
                for line in r.iter_lines():
                    if line.startswith("id: "):
                        frame_id = line[4:]
                    elif line.startswith("data: "):
                        data = json.loads(line[6:])
                    elif line == "" and data is not None:
                        self.frames.put((frame_id or "", data))
                        frame_id, data = None, None
        except httpx.HTTPError:
            pass
        finally:
            self.opened.set()
            self.frames.put(None)

    def next(self, timeout: float = 10) -> tuple[str, dict[str, object]]:
        item = self.frames.get(timeout=timeout)
        assert item is not None, "stream ended"
        return item


@pytest.fixture
def server(server_factory: type[Server]) -> Iterator[Server]:
    yield server_factory(env={"SMSHOOK_API_TOKEN": TOKEN}).start()


def test_stream_needs_the_token(server: Server) -> None:
    r = httpx.get(f"{server.url}/v1/stream", timeout=5)
    assert r.status_code == 401
    assert "token" in r.json()["error"]
    r = httpx.get(f"{server.url}/v1/stream", headers={**AUTH, "last-event-id": "x1"}, timeout=5)
    assert r.status_code == 400
    assert r.json()["error"].lower().startswith(("last-event-id:", "header.last-event-id:"))  # names the header
    r = httpx.get(f"{server.url}/v1/stream", params={"type": "nope"}, headers=AUTH, timeout=5)
    assert r.status_code == 400
    assert "type" in r.json()["error"]


def test_events_appear_filtered_and_resume_with_last_event_id(server: Server) -> None:
    everything = Reader(f"{server.url}/v1/stream", AUTH)
    inbound_only = Reader(f"{server.url}/v1/stream?type=inbound", AUTH)
    assert everything.status == 200
    assert everything.content_type.startswith("text/event-stream")
    csoft(server, "AAAA0001")
    first_id, first = everything.next()
    assert first["message_id"] == "AAAA0001" and first["status"] == "delivered"
    csoft(server, "AAAA0002")
    csoft(server, "AAAA0003")
    assert [everything.next()[1]["message_id"] for _ in range(2)] == ["AAAA0002", "AAAA0003"]
    with pytest.raises(queue.Empty):  # nothing inbound was sent
        inbound_only.frames.get(timeout=1.5)
    # A reconnect that says where it was gets what it missed, in order, then live events.
    resumed = Reader(f"{server.url}/v1/stream", {**AUTH, "last-event-id": first_id})
    assert [resumed.next()[1]["message_id"] for _ in range(2)] == ["AAAA0002", "AAAA0003"]
    csoft(server, "AAAA0004")
    assert resumed.next()[1]["message_id"] == "AAAA0004"
    assert everything.next()[1]["message_id"] == "AAAA0004"


def test_events_written_by_another_process_appear(server_factory: type[Server], server: Server) -> None:
    other = server_factory(env={"SMSHOOK_API_TOKEN": TOKEN}).start()  # same SQLite file, second process
    reader = Reader(f"{server.url}/v1/stream?connection=csoft", AUTH)
    csoft(other, "BBBB0001")
    assert reader.next()[1]["message_id"] == "BBBB0001"


def test_open_stream_does_not_delay_shutdown(server: Server) -> None:
    readers = [Reader(f"{server.url}/v1/stream", AUTH) for _ in range(3)]
    assert all(r.status == 200 for r in readers)
    assert server.process is not None
    started = time.monotonic()
    server.process.terminate()  # SIGTERM: uvicorn's graceful shutdown
    code = server.process.wait(15)
    took = time.monotonic() - started
    assert code in (0, -15), server.output()  # uvicorn re-raises the SIGTERM it handled, after shutdown
    assert took < 4, f"shutdown took {took:.1f} s with open streams"
    for r in readers:  # every stream ended cleanly
        r.thread.join(5)
        assert not r.thread.is_alive()
    assert "timeout graceful shutdown exceeded" not in server.output()
