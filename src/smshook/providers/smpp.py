"""What SMPP gateways (Kannel, Jasmin) pass through from their SMSCs: receipt texts and command statuses.

An SMSC's delivery receipt is a text of the form (SMPP 3.4, appendix B)::

    id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text: ...

Kannel hands it over as ``%A`` in the ``dlr-url``; Jasmin splits it into form fields. The final
states (``stat``) and the SMPP command statuses (``ESME_*``, or ``0x%08lx`` numbers in Kannel's
``NACK/`` replies) are mapped here once for both.
"""

from __future__ import annotations

import re
from datetime import datetime

from smshook.errors import InvalidRequest
from smshook.events import FailureClass
from smshook.providers import formats

# stat -> (unified status, failure class). ACCEPTD/ENROUTE: the SMSC still holds the message.
STATES: dict[str, tuple[str, FailureClass | None]] = {
    "DELIVRD": ("delivered", None),
    "ACCEPTD": ("sent", None),
    "ENROUTE": ("buffered", None),
    "BUFFRED": ("buffered", None),
    "BUFFERD": ("buffered", None),
    "EXPIRED": ("expired", "temporary"),
    "DELETED": ("undelivered", None),  # why is in err: carrier-specific, so no class
    "UNDELIV": ("undelivered", None),
    "REJECTD": ("rejected", "permanent"),
    "UNKNOWN": ("unknown", None),
}

# SMPP command statuses that mean "try again later"; every other error status is permanent.
TEMPORARY_ESME: dict[int, str] = {
    0x08: "ESME_RSYSERR",
    0x14: "ESME_RMSGQFUL",
    0x58: "ESME_RTHROTTLED",
}

_FIELD = re.compile(r"(id|sub|dlvrd|submit date|done date|stat|err|text):", re.IGNORECASE)


def receipt_fields(text: str) -> dict[str, str]:
    """The fields of an SMSC receipt text (``id``, ``sub``, ``dlvrd``, ``submit date``, ``done date``,
    ``stat``, ``err``, ``text``), lower-case names, values stripped; ``{}`` when it is not one.
    ``text:`` runs to the end (it may hold spaces and colons)."""
    marks = list(_FIELD.finditer(text))
    if not any(m.group(1).lower() == "stat" for m in marks):
        return {}
    fields: dict[str, str] = {}
    for index, mark in enumerate(marks):
        name = mark.group(1).lower()
        if name in fields:
            continue
        if name == "text":
            fields[name] = text[mark.end():]
            break
        end = marks[index + 1].start() if index + 1 < len(marks) else len(text)
        fields[name] = text[mark.end():end].strip()
    return fields


def state(stat: str) -> tuple[str, FailureClass | None] | None:
    """Unified status and class of a receipt ``stat``, None for a state SMPP does not define."""
    return STATES.get(stat.strip().upper())


def submit_time(value: str | None, zone: str) -> datetime | None:
    """A receipt's ``submit date`` (``YYMMDDhhmm``, or ``YYMMDDhhmmss`` as some SMSCs write it) in the
    SMSC's zone: the start of the message's time to delivery (smshook.lifecycle). None when absent or not
    such a time: it only adds information, so a receipt is never refused for it."""
    text = (value or "").strip()
    if not (text.isascii() and text.isdigit() and len(text) in (10, 12)):
        return None
    try:
        return formats.parse_time(text, "%y%m%d%H%M%S" if len(text) == 12 else "%y%m%d%H%M", zone,
                                  field="submit date")
    except InvalidRequest:
        return None
