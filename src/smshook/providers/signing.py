"""Shared pieces of :meth:`Provider.verify <smshook.providers.base.Provider.verify>`: constant-time
comparison, HMACs, replay windows and the request's parameters exactly as signed.

Every check raises :class:`~smshook.errors.SignatureError` with a message that says what did not
match (never a secret, never the expected signature).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime
from urllib.parse import parse_qsl

from smshook.errors import SignatureError
from smshook.providers.base import RawRequest

# Seconds a signed timestamp may be away from our clock (Telnyx's SDK; providers-next.md for the others).
WINDOW = 300


def same(given: str | bytes, expected: str | bytes) -> bool:
    """Constant-time equality of two signatures (text is compared as UTF-8)."""
    a = given.encode() if isinstance(given, str) else given
    b = expected.encode() if isinstance(expected, str) else expected
    return hmac.compare_digest(a, b)


def any_same(given: Iterable[str | bytes], expected: Iterable[str | bytes]) -> bool:
    """Whether any given signature equals any expected one (every pair is compared: no early exit)."""
    wanted = list(expected)
    ok = False
    for g in given:
        for e in wanted:
            ok |= same(g, e)
    return ok


def hmac_digest(algorithm: str, key: str | bytes, message: str | bytes) -> bytes:
    """``HMAC-<algorithm>(key, message)``; text as UTF-8. ``algorithm``: a hashlib name (sha1, sha256...)."""
    k = key.encode() if isinstance(key, str) else key
    m = message.encode() if isinstance(message, str) else message
    return hmac.new(k, m, getattr(hashlib, algorithm)).digest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fresh(request: RawRequest, timestamp: str | float | None, *, window: float = WINDOW,
          what: str = "timestamp") -> datetime:
    """Check a signed Unix ``timestamp`` is within ``window`` seconds of when the request arrived
    (either direction); returns it. Missing or unreadable: ``SignatureError(reason="missing")``;
    too old or in the future: ``reason="stale"``."""
    if timestamp is None or timestamp == "":
        raise SignatureError(f"no {what}: the request is not signed", reason="missing")
    try:
        seconds = float(timestamp)
    except (TypeError, ValueError):
        raise SignatureError(f"{what} {str(timestamp)[:32]!r} is not a Unix time", reason="signature") from None
    now = request.now()
    skew = now.timestamp() - seconds
    if abs(skew) > window:
        raise SignatureError(f"{what} is {abs(skew):.0f} s {'old' if skew > 0 else 'in the future'} "
                             f"(allowed: {window:.0f} s); a replay, or a clock off", reason="stale")
    return datetime.fromtimestamp(seconds, now.tzinfo)


def form_pairs(data: bytes) -> list[tuple[str, str]]:
    """Every ``name=value`` pair of a form body or query string, in order, repeated names kept,
    decoded as providers sign them (``+`` is a space, UTF-8 with a Latin-1 fallback)."""
    out = []
    for name, value in parse_qsl(data, keep_blank_values=True):
        out.append((_text(name), _text(value)))
    return out


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
