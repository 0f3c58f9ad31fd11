"""The HTTP/1.1 protocol ``smshook serve`` runs: uvicorn's httptools protocol with limits on what one
connection may make the server hold.

uvicorn (with httptools) reads a request's header block without any limit: httptools accumulates a
header value by concatenation, so a 100 MB header costs the event loop seconds and the process its
size in memory, and it keeps a connection open for as long as the client takes to send its headers or
body. This protocol:

* refuses a header block over :data:`MAX_HEAD` bytes, or one header line over :data:`MAX_LINE`
  bytes, with ``431 Request Header Fields Too Large`` (a request target over :data:`MAX_LINE`:
  ``414 URI Too Long``), and closes the connection;
* answers ``408 Request Timeout`` and closes a connection whose request headers have not all
  arrived :data:`HEAD_TIMEOUT` seconds after its first byte (or after the connection opened);
* closes a connection whose request body has not all arrived :data:`BODY_TIMEOUT` seconds after its
  headers (the application sees a disconnect, as when the client goes away).

Idle keep-alive connections are closed by uvicorn's own ``timeout_keep_alive``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD = 16 * 1024  # request line and headers, in all
MAX_LINE = 8 * 1024  # the request target, or one header (name and value)
HEAD_TIMEOUT = 10.0  # seconds to send the request line and headers
BODY_TIMEOUT = 30.0  # seconds to send the body once the headers are in

_REASONS = {408: b"Request Timeout", 414: b"URI Too Long", 431: b"Request Header Fields Too Large"}


class _Refused(Exception):
    """Raised from a parser callback: httptools turns it into an HttpParserError."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` with bounded header blocks and read timeouts (see the module)."""

    max_head = MAX_HEAD
    max_line = MAX_LINE
    head_timeout = HEAD_TIMEOUT
    body_timeout = BODY_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading_head = True  # between requests and inside a header block
        self._head_bytes = 0
        self._refusal: tuple[int, str] | None = None
        # One timer per connection, not two per request: each phase only moves the deadline (a float),
        # and the timer, when it fires early, sleeps again until the deadline it finds then. Arming and
        # cancelling a loop timer costs ~2.4 µs; a request lasts well under either timeout.
        self._timer: asyncio.TimerHandle | None = None
        self._deadline: float | None = None  # loop time; None: nothing to wait for (idle keep-alive)
        self._on_deadline: Callable[[], None] = self._head_timed_out

    # -- timers -----------------------------------------------------------------------------------
    def _arm(self, seconds: float, callback: Callable[[], None]) -> None:
        deadline = self._deadline = self.loop.time() + seconds
        self._on_deadline = callback
        timer = self._timer
        if timer is None or timer.when() > deadline:  # none set, or set for later than this deadline
            if timer is not None:
                timer.cancel()
            self._timer = self.loop.call_at(deadline, self._check_deadline)

    def _disarm(self) -> None:
        self._deadline = None  # the timer, if any, finds nothing to do and stops

    def _check_deadline(self) -> None:
        self._timer = None
        if self._deadline is None:
            return
        if self.loop.time() < self._deadline:  # moved on since the timer was set: wait again
            self._timer = self.loop.call_at(self._deadline, self._check_deadline)
            return
        self._deadline = None
        self._on_deadline()

    def _stop_timer(self) -> None:
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _head_timed_out(self) -> None:
        if not self.transport.is_closing():
            self._refuse(408, f"request headers not received within {self.head_timeout:g} s")

    def _body_timed_out(self) -> None:
        if not self.transport.is_closing():
            self.logger.info("closed a connection from %s: request body not received within %g s",
                             self.client[0] if self.client else "?", self.body_timeout)
            self.transport.close()

    # -- refusals ---------------------------------------------------------------------------------
    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` with ``message`` and close the connection (no application involved)."""
        self._stop_timer()
        body = message.encode("ascii", "replace") + b"\n"
        self.transport.write(b"".join([
            b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b"Bad Request")),
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n", body]))
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        if self._refusal is not None:  # one of our callbacks refused: its own status, not a 400
            self._refuse(*self._refusal)
        else:
            self._disarm()
            super().send_400_response(msg)

    # -- protocol and parser callbacks ------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.head_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            if self._deadline is None:  # the first byte of the next request on a kept-alive connection
                self._arm(self.head_timeout, self._head_timed_out)
            end = data.find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else end
            if self._head_bytes > self.max_head:
                self._refuse(431, f"request header block over {self.max_head} bytes")
                return
        super().data_received(data)

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.max_line:
            self._refusal = (414, f"request target over {self.max_line} bytes")
            raise _Refused

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) + len(value) > self.max_line:
            self._refusal = (431, f"header {name[:64].decode('latin-1')!r} over {self.max_line} bytes")
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._head_bytes = 0
        self._arm(self.body_timeout, self._body_timed_out)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._reading_head = True
        super().on_message_complete()
