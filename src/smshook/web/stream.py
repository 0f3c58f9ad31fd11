"""The live feed: ``GET /v1/stream`` as server-sent events.

One poller per process reads newly committed events from the store by feed position (every
``interval`` seconds, only while someone listens) and fans them out to the open streams: ten open
dashboards cost one query, events written by other processes or instances sharing the store show up
too, and the hook path is not touched at all.

Each event is one frame ``id: <position>`` + ``data: <event JSON>``. A client that reconnects with a
``Last-Event-ID`` header first gets what it missed, read from the store, then the live events. Idle
streams get a ``: ping`` comment every ``heartbeat`` seconds. A stream whose reader falls too far
behind is ended (the client reconnects and catches up from the store), and :meth:`Feed.close` ends
every stream at once, so a server shutdown never waits for open dashboards.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from smshook.storage.base import Store

log = logging.getLogger("smshook")
Item = tuple[int, dict[str, Any]] | None  # None: the stream ends
PAGE = 500


@dataclass(eq=False)
class Subscriber:
    connection: str | None
    type: str | None
    queue: asyncio.Queue[Item] = field(default_factory=lambda: asyncio.Queue(1000))

    def matches(self, event: dict[str, Any]) -> bool:
        return (self.connection is None or event["connection"] == self.connection) and (
            self.type is None or event["type"] == self.type)

    def offer(self, item: Item) -> bool:
        """Queue an item; False when the reader is too far behind (its stream then ends)."""
        try:
            self.queue.put_nowait(item)
            return True
        except asyncio.QueueFull:
            while not self.queue.empty():  # make room for the end marker
                self.queue.get_nowait()
            self.queue.put_nowait(None)
            return False


class Feed:
    """The shared poller and its subscribers (one per process)."""

    def __init__(self, store: Store, *, interval: float = 0.5, heartbeat: float = 15.0, idle: float = 30.0) -> None:
        self.store = store
        self.interval = interval
        self.heartbeat = heartbeat
        self.idle = idle  # the poller stops after this long without subscribers
        self.subscribers: set[Subscriber] = set()
        self.position = 0  # events up to here were handed to the subscribers
        self.closed = False
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None

    async def _start(self) -> None:
        if self._task is None:
            self._ready = asyncio.get_running_loop().create_future()
            self._task = asyncio.create_task(self._poll(self._ready), name="smshook-feed")
        assert self._ready is not None
        await asyncio.shield(self._ready)

    async def _poll(self, ready: asyncio.Future[None]) -> None:
        try:
            self.position = await self.store.feed_position()
        except Exception as exc:
            ready.set_exception(exc)
            self._task = None
            return
        ready.set_result(None)
        idle_for = 0.0
        while not self.closed:
            await asyncio.sleep(self.interval)
            if not self.subscribers:
                idle_for += self.interval
                if idle_for >= self.idle:
                    break
                continue
            idle_for = 0.0
            try:
                rows = await self.store.feed(self.position, PAGE)
            except Exception as exc:  # the store is unavailable for a moment: try again next time
                log.warning("live feed: cannot read new events: %s", exc)
                continue
            for position, event in rows:  # no await from here on: subscribe() sees a consistent position
                for sub in list(self.subscribers):
                    if sub.matches(event) and not sub.offer((position, event)):
                        self.subscribers.discard(sub)
                self.position = position
        self._task = None

    async def subscribe(self, after: int | None, connection: str | None = None,
                        type: str | None = None) -> tuple[Subscriber, list[tuple[int, dict[str, Any]]]]:
        """Register a stream; returns it with the backlog it missed since ``after`` (when given)."""
        await self._start()
        sub = Subscriber(connection, type)
        self.subscribers.add(sub)
        # Everything after self.position reaches sub.queue; the store holds the rest (after, position].
        end, backlog = self.position, []
        cursor = after if after is not None else end
        try:
            while cursor < end:
                page = await self.store.feed(cursor, PAGE, connection, type)
                backlog += [(p, e) for p, e in page if p <= end]
                if len(page) < PAGE or page[-1][0] >= end:
                    break
                cursor = page[-1][0]
        except BaseException:
            self.subscribers.discard(sub)
            raise
        return sub, backlog

    async def stream(self, sub: Subscriber, backlog: list[tuple[int, dict[str, Any]]]) -> AsyncIterator[bytes]:
        last = -1
        try:
            yield b"retry: 2000\n\n"
            for position, event in backlog:
                last = position
                yield frame(position, event)
            while not self.closed:
                try:
                    item = await asyncio.wait_for(sub.queue.get(), self.heartbeat)
                except TimeoutError:
                    yield b": ping\n\n"
                    continue
                if item is None:
                    return
                if item[0] > last:
                    last = item[0]
                    yield frame(*item)
        finally:
            self.subscribers.discard(sub)

    def close(self) -> None:
        """End every open stream and the poller (server shutdown)."""
        self.closed = True
        for sub in list(self.subscribers):
            sub.offer(None)
        self.subscribers.clear()
        if self._task is not None:
            self._task.cancel()


def frame(position: int, event: dict[str, Any]) -> bytes:
    return b"id: %d\ndata: %s\n\n" % (position, orjson.dumps(event))


LAST_EVENT_ID = re.compile(r"^[0-9]{1,18}$")


def add_stream_route(router: APIRouter, feed: Feed, error: Callable[[int, str], Exception]) -> None:
    @router.get(
        "/stream", summary="New events as server-sent events (text/event-stream)",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}},
                         "description": "`id: <position>` and `data: <event JSON>` per event; `: ping` "
                                        "comments when idle. Reconnect with `Last-Event-ID` to resume."}},
    )
    async def stream(
        connection: str | None = None,
        type: Literal["status", "inbound", "optout", "optin"] | None = None,
        last_event_id: Annotated[str | None, Header(
            description="Resume after this event position", pattern=LAST_EVENT_ID.pattern,
            json_schema_extra={"type": "string"})] = None,
    ) -> StreamingResponse:
        if last_event_id is not None and not LAST_EVENT_ID.match(last_event_id.strip()):
            raise error(400, f"Last-Event-ID: {last_event_id!r} is not an id sent by this stream")
        if feed.closed:
            raise error(503, "the server is shutting down")
        after = int(last_event_id) if last_event_id is not None else None
        sub, backlog = await feed.subscribe(after, connection, type)
        return StreamingResponse(feed.stream(sub, backlog), media_type="text/event-stream",
                                 headers={"cache-control": "no-store", "x-accel-buffering": "no"})


def close_on_exit_signals(close: Callable[[], None]) -> None:
    """Call ``close`` (in the event loop) when the server receives SIGINT or SIGTERM, before the
    server's own handler: uvicorn's graceful shutdown waits for open responses, and an event stream
    never ends by itself. Only possible in the main thread (a no-op elsewhere, e.g. in tests)."""
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue

        def handler(signum: int, frame: FrameType | None, previous: Any = previous) -> None:
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(close)
            previous(signum, frame)

        signal.signal(sig, handler)
