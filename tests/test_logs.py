"""Log formatting: JSON lines, text lines, phone numbers masked in every part of a line."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from smshook.logs import JsonFormatter, TextFormatter, mask_phones
from tests.test_cli import run, started  # noqa: F401  (fixture)


@pytest.mark.parametrize(("text", "masked"), [
    ("+31612345678", "+3161234****"),
    ("SendTo=447700912345&Report=0", "SendTo=4477009*****&Report=0"),
    ('{"to":"420777123456"}', '{"to":"4207771*****"}'),
    ("to 00420777123456.", "to 0042077*******."),
    ("%2B447700912345", "%2B4477009*****"),
    ("+44 7700 912345", "+44 7700 9*****"),
    ("<msisdn>\n447700912345</msisdn>", "<msisdn>\n4477009*****</msisdn>"),
])
def test_phone_numbers_are_masked(text: str, masked: str) -> None:
    assert mask_phones(text) == masked


@pytest.mark.parametrize("text", [
    "01a23188-329c-7000-8cda-225344123456",  # a UUID's last group
    "2026-03-01T12:00:00.123Z 127.0.0.1:8080",
    "latency 0.123456789 ms",
    "short code 12345, message 0042, 8 digits 12345678",
    "token abc447700912345",  # inside a word: not a number on its own
])
def test_other_numbers_are_left_alone(text: str) -> None:
    assert mask_phones(text) == text


def record(msg: str, *args: object, exc: bool = False, **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("bad MSISDN '447700912345'")
        except ValueError:
            import sys

            exc_info = sys.exc_info()
    rec = logging.LogRecord("smshook.test", logging.WARNING, __file__, 1, msg, args, exc_info)
    rec.__dict__.update(extra)
    return rec


def test_json_lines_mask_message_fields_and_traceback() -> None:
    rec = record("reason: %s", "field 'to':\n'447700912345'", exc=True, connection="uk", events=2,
                 body="<to>447700912345</to>", latency_ms=1.5)
    line = JsonFormatter().format(rec)
    assert "\n" not in line and "447700912345" not in line
    data = json.loads(line)
    assert data["level"] == "warning" and data["logger"] == "smshook.test" and data["ts"].endswith("Z")
    assert data["msg"] == "reason: field 'to':\n'4477009*****'"
    assert data["connection"] == "uk" and data["events"] == 2 and data["latency_ms"] == 1.5
    assert data["body"] == "<to>4477009*****</to>" and "ValueError: bad MSISDN '4477009*****'" in data["exc"]
    unmasked = json.loads(JsonFormatter(mask=False).format(record("to %s", "447700912345")))
    assert unmasked["msg"] == "to 447700912345"


def test_text_lines_show_fields_and_mask() -> None:
    line = TextFormatter().format(record("to %s", "+447700912345", connection="uk", request_id=None, exc=True))
    first, *traceback = line.splitlines()
    assert first.endswith("WARNING smshook.test: to +4477009***** connection=uk")  # None fields left out
    assert "447700912345" not in line and traceback[-1] == "ValueError: bad MSISDN '4477009*****'"


@pytest.mark.usefixtures("clean_env")
def test_serve_json_logs_from_the_first_line(started: dict[str, Any]) -> None:  # noqa: F811 (the fixture)
    result = run("serve", "--log-format", "JSON", "--log-level", "debug", env={"SMSHOOK_LOG_PHONE_NUMBERS": "1"})
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stderr.splitlines()]  # banner and warnings too
    assert lines[0]["msg"].startswith("smshook ") and "listening on http://127.0.0.1:8080" in lines[0]["msg"]
    assert any(r["level"] == "warning" and "the API is open" in r["msg"] for r in lines)
    settings = started["settings"]
    assert (settings.log_format, settings.log_level, settings.log_phone_numbers) == ("json", "debug", True)
    config = started["log_config"]  # what uvicorn applies in each (worker) process
    assert config["formatters"]["smshook"] == {"()": "smshook.logs.JsonFormatter", "mask": False}
    assert config["root"]["level"] == logging.DEBUG and started["log_level"] == "debug"


@pytest.mark.usefixtures("clean_env")
def test_serve_rejects_an_unknown_log_format() -> None:
    result = run("serve", env={"SMSHOOK_LOG_FORMAT": "xml"})
    assert result.exit_code == 2
    assert "log_format: Input should be 'text' or 'json' (from SMSHOOK_LOG_FORMAT)" in result.stderr
