"""Logging for ``smshook serve``: text or JSON lines on stderr, phone numbers masked.

Every log line of the process (smshook's own and uvicorn's) goes through one handler whose
formatter renders it and then, unless ``log_phone_numbers`` is set, masks every phone number in
the finished line: messages, structured fields, quarantine reasons that echo a provider's body,
tracebacks. Masking in one place means no call site can forget it.

JSON lines hold ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``msg``, then the record's structured
fields (``extra=`` of the logging call: ``connection``, ``provider``, ``outcome``, ``events``,
``duplicates``, ``latency_ms``, ``request_id``, …) and ``exc`` for a traceback. Text lines show the
same fields as ``key=value`` after the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = ["JsonFormatter", "StderrHandler", "TextFormatter", "configure", "dict_config", "fast_line",
           "mask_phones"]

TRACE = 5  # uvicorn's level below DEBUG
LEVELS = {"critical": logging.CRITICAL, "error": logging.ERROR, "warning": logging.WARNING, "info": logging.INFO,
          "debug": logging.DEBUG, "trace": TRACE}

# A phone number: 9-15 digits (international, with or without + / 00 / %2B), or + and digits with
# single spaces. Not inside a longer word, hex string, decimal number or UUID.
_PHONE = re.compile(r"(?<![\w.-])(?:\+|%2[Bb])?\d{9,15}(?!\w|\.\d)|(?<![\w.-])\+\d(?: ?\d){8,14}(?!\w|\.\d)")
_KEEP = 7  # leading digits shown: country code and network prefix, never the subscriber part
_HIDDEN = 4  # at least this many trailing digits hidden

# Attributes every LogRecord has: anything else on a record came from ``extra=`` and is a field.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName", "color_message"}  # the last: uvicorn's message with terminal colours


def _mask(match: re.Match[str]) -> str:
    text = match.group()
    digits = sum(c.isdigit() for c in text)
    keep = min(_KEEP, digits - _HIDDEN)
    if text[:3] in ("%2B", "%2b"):
        keep += 1  # the 2 of %2B is not part of the number
    out = []
    for c in text:
        if c.isdigit():
            out.append(c if keep > 0 else "*")
            keep -= 1
        else:
            out.append(c)
    return "".join(out)


def mask_phones(text: str) -> str:
    """``text`` with each phone number's trailing digits replaced by ``*`` (``+31612345678`` ->
    ``+3161234****``)."""
    if len(text) > 80:
        return _PHONE.sub(_mask, text)
    # Short values repeat from line to line (connection, path, outcome, message): remember them.
    masked = _short.get(text)
    if masked is None:
        if len(_short) >= 4096:
            _short.clear()
        masked = _short[text] = _PHONE.sub(_mask, text)
    return masked


_short: dict[str, str] = {}
_PLAIN = (str, int, float, bool)


def _same(text: str) -> str:
    return text


# Control characters (C0, DEL, C1, and the Unicode line and paragraph separators): a CR/LF in a
# stranger's string (a connection name in a hook URL) would otherwise start a forged log line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_TB_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")  # a traceback keeps its newlines


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _ESCAPES:
        return _ESCAPES[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def escape_controls(text: str) -> str:
    """``text`` with every control character written as an escape (``\\r``, ``\\n``, ``\\x1b``):
    one logged value can never span, end or colour a line of the text log."""
    return text if text.isprintable() else _CONTROL.sub(_escape, text)


# The token segment of a hook URL (``/hooks/<connection>/<token>``), wherever a line shows it:
# uvicorn's own ASGI message log at ``--log-level trace`` prints each request's scope.
_HOOK_TOKEN = re.compile(r"(/hooks/[^/\s'\"?#]+/)[^\s'\"?#,)]+")


def hide_tokens(text: str) -> str:
    return _HOOK_TOKEN.sub(r"\1***", text) if "/hooks/" in text else text


class _Formatter(logging.Formatter):
    def __init__(self, mask: bool = True) -> None:
        super().__init__()
        self.mask = mask
        self.heads: dict[Any, Any] = {}  # fast_line's rendered constant parts

    def format(self, record: logging.LogRecord) -> str:
        """Masks the message, every string field and the traceback, one by one: scanning whole lines
        would cost more (the time stamp, the level) and, in JSON, an escape (``\\n``) could hide a number."""
        mask = mask_phones if self.mask else _same
        fields = self.fields(vars(record).items())
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        tb = _TB_CONTROL.sub(_escape, mask(hide_tokens(record.exc_text))) if record.exc_text else None
        return self.render(record, self.text(record.getMessage()), fields, tb)

    def text(self, value: str) -> str:
        """A string as written into a line: tokens hidden, phone numbers masked, controls escaped."""
        return self.clean((mask_phones if self.mask else _same)(hide_tokens(value)))

    def fields(self, items: Any) -> dict[str, Any]:
        """The structured fields among a record's attributes, each as written into a line."""
        fields: dict[str, Any] = {}
        for key, value in items:
            if key in _STANDARD or value is None:
                continue
            if not isinstance(value, _PLAIN):
                value = str(value)
            fields[key] = self.text(value) if type(value) is str else value
        return fields

    def head(self, name: str, levelno: int, msg: str, fields: dict[str, Any]) -> Any:
        """The part of a line that is the same for every record with this logger, level, message and
        these fields, rendered once (see :func:`fast_line`)."""
        raise NotImplementedError

    def line(self, head: Any, created: float, fields: dict[str, Any]) -> str:
        """A whole line from a :meth:`head` and more fields, which must be numbers or strings that
        need no masking or escaping (ids smshook made, IP addresses): what :meth:`format` would write
        for the record."""
        raise NotImplementedError

    @staticmethod
    def clean(text: str) -> str:
        """A value as written into a line (the text format escapes control characters)."""
        return text

    def render(self, record: logging.LogRecord, msg: str, fields: dict[str, Any], tb: str | None) -> str:
        raise NotImplementedError

    @staticmethod
    def timestamp(record: logging.LogRecord) -> str:
        return _timestamp(record.created)


