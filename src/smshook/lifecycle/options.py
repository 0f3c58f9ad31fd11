"""The per-connection lifecycle settings (``link_window``, ``final_within``, keyword lists)."""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_STOP = ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE")
DEFAULT_START = ("START", "UNSTOP", "YES")
DEFAULT_HELP = ("HELP", "INFO")
# A stop keyword that opts the subscriber out of every number and sender id, not only the one written to.
EVERY_SENDER = frozenset({"STOPALL"})

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: str | float | int) -> float:
    """Seconds from ``"30s"``, ``"15m"``, ``"72h"``, ``"2d"``, ``"250ms"`` or a plain number of seconds."""
    if isinstance(value, bool):
        raise ValueError("must be a duration such as '30s', '15m', '72h' or '0'")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not a duration (write e.g. '30s', '15m', '72h', '2d' or '0')")
        seconds = float(match.group(1)) * _UNIT[match.group(2)]
    if seconds < 0:
        raise ValueError("must not be negative")
    return seconds


def keywords(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Keywords as compared: upper-cased single words."""
    out = []
    for value in values:
        word = value.strip().upper()
        if not word or any(c.isspace() for c in word):
            raise ValueError(f"{value!r} is not one word")
        out.append(word)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class LifecycleOptions:
    """One connection's lifecycle settings, as the running service uses them (seconds, upper-case)."""

    link_window: float = 0.0  # hold a status event of an unregistered message this long before forwarding
    final_within: float = 72 * 3600.0  # a message without a final status by then gets a synthetic expired
    stop_keywords: tuple[str, ...] = DEFAULT_STOP
    start_keywords: tuple[str, ...] = DEFAULT_START
    help_keywords: tuple[str, ...] = DEFAULT_HELP


DEFAULT_OPTIONS = LifecycleOptions()
