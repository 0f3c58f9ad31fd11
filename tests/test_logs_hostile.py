"""Log lines a stranger cannot forge, and that never show a hook token (issue 11, defects 6 and 9)."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from uvicorn.middleware.message_logger import MessageLoggerMiddleware

from smshook import logs
from smshook.app import SmshookApp
from smshook.settings import load_settings
from smshook.storage.sqlite import SQLiteStore

FORGED = "x\r\n2026-01-01T00:00:00.000Z INFO smshook.access: POST /hooks/uk 200 accepted"


def record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("smshook.access", logging.INFO, "", 0, msg, args, None)
    rec.__dict__.update(extra)
    return rec


@pytest.mark.parametrize("mask", [True, False])
def test_control_characters_in_any_value_stay_on_one_line(mask: bool) -> None:
    line = logs.TextFormatter(mask).format(record("%s %s 404", "GET", f"/hooks/{FORGED}", path=f"/hooks/{FORGED}",
                                                  connection="\x1b[31mred\u2028", outcome="not_found"))
    assert "\n" not in line and "\r" not in line and "\x1b" not in line and "\u2028" not in line
    assert "/hooks/x\\r\\n2026-01-01T00:00:00.000Z INFO" in line
    assert "connection=\\x1b[31mred\\u2028" in line


def test_a_traceback_keeps_its_lines_but_not_a_strangers_carriage_returns() -> None:
    try:
        raise ValueError("bad\rvalue\x1b")
    except ValueError:
        rec = logging.LogRecord("smshook", logging.ERROR, "", 0, "failed", (), __import__("sys").exc_info())
    text = logs.TextFormatter().format(rec)
    assert text.count("\n") >= 2 and "\r" not in text and "\x1b" not in text


def test_json_lines_are_one_line_each() -> None:
    line = logs.JsonFormatter().format(record("%s", f"/hooks/{FORGED}", path=f"/hooks/{FORGED}"))
    assert "\n" not in line and "\r" not in line


async def test_no_hook_token_at_trace_level(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """uvicorn's own ASGI message logger (on at --log-level trace) prints every request's scope."""
    secret = "s3cr3t-hook-token-value"
    settings = load_settings(connections={"uk": {"provider": "spryng", "token": secret}})
    app = SmshookApp(settings, SQLiteStore(tmp_path / "x.db"))
    logs.configure("trace", "text")
    # as `serve --log-level trace` does (uvicorn sets it; an in-process server of an earlier test may have
    # left it at another level)
    monkeypatch.setattr(logging.getLogger("uvicorn.asgi"), "level", logs.TRACE)
    await app.store.open()
    try:
        transport = httpx.ASGITransport(MessageLoggerMiddleware(app))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            r = await client.get(f"/hooks/uk/{secret}", params={"REFERENCE": "r", "STATUS": "Delivered"})
            assert r.status_code == 200
    finally:
        await app.store.close()
    err = capsys.readouterr().err
    assert "Started scope=" in err  # the trace lines were written...
    assert "/hooks/uk/***" in err
    assert secret not in err  # ...without the token
