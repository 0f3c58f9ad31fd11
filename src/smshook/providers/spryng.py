"""Spryng: inbound SMS (MO gateway) and delivery reports.

Inbound: form fields by ``POST`` (Spryng's text) or in the query string of a ``GET`` (its C#
sample): ``MSISDN`` (the sender; a leading ``+`` may appear), ``KEYWORD`` (the first word),
``PARM`` (the rest of the text), ``OPERATOR`` (MCC+MNC), ``TIMESTAMP`` (``YYYYMMDDHHMMSS``, zone not
stated), ``SHORTCODE`` (our short code, national format), ``COUNTRY`` (ISO 3166-1 alpha-3) and an
optional ``REFERENCE``. Values are "from ISO-8859-1": read as UTF-8, else Latin-1. The German page's
translated names ``ZEITSTEMPEL``, ``KURZWAHLNUMMER`` (and the heading ``REFERENZ``) are accepted too.

Delivery reports: a ``GET`` with ``REFERENCE`` (given when sending) and ``STATUS`` (``Delivered``,
``Not Delivered``, ``Buffered``).

Answer ``200`` with body ``TRUE`` (the PHP sample prints it); anything else makes Spryng retry once a
minute for 24 hours.
"""

from __future__ import annotations

import re
from typing import Any

from smshook.errors import InvalidRequest
from smshook.events import Event
from smshook.providers import formats
from smshook.providers.base import ConnectionInfo, Outcome, Provider, RawRequest, Response

# Appendix B of the MO gateway page: OPERATOR code -> operator name. Country by MCC below.
OPERATORS: dict[str, str] = {
    "20601": "Proximus", "20610": "Mobistar", "20620": "Base",
    "20820": "Bouygues Telecom", "20801": "Orange", "20810": "SFR",
    "26201": "T-Mobile", "26203": "E-Plus", "26213": "Mobilcom", "26207": "O2", "26202": "Vodafone",
    "21403": "Orange", "21407": "Telefonica", "21401": "Vodafone",
    "20408": "KPN Mobile", "20404": "Vodafone", "20416": "T-Mobile", "20412": "Telfort", "20420": "Orange",
    "20402": "Tele2",
    "28604": "Avea", "28602": "Vodafone", "28601": "Turkcell",
    "23420": "3", "23410": "O2", "23433": "Orange", "23430": "T-Mobile", "23415": "Vodafone",
}
# MCC -> ISO 3166-1 alpha-3, for the countries of that table.
COUNTRIES: dict[str, str] = {
    "206": "BEL", "208": "FRA", "262": "DEU", "214": "ESP", "204": "NLD", "286": "TUR", "234": "GBR",
}
# The German page's translated field names -> the real ones.
ALIASES = {"TIMESTAMP": "ZEITSTEMPEL", "SHORTCODE": "KURZWAHLNUMMER", "REFERENCE": "REFERENZ"}
# Fields each kind of request defines; anything else is kept in details.
_REPORT = frozenset({"STATUS", "REFERENCE", "REFERENZ"})
_INBOUND = frozenset({"MSISDN", "KEYWORD", "PARM", "OPERATOR", "COUNTRY", *ALIASES, *ALIASES.values()})
_TIMESTAMP = re.compile(r"[0-9]{14}")  # ASCII digits only (\d is any Unicode digit)
PLAIN = "text/plain; charset=utf-8"


class Spryng(Provider):
    slug = "spryng"
    name = "Spryng"
    docs_url = "https://www.spryng.nl/"
    methods = frozenset({"GET", "POST"})
    # Not stated by Spryng; a Dutch provider (inferred). A connection may override it.
    timezone = "Europe/Amsterdam"
    statuses = {
        "Delivered": ("delivered", None),
        "Not Delivered": ("undelivered", "temporary"),
        "Buffered": ("buffered", None),
    }

    def parse(self, request: RawRequest, connection: ConnectionInfo) -> list[Event]:
        fields = formats.form_fields(request)
        reference = _field(fields, "REFERENCE")

        if "STATUS" in fields:  # a delivery report
            details: dict[str, Any] = {k: v for k, v in fields.items() if k not in _REPORT}
            raw = formats.require(fields, "STATUS")
            if reference is None:
                raise InvalidRequest("missing field 'REFERENCE'")
            status, failure = self.status_of(" ".join(raw.split()).title())
            return [Event(
                type="status",
                message_id=reference,
                status=status,
                provider_status=raw,
                failure_class=failure,
                reference=reference,
                details=details,
            )]

        details = {k: v for k, v in fields.items() if k not in _INBOUND}
        if formats.optional(fields, "MSISDN") is None:
            raise InvalidRequest("missing field 'MSISDN' (and no 'STATUS': not a delivery report either)")
        keyword = formats.require(fields, "KEYWORD")
        parm = fields.get("PARM", "")
        timestamp = _field(fields, "TIMESTAMP")
        if timestamp is not None and not _TIMESTAMP.fullmatch(timestamp):
            raise InvalidRequest(f"field 'TIMESTAMP': {timestamp!r} is not YYYYMMDDHHMMSS")
        return [Event(
            type="inbound",
            from_=formats.phone(fields["MSISDN"]),
            to=formats.phone(_field(fields, "SHORTCODE")),
            text=f"{keyword} {parm}" if parm else keyword,  # the whole text (inferred)
            keyword=keyword.upper(),
            reference=reference,
            occurred_at=formats.parse_time(
                timestamp, "%Y%m%d%H%M%S", self.zone(connection), field="TIMESTAMP"
            ) if timestamp else None,
            network=_network(formats.optional(fields, "OPERATOR"), formats.optional(fields, "COUNTRY")),
            details=details,
        )]

    def acknowledge(self, request: RawRequest, outcome: Outcome) -> Response:
        if not outcome.stored:
            return Response(503, b"store unavailable, retry later\n", PLAIN)
        return Response(200, b"TRUE", PLAIN)


def _field(fields: dict[str, str], name: str) -> str | None:
    """A field by its real name or, failing that, by its German alias."""
    return formats.optional(fields, name) or formats.optional(fields, ALIASES[name])


def _network(mccmnc: str | None, country: str | None) -> dict[str, str | None] | None:
    if mccmnc is None and country is None:
        return None
    return {
        "mccmnc": mccmnc,
        "operator": OPERATORS.get(mccmnc or ""),
        # The country of an operator code not in the table is still known from its MCC.
        "country": country or COUNTRIES.get((mccmnc or "")[:3]),
    }


PROVIDER = Spryng
