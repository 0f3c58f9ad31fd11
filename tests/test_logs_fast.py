"""The access line's fast path (logs.fast_line) writes exactly what the logging call would, and the
handler's per-turn buffer loses and reorders nothing."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import sys
from collections.abc import Iterator

import pytest

from smshook import logs
from smshook.web import hooks

HOSTILE = ["/hooks/uk", "/hooks/uk/secret-token", "/hooks/x\r\n2026-01-01T00:00:00.000Z INFO forged",
           "/hooks/+447700900123", "/hooks/" + "9" * 200, "/hooks/\x1b[31mred\u2028"]


class Conn:
    def __init__(self, name: str) -> None:
        self.name = name
        self.provider = type("P", (), {"slug": "csoft"})()


@contextlib.contextmanager
def alone(fmt: str = "text", mask: bool = True) -> Iterator[io.StringIO]:
    """smshook's handler as the only one on the root logger (pytest's own capture handlers taken off for
    the moment), writing into the returned buffer: the set-up of `smshook serve`."""
    root = logging.getLogger()
    saved, stderr = root.handlers[:], sys.stderr
    out = sys.stderr = io.StringIO()
    try:
        logs.configure("info", fmt, mask)
        root.handlers = [h for h in root.handlers if isinstance(h, logs.StderrHandler)]
        yield out
    finally:
        sys.stderr = stderr
        root.handlers = saved


def access_line(path: str, connection: Conn | None, fast: bool) -> None:
    root = logging.getLogger()
    extra = logging.NullHandler()
    if not fast:  # another handler on the root logger: the usual logging call
        root.addHandler(extra)
    else:  # the fast path makes no LogRecord
        hooks.access_log.makeRecord = None  # type: ignore[assignment,method-assign]
    ex = hooks.Exchange()
    ex.outcome, ex.events, ex.duplicates, ex.request_id = "accepted", 1, 0, "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
    scope = {"method": "POST", "path": path, "client": ("203.0.113.9", 4000)}
    try:
        hooks._log_access(scope, connection, 200, ex, 0.001234)  # type: ignore[arg-type]
    finally:
        root.removeHandler(extra)
        vars(hooks.access_log).pop("makeRecord", None)
    logging.getLogger().handlers[0].flush()


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("mask", [True, False])
@pytest.mark.parametrize("path", HOSTILE)
@pytest.mark.parametrize("known", [True, False])
def test_the_fast_line_is_the_logging_line(fmt: str, mask: bool, path: str, known: bool,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.time", lambda: 1764770000.1234)  # both lines get the same time stamp
    name = path[len(hooks.PREFIX):].partition("/")[0]
    connection = Conn(name) if known else None
    with alone(fmt, mask) as stream:
        access_line(path, connection, fast=True)
        fast = stream.getvalue()
    with alone(fmt, mask) as stream:
        access_line(path, connection, fast=False)
        slow = stream.getvalue()
    assert fast == slow and fast.count("\n") == 1
    assert "secret-token" not in fast and "\r" not in fast and "\x1b" not in fast
    if mask:
        assert "447700900123" not in fast


def handler() -> logs.StderrHandler:
    found = logging.getLogger().handlers[0]
    assert isinstance(found, logs.StderrHandler)
    return found


def texts(stream: io.StringIO) -> list[str]:
    return [line.split(": ", 1)[1] if ": " in line else line for line in stream.getvalue().splitlines()]


async def test_access_lines_wait_for_the_end_of_the_loops_turn_and_keep_their_order() -> None:
    with alone() as stream:
        for n in range(5):
            handler().write(f"access {n}", batched=True)
        assert stream.getvalue() == ""  # not yet: one write at the end of this turn
        await asyncio.sleep(0)
        assert texts(stream) == [f"access {n}" for n in range(5)]


async def test_any_other_line_goes_out_at_once_after_the_waiting_access_lines() -> None:
    """A process can end without another turn of its loop (uvicorn re-raises SIGTERM after its
    shutdown lines): a message never waits, and takes the waiting access lines with it."""
    log = logging.getLogger("smshook.test")
    with alone() as stream:
        handler().write("access 1", batched=True)
        log.info("shutting down")
        assert texts(stream) == ["access 1", "shutting down"]


def test_a_batched_line_off_any_loop_goes_out_at_once() -> None:
    with alone() as stream:
        handler().write("access 1", batched=True)
        assert texts(stream) == ["access 1"]


async def test_a_loop_that_ended_before_its_turn_holds_no_line_back() -> None:
    with alone() as stream:
        gone = asyncio.new_event_loop()
        gone.close()
        handler()._lines.append("first")  # left waiting by a loop that closed before its turn came
        handler()._flush_on = gone
        handler().write("second", batched=True)  # this loop is asked to write both
        await asyncio.sleep(0)
        assert texts(stream) == ["first", "second"]


async def test_many_waiting_lines_go_out_without_waiting_for_the_turn() -> None:
    with alone() as stream:
        for n in range(logs.MAX_WAITING_LINES):
            handler().write(f"access {n}", batched=True)
        assert len(texts(stream)) == logs.MAX_WAITING_LINES  # written at the limit, before the turn ended


def test_timestamps_match_datetimes_rounding() -> None:
    from datetime import UTC, datetime

    for t in (0.0, 1764770000.9995, 1764770000.9999999, 3170579254.7229996, 1764770000.0004999):
        assert logs._timestamp(t) == datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace(
            "+00:00", "Z")
