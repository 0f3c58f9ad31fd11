"""Re-processing quarantined requests (``POST /v1/quarantine/{id}/reprocess``, ``smshook reprocess``).

The kept raw request goes through the connection's current adapter exactly as on the hook path
(:func:`smshook.web.hooks.parse_events`); its events are stored like any others (deduplicated,
status rules, forwarding) and the entry is kept, marked re-processed with when and the result. A
request that still cannot be read stays in the quarantine as it was.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from smshook.errors import ProviderError, ReprocessError
from smshook.events import stamp
from smshook.providers.base import RawRequest
from smshook.storage.base import Store
from smshook.web.hooks import Connection, parse_events


def raw_request(view: Mapping[str, Any]) -> RawRequest:
    """The request as the adapter saw it, from its stored view (``quarantined()[i]["request"]``)."""
    body = view["body"]
    data = base64.b64decode(body) if view.get("body_encoding") == "base64" else body.encode("utf-8")
    headers = tuple((str(k), str(v)) for k, v in view["headers"])
    return RawRequest(view["method"], view["path"], view["query"].encode("latin-1"), headers, data, view["client"])


async def reprocess(store: Store, connections: Mapping[str, Connection], quarantine_id: str) -> dict[str, Any]:
    """Re-run the adapter on one quarantined request and store its events.

    Answers ``{"id", "reprocessed": true, "reprocessed_at", "events": new, "duplicates": n}``; raises
    :class:`ReprocessError` (404 unknown entry, 409 already re-processed or connection gone or now of
    another provider, 422 still unreadable: the entry is kept unchanged)."""
    entry = await store.quarantine_entry(quarantine_id)
    if entry is None:
        raise ReprocessError(404, f"no quarantine entry {quarantine_id!r}")
    if entry["reprocessed_at"] is not None:
        raise ReprocessError(409, f"quarantine entry {quarantine_id} was re-processed already at "
                                  f"{entry['reprocessed_at']}")
    name = entry["connection"]
    connection = connections.get(name)
    if connection is None:
        raise ReprocessError(409, f"connection {name!r} of quarantine entry {quarantine_id} is no longer configured")
    if connection.provider.slug != entry["provider"]:
        raise ReprocessError(409, f"connection {name!r} is now a {connection.provider.slug} connection; the "
                                  f"request came for {entry['provider']}")
    # The events were received when the request was: received_at stays the original time.
    received = datetime.fromisoformat(entry["first_seen"].replace("Z", "+00:00"))
    try:
        events = parse_events(connection, raw_request(entry["request"]), received)
    except ProviderError as exc:
        raise ReprocessError(422, f"still cannot be processed: {exc.message}") from None
    at = stamp(datetime.now(UTC)) or ""
    try:
        result = await store.resolve_quarantine(quarantine_id, events, at)
    except KeyError:
        raise ReprocessError(404, f"no quarantine entry {quarantine_id!r}") from None
    except ValueError as exc:  # re-processed concurrently
        raise ReprocessError(409, str(exc)) from None
    return {"id": quarantine_id, "reprocessed": True, "reprocessed_at": at, "connection": name,
            "events": result.new_count, "duplicates": result.duplicates}
