"""The operator's API additions: exports (CSV / NDJSON) of events and of a message's timeline, one
subscription's deliveries with why each waits, and the database identity a running server uses.

Included by :func:`smshook.web.api.build_api` with one call; the ``/v1`` routes share its token check.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import StreamingResponse

from smshook import __version__, export
from smshook.forwarding.model import DELIVERY_STATES, DeliveryQuery
from smshook.forwarding.waiting import annotate_waiting
from smshook.providers import formats
from smshook.status import STATUSES
from smshook.storage.base import EventQuery, Store
from smshook.web import params
from smshook.web.params import MAX_LIMIT, time_query

PAGE = 500


def add_operator_routes(app: FastAPI, v1: APIRouter, store: Store, error: Callable[[int, str], Exception]) -> None:
    """Register the routes on ``v1`` (before it is included) and the public ``/identity`` on ``app``."""

    def stream(rows: AsyncIterator[list[dict[str, Any]]], fmt: export.Format, name: str) -> StreamingResponse:
        async def body() -> AsyncIterator[str]:
            header = True
            async for page in rows:
                for line in export.lines(page, fmt, header):
                    yield line
                header = False
            if header and fmt == "csv":  # nothing matched: the header alone
                for line in export.csv_lines([], True):
                    yield line

        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        return StreamingResponse(body(), media_type=export.MEDIA_TYPES[fmt], headers={
            "content-disposition": f'attachment; filename="{name}-{stamp}.{fmt}"', "cache-control": "no-store"})

    exported: dict[int | str, dict[str, Any]] = {200: {
        "description": "The rows, streamed (Content-Disposition names a file)", "content": {
        export.MEDIA_TYPES["csv"].split(";")[0]: {"schema": {"type": "string"}},
        export.MEDIA_TYPES["ndjson"]: {"schema": {"type": "string"}}}}}

    @v1.get("/export/events", response_class=StreamingResponse, responses=exported, summary=(
        "Every event matching the filters of GET /v1/events (no limit), newest first, as CSV (header row, "
        "network and details as JSON) or NDJSON (one event per line)"))
    async def export_events(
        format: Annotated[Literal["csv", "ndjson"], Query(description="csv or ndjson")] = "csv",
        connection: str | None = None,
        type: Literal["status", "inbound", "optout", "optin"] | None = None,
        message_id: str | None = None,
        status: Annotated[str | None, Query(json_schema_extra={"enum": list(STATUSES)})] = None,
        phone: Annotated[str | None, Query(max_length=64, json_schema_extra={"pattern": formats.PHONE_PATTERN})] = None,
        since: Annotated[str | None, time_query("received at or after")] = None,
        until: Annotated[str | None, time_query("received before")] = None,
    ) -> StreamingResponse:
        if status is not None and status not in STATUSES:
            raise error(400, f"status: {status!r} is not one of {', '.join(STATUSES)}")
        number = formats.phone(phone) if phone is not None else None
        if phone is not None and number is None:
            raise error(400, "phone: empty; give a number such as +31612345678")
        start, end = params.when("since", since), params.when("until", until)

        async def pages() -> AsyncIterator[list[dict[str, Any]]]:
            before = None
            while True:
                page = await store.events(EventQuery(connection, type, message_id, status, start, before,
                                                     PAGE, phone=number, until=end))
                if page:
                    yield page
                if len(page) < PAGE:
                    return
                before = page[-1]["id"]

        return stream(pages(), format, "smshook-events")

    @v1.get("/export/messages/{connection}/{message_id}", response_class=StreamingResponse, responses=exported,
            summary=(
        "A message's timeline (its status events and replies, oldest first) as CSV or NDJSON"))
    async def export_message(connection: str, message_id: str,
                             format: Literal["csv", "ndjson"] = "csv") -> StreamingResponse:
        found = await store.message(connection, message_id)
        if found is None:
            raise error(404, f"no events for message {message_id!r} on connection {connection!r}")

        async def pages() -> AsyncIterator[list[dict[str, Any]]]:
            yield found["events"]

        return stream(pages(), format, f"smshook-message-{connection}-{message_id}"[:120])

    @v1.get("/subscriptions/{subscription_id}/deliveries", summary=(
        "One subscription's deliveries, newest first, with attempts, the receiver's last answer, the next "
        "attempt and why an unfinished one waits (`waiting`, `waiting_for`); filters state, since/until "
        "(queued at, ISO 8601), limit, cursor"))
    async def subscription_deliveries(
        subscription_id: str,
        state: str | None = None,
        since: Annotated[str | None, time_query("queued at or after")] = None,
        until: Annotated[str | None, time_query("queued before")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
        cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,
    ) -> dict[str, Any]:
        sub = await store.subscription(subscription_id)
        if sub is None:
            raise error(404, f"no subscription {subscription_id!r}")
        if state is not None and state not in DELIVERY_STATES:
            raise error(400, f"state: {state!r} is not one of {', '.join(DELIVERY_STATES)}")
        rows = await store.deliveries(DeliveryQuery(subscription_id, state, limit=limit + 1, before=cursor,
                                                    since=params.unix_time("since", since),
                                                    until=params.unix_time("until", until)))
        listed = params.page(rows, limit, "cursor")
        listed["data"] = await annotate_waiting(store, listed["data"], {sub.id: sub})
        return listed

    @app.get("/identity", summary=(
        "Which database this server uses: {service, version, database_id} (a random id made once per "
        "database; `smshook doctor` compares it with the database its own configuration leads to)"))
    async def identity() -> dict[str, Any]:
        return {"service": "smshook", "version": __version__, "database_id": await store.database_id()}
