"""The message-lifecycle routes of the query API (issue 15), included in ``/v1`` by :func:`build_api`:

* ``POST /v1/messages`` — register sent messages (one object, or ``{"data": [...]}`` up to 1,000);
* ``GET /v1/messages?reference=…`` — registered messages by the application's reference;
* ``GET /v1/stuck`` — messages that got the synthetic ``expired`` (no final receipt in time);
* ``GET /v1/optouts`` and ``GET /v1/optouts/check`` — opt-outs, and the check before a send.

``GET /v1/messages/{connection}/{message_id}`` is in :mod:`smshook.web.api_events` and shows what
:func:`smshook.lifecycle.store.describe` adds (registration, parts, time to final).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response
from starlette.exceptions import HTTPException

from smshook.events import stamp
from smshook.lifecycle import registration
from smshook.lifecycle import store as lifecycle_store
from smshook.lifecycle.erased import lookup_number
from smshook.providers import formats
from smshook.storage.base import Store
from smshook.web.params import MAX_LIMIT, ErrorBody, page


def _phone(value: str, name: str) -> str:
    number = lookup_number(value)  # any written form: "(+44) 7700 900 123" is 447700900123
    if not number:
        raise HTTPException(400, f"{name}: empty; give a number such as +447700900123")
    return number


def lifecycle_router(store: Store, wake: Callable[[], None], connections: Collection[str] | None) -> APIRouter:
    """The routes over ``store``; ``wake`` pokes the dispatcher (held deliveries are due after a
    registration); ``connections``: the configured connection names a registration may name."""
    router = APIRouter()
    one = registration.json_schema(connections)
    body = {"anyOf": [one, {"type": "object", "required": ["data"], "additionalProperties": False, "properties": {
        "data": {"type": "array", "items": one, "minItems": 1, "maxItems": registration.MAX_BATCH}}}]}

    @router.post("/messages", status_code=201, openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": body}}}}, responses={
        200: {"description": "The same registration again (unchanged), or a batch: one result per item"},
        409: {"model": ErrorBody, "description": "It contradicts the stored registration (the fields are named), "
              "or a part is linked to another message"}}, summary=(
        "Register sent messages: one {connection, message_id, to, from?, reference?, parts?, sent_at?, "
        "metadata?} (201 new, 200 the same again, 409 conflicting), or {\"data\": [...]} (up to 1,000; 200 with "
        "one {status, message | error} per item). Receipts already received are linked."))
    async def register_messages(request: Request, response: Response) -> dict[str, Any]:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            raise HTTPException(400, f"body: not JSON ({exc})") from None
        now = stamp(datetime.now(UTC)) or ""
        batch = isinstance(body, dict) and "data" in body
        items = body["data"] if batch else [body]
        if batch and (not isinstance(items, list) or set(body) != {"data"}):
            raise HTTPException(400, "data: must be a list of registrations (and the only field)")
        if len(items) > registration.MAX_BATCH:
            raise HTTPException(400, f"data: {len(items)} registrations, more than the {registration.MAX_BATCH} "
                                     "allowed per request")
        if not items:
            raise HTTPException(400, "data: empty")
        parsed = []
        for i, item in enumerate(items):
            try:
                parsed.append(registration.parse(item, now, connections))
            except registration.RegistrationError as exc:
                raise HTTPException(400, f"data[{i}].{exc}" if batch else str(exc)) from None
        results = await lifecycle_store.register(store, parsed)
        wake()
        if batch:
            response.status_code = 200
            data = [{"status": status, **({"error": value["error"]} if status == 409 else {"message": value})}
                    for status, value in results]
            return {"data": data, "created": sum(1 for s, _ in results if s == 201),
                    "existing": sum(1 for s, _ in results if s == 200),
                    "conflicts": sum(1 for s, _ in results if s == 409)}
        status, value = results[0]
        if status == 409:
            raise HTTPException(409, value["error"])
        response.status_code = status
        return value

    @router.get("/messages", summary="Registered messages by the application's reference (newest first)")
    async def find_messages(
        reference: Annotated[str, Query(min_length=1, max_length=registration.MAX_ID)],
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    ) -> dict[str, Any]:
        return {"data": await lifecycle_store.by_reference(store, reference, limit)}

    @router.get("/stuck", summary=(
        "Messages without a final receipt within their connection's final_within: their status is the "
        "synthetic `expired` (newest first; cursor: next_cursor of the previous page)"))
    async def list_stuck(
        connection: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
        cursor: Annotated[str | None, Query(max_length=40)] = None,
    ) -> dict[str, Any]:
        rows = await lifecycle_store.stuck(store, limit + 1, cursor, connection)
        return page(rows, limit, "expired_at")

    @router.get("/optouts/check", summary=(
        "Whether a number has opted out (of `sender`, or of any sender when none is given): "
        "{opted_out, since, keyword, event_id}. One indexed look-up: call it before every send"))
    async def check_optout(
        phone: Annotated[str, Query(max_length=64, json_schema_extra={"pattern": formats.PHONE_PATTERN},
                                    description="+447700900123, 447700900123 or 00447700900123")],
        sender: Annotated[str | None, Query(max_length=64, description="Our number or sender id")] = None,
    ) -> dict[str, Any]:
        return await lifecycle_store.check(store, _phone(phone, "phone"),
                                           formats.phone(sender) if sender is not None else None)

    @router.get("/optouts", summary=(
        "Opt-outs: with phone, every sender scope of that number (include_optins: also those opted back in); "
        "without, every number currently opted out, newest first"))
    async def list_optouts(
        phone: Annotated[str | None, Query(max_length=64, json_schema_extra={"pattern": formats.PHONE_PATTERN})] = None,
        include_optins: bool = False,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
        cursor: Annotated[str | None, Query(max_length=40)] = None,
    ) -> dict[str, Any]:
        number = _phone(phone, "phone") if phone is not None else None
        rows = await lifecycle_store.listing(store, number, limit + 1, cursor, include_optins)
        return page(rows, limit, "event_id", more=number is None)  # one number's scopes: a single page

    return router