def _timestamp(created: float) -> str:
    """``2026-03-01T12:00:00.123Z``; the part up to the second is made once per second."""
    second = int(created)
    micros = round((created - second) * 1e6)  # as datetime.fromtimestamp rounds, then isoformat cuts
    if micros >= 1_000_000:
        second, micros = second + 1, micros - 1_000_000
    global _second
    cached = _second  # one read: another thread may replace it meanwhile, never half of it
    if cached[0] != second:
        cached = _second = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S."))
    return f"{cached[1]}{micros // 1000:03d}Z"


_second: tuple[int | None, str] = (None, "")


class TextFormatter(_Formatter):
    """``2026-03-01T12:00:00.123Z INFO smshook.access: POST /hooks/uk 200 accepted connection=uk …``

    The message and every field have their control characters escaped (:func:`escape_controls`):
    one record is one line, plus its traceback's lines, whatever a stranger put in a value."""

    clean = staticmethod(escape_controls)

    def render(self, record: logging.LogRecord, msg: str, fields: dict[str, Any], tb: str | None) -> str:
        parts = [self.timestamp(record), logging.getLevelName(record.levelno), f"{record.name}:", msg]
        parts += [f"{k}={v}" for k, v in fields.items()]
        line = " ".join(parts)
        return f"{line}\n{tb}" if tb else line

    def head(self, name: str, levelno: int, msg: str, fields: dict[str, Any]) -> str:
        return " ".join([logging.getLevelName(levelno), f"{name}:", self.text(msg),
                         *[f"{k}={v}" for k, v in self.fields(fields.items()).items()]])

    def line(self, head: Any, created: float, fields: dict[str, Any]) -> str:
        return f"{_timestamp(created)} {head}" + "".join([f" {k}={v}" for k, v in fields.items() if v is not None])


