"""The quarantine routes of the query API: ``GET /v1/quarantine`` (requests that could not be read) and
``POST /v1/quarantine/{id}/reprocess``. Dismissing an entry is in :mod:`smshook.web.api_privacy`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from smshook.errors import ApiError, ReprocessError
from smshook.reprocess import reprocess
from smshook.storage.base import Store
from smshook.web.hooks import Connection
from smshook.web.params import CURSOR, MAX_LIMIT, ErrorBody, page, time_query, when
from smshook.web.params import cursor as _cursor


def quarantine_router(store: Store, configured: Mapping[str, Connection], poke: Callable[[], None]) -> APIRouter:
    """The routes over ``store``; ``configured``: the connections whose adapters re-process; ``poke``
    wakes the dispatcher (re-processed events may be due for forwarding)."""
    router = APIRouter()

    @router.get("/quarantine", summary="Requests that could not be read, with the reason and raw body")
    async def list_quarantine(
        connection: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
        cursor: Annotated[str | None, Query(pattern=CURSOR)] = None,
        state: Annotated[Literal["open", "dismissed", "all"], Query(
            description="open (not dismissed; the default), dismissed, or all")] = "open",
        since: Annotated[str | None, time_query("first seen at or after")] = None,
        until: Annotated[str | None, time_query("first seen before")] = None,
    ) -> dict[str, Any]:
        rows = await store.quarantined(limit + 1, _cursor(cursor), connection, state,
                                       when("since", since), when("until", until))
        return page(rows, limit, "id")

    @router.post("/quarantine/{quarantine_id}/reprocess", summary=(
        "Re-run the connection's current adapter on a quarantined request and store its events. 200 "
        '{"id", "reprocessed": true, "reprocessed_at", "connection", "events": <new>, "duplicates": <n>}; '
        "the entry is kept, marked reprocessed_at / reprocess_result. 404 unknown id, 409 already "
        "re-processed or connection gone, 422 still unreadable (kept unchanged): {\"error\": reason}"),
             responses={409: {"model": ErrorBody, "description": "Re-processed already, or the connection is gone"},
                        422: {"model": ErrorBody, "description": "Still unreadable; the entry is kept unchanged"}})
    async def reprocess_quarantined(quarantine_id: str) -> dict[str, Any]:
        try:
            result = await reprocess(store, configured, quarantine_id)
        except ReprocessError as exc:
            raise ApiError(exc.status, str(exc)) from None
        poke()  # its events may be due for forwarding
        return result

    return router
