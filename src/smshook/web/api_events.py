"""The events routes of the query API: ``GET /v1/events`` (the filters of ``smshook events``) and
``GET /v1/messages/{connection}/{message_id}`` (a sent message's status and timeline)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from smshook.errors import ApiError
from smshook.lifecycle import store as lifecycle_store
from smshook.providers import formats
from smshook.status import STATUSES
from smshook.storage.base import EventQuery, Store
from smshook.web.params import CURSOR, MAX_LIMIT, page, time_query, when
from smshook.web.params import cursor as _cursor


def events_router(store: Store) -> APIRouter:
    """The routes over ``store``."""
    router = APIRouter()

    @router.get("/events", summary="Events, newest first; phone=NUMBER: events from or to that number")
    async def list_events(
        connection: str | None = None,
        type: Literal["status", "inbound", "optout", "optin"] | None = None,
        message_id: str | None = None,
        status: Annotated[str | None, Query(json_schema_extra={"enum": list(STATUSES)})] = None,
        since: Annotated[str | None, time_query("received at or after")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
        cursor: Annotated[str | None, Query(description="next_cursor of the previous page", pattern=CURSOR)] = None,
        phone: Annotated[str | None, Query(
            max_length=64, json_schema_extra={"pattern": formats.PHONE_PATTERN},
            description="Events whose `from` or `to` is this number, written any way "
            "(+31 6 1234 5678, 0031612345678 and 31612345678 are the same); URL-encode the +")] = None,
        until: Annotated[str | None, time_query("received before")] = None,
    ) -> dict[str, Any]:
        if status is not None and status not in STATUSES:
            raise ApiError(400, f"status: {status!r} is not one of {', '.join(STATUSES)}")
        number = formats.phone(phone) if phone is not None else None
        if phone is not None and number is None:
            raise ApiError(400, "phone: empty; give a number such as +31612345678")
        query = EventQuery(connection, type, message_id, status, when("since", since), _cursor(cursor), limit + 1,
                           phone=number, until=when("until", until))
        rows = await store.events(query)
        return page(rows, limit, "id")

    @router.get("/messages/{connection}/{message_id}", summary=(
        "A sent message's status and timeline, with its registration (reference, metadata, sent_at, parts "
        "and each part's status), `registered` and `time_to_final_s`; a part's id finds its message"))
    async def get_message(connection: str, message_id: str) -> dict[str, Any]:
        found = await lifecycle_store.describe(store, connection, message_id)
        if found is None:
            raise ApiError(404, f"no events for message {message_id!r} on connection {connection!r}")
        return found

    return router