class JsonFormatter(_Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg``, fields, ``exc``."""

    def render(self, record: logging.LogRecord, msg: str, fields: dict[str, Any], tb: str | None) -> str:
        data: dict[str, Any] = {"ts": self.timestamp(record), "level": logging.getLevelName(record.levelno).lower(),
                                "logger": record.name, "msg": msg}
        for key, value in fields.items():
            data.setdefault(key, value)
        if tb:
            data["exc"] = tb
        return orjson.dumps(data).decode()

    def head(self, name: str, levelno: int, msg: str, fields: dict[str, Any]) -> dict[str, Any]:
        return {"level": logging.getLevelName(levelno).lower(), "logger": name, "msg": self.text(msg),
                **self.fields(fields.items())}

    def line(self, head: Any, created: float, fields: dict[str, Any]) -> str:
        data = {"ts": _timestamp(created), **head}
        for key, value in fields.items():
            if value is not None:
                data.setdefault(key, value)
        return orjson.dumps(data).decode()


MAX_WAITING_LINES = 1024  # StderrHandler writes at once when this many lines wait for the loop's turn


class StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (a test's capture, a restarted worker's)."""

    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        # The logging module's own optimizations (its documentation, "Optimization"): no caller
        # lookup, thread or process names per record; none of them is shown. About a third of the
        # cost of an access line.
        logging._srcfile = None
        logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
        logging.captureWarnings(True)  # Python warnings become log lines too (JSON like the rest)
        self._buffer_lock = threading.Lock()
        self._lines: list[str] = []  # access lines waiting for the end of the loop's turn (see write)
        self._flush_on: asyncio.AbstractEventLoop | None = None  # the loop asked to write them

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.write(self.format(record))
        except Exception:
            self.handleError(record)

    def write(self, line: str, *, batched: bool = False) -> None:
        """Writes one finished line, at once. ``batched`` (access lines, :func:`fast_line`): on an
        event loop's thread the line waits for the end of the loop's current turn and goes out with
        the others of that turn in one write: under load one system call (and one release of the
        GIL) per several access lines instead of one per line. Any other line goes out at once, after
        the lines still waiting, so a process that ends abruptly (uvicorn re-raises SIGTERM after its
        shutdown) loses at most one turn's access lines, never a message."""
        loop: asyncio.AbstractEventLoop | None = None
        if batched:
            with contextlib.suppress(RuntimeError):  # no loop running in this thread
                loop = asyncio.get_running_loop()
        with self._buffer_lock:
            self._lines.append(line)
            if loop is None or len(self._lines) >= MAX_WAITING_LINES:
                self._write_out()
            elif self._flush_on is not loop:  # not yet asked of this loop (a loop may end before its turn)
                self._flush_on = loop
                loop.call_soon(self.flush)

    def flush(self) -> None:
        with self._buffer_lock:
            if self._lines:
                self._write_out()

    def _write_out(self) -> None:
        lines, self._lines = self._lines, []
        self._flush_on = None
        stream = sys.stderr
        stream.write("\n".join(lines) + "\n")
        stream.flush()


def fast_line(logger: logging.Logger, key: Any, fields: dict[str, Any],
              head: Callable[..., tuple[str, dict[str, Any]]], *args: Any) -> bool:
    """Writes an info line of ``logger`` the cheap way, if nothing but smshook's own handler would see
    its record: the formatter renders the constant part (message and fields that ``head(*args)``
    returns) once per ``key`` and adds ``fields`` (numbers, ids, addresses: see :meth:`_Formatter.line`) to it; no
    :class:`logging.LogRecord` is made. The line is the one the logging call would write (a test holds
    them side by side). False when another handler, a filter or a level is in the way: then log it
    the usual way (tests attach their own handlers, operators their own configuration)."""
    root = logging.root
    handlers = root.handlers
    if len(handlers) != 1 or logger.handlers or logger.filters or root.filters or not logger.propagate:
        return False
    handler = handlers[0]
    if type(handler) is not StderrHandler or handler.filters or handler.level > logging.INFO:
        return False
    parent = logger.parent
    while parent is not None and parent is not root:
        if parent.handlers or parent.filters or not parent.propagate:
            return False
        parent = parent.parent
    if not logger.isEnabledFor(logging.INFO):
        return True  # nothing to write: done
    formatter = handler.formatter
    if not isinstance(formatter, _Formatter):
        return False
    heads = formatter.heads
    rendered = heads.get(key)
    if rendered is None:
        if len(heads) >= 4096:
            heads.clear()
        msg, constant = head(*args)
        rendered = heads[key] = formatter.head(logger.name, logging.INFO, msg, constant)
    handler.write(formatter.line(rendered, time.time(), fields), batched=True)
    return True


QUIET_LIBRARIES = ("httpx", "httpcore")


def dict_config(level: str = "info", fmt: str = "text", mask: bool = True) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` for these settings; uvicorn applies it in every worker."""
    formatter = JsonFormatter if fmt == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"smshook": {"()": f"{__name__}.{formatter.__name__}", "mask": mask}},
        "handlers": {"smshook": {"()": f"{__name__}.StderrHandler", "formatter": "smshook"}},
        "root": {"handlers": ["smshook"], "level": LEVELS[level]},
        "loggers": {**{name: {"handlers": [], "propagate": True} for name in ("uvicorn", "uvicorn.error")},
                    # the HTTP client's lines show whole URLs (a subscription's secret query string):
                    # smshook logs each forwarding attempt itself, masked (forwarding.dispatcher)
                    **{name: {"level": "WARNING"} for name in QUIET_LIBRARIES}},
    }


def configure(level: str = "info", fmt: str = "text", mask: bool = True) -> None:
    """Install the handler on the root logger (replacing an earlier one of ours, leaving others)."""
    logging.addLevelName(TRACE, "TRACE")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, StderrHandler)]:
        root.removeHandler(handler)
    handler = StderrHandler()
    handler.setFormatter((JsonFormatter if fmt == "json" else TextFormatter)(mask))
    root.addHandler(handler)
    root.setLevel(LEVELS[level])
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
