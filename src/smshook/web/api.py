"""The query API (JSON, described by OpenAPI at ``/openapi.json``) and the health endpoints.

When an API token is configured every ``/v1`` route requires ``Authorization: Bearer <token>``.
Errors are ``{"error": "<what is wrong>"}`` with a 4xx status naming the offending parameter.
"""

from __future__ import annotations

import asyncio
import hmac
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Body, Depends, FastAPI, Path, Query, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from smshook import __version__, stats
from smshook.errors import ApiError, ReprocessError, StoreError
from smshook.forwarding.config import SubscriptionSpec
from smshook.forwarding.model import DELIVERY_STATES, DeliveryQuery, ReplayQuery, Subscription
from smshook.forwarding.targets import UnsafeTarget, check_url
from smshook.lifecycle import store as lifecycle_store
from smshook.privacy import Retention
from smshook.providers import formats
from smshook.reprocess import reprocess
from smshook.status import STATUSES
from smshook.storage import privacy
from smshook.storage.base import EventQuery, Store
from smshook.web.api_lifecycle import lifecycle_router
from smshook.web.api_operator import add_operator_routes
from smshook.web.api_privacy import privacy_router
from smshook.web.api_rejected import rejected_router
from smshook.web.api_sns import add_sns_routes
from smshook.web.dashboard import mount_dashboard
from smshook.web.hooks import Connection
from smshook.web.params import CURSOR, ErrorBody, time_query
from smshook.web.params import cursor as _cursor
from smshook.web.params import page as _page
from smshook.web.params import utc as _utc
from smshook.web.params import when as _when
from smshook.web.stream import Feed, add_stream_route

MAX_LIMIT = 500
READY_TIMEOUT = 5.0  # seconds /readyz waits for its write probe to commit
MAX_SEQ = (1 << 63) - 1  # the largest delivery cursor (a 64-bit row number)
TARGET_KEYS = ("url", "redis_url", "stream")  # where a subscription delivers
SUBSCRIPTION_ID = r"^[A-Za-z0-9_-]{1,64}$"
BEARER = HTTPBearer(auto_error=False, description="`Authorization: Bearer <api_token>`")


class OrjsonResponse(JSONResponse):
    """JSON bodies through orjson (FastAPI's own ORJSONResponse is deprecated)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


class SubscriptionCreate(SubscriptionSpec):
    id: str | None = Field(default=None, pattern=SUBSCRIPTION_ID,
                           description="Subscription id (default: generated)")


def _not_a_number(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("an ISO 8601 date or time, not a number")
    return value


Instant = Annotated[datetime | None, BeforeValidator(_not_a_number)]  # never a number read as a Unix time


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": [
        {"required": ["event_ids"], "properties": {"event_ids": {"minItems": 1}}},
        {"required": ["message_id"], "properties": {"message_id": {"type": "string", "minLength": 1}}},
        {"required": ["subscription_id"], "properties": {"subscription_id": {"type": "string", "minLength": 1}}}]})

    event_ids: list[str] = Field(default_factory=list, max_length=1000)
    subscription_id: str | None = None
    connection: str | None = None
    message_id: str | None = None
    since: Instant = None
    until: Instant = None
    states: list[Literal["pending", "delivered", "dead"]] = Field(
        default_factory=list, description="Only deliveries in these states (default: any not in flight)")


def _patch_schema() -> dict[str, Any]:
    """PATCH's body in the OpenAPI document: some of SubscriptionSpec's fields, nothing else."""
    properties = SubscriptionSpec.model_json_schema(ref_template="#/components/schemas/{model}")["properties"]
    for key in TARGET_KEYS:
        properties[key]["description"] += " Null or absent: unchanged."
    def given(*keys: str) -> dict[str, Any]:
        return {"required": list(keys), "properties": {k: {"type": "string"} for k in keys}}

    def redis_with(key: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"required": ["redis_url", key], "properties": {"redis_url": {"type": "string"}, key: schema}}

    return {"type": "object", "properties": properties, "additionalProperties": False,
            "not": {"anyOf": [given("url", "redis_url"), given("url", "stream"),  # a Redis stream never batches:
                              redis_with("batch_max", {"minimum": 2}),
                              redis_with("batch_wait", {"exclusiveMinimum": 0})]},
            # batch_wait > 0 given with batch_max needs batch_max > 1 (without it, the stored one: else 409)
            "anyOf": [{"properties": {"batch_wait": {"maximum": 0}}}, {"not": {"required": ["batch_max"]}},
                      {"properties": {"batch_max": {"minimum": 2}}}]}


def _over(value: Any, bound: int) -> bool:
    """A JSON number above ``bound`` (PATCH's body is not validated yet: anything else is left to that)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and value > bound


def _patch_conflict(sub: Subscription, body: Mapping[str, Any]) -> str | None:
    """Why PATCH's ``body`` (valid on its own) cannot apply to the stored ``sub``, naming the field."""
    redis = body.get("redis_url") is not None or (sub.kind == "redis" and body.get("url") is None)
    batch_max, batch_wait = body.get("batch_max"), body.get("batch_wait")
    if redis and "redis_url" not in body and (_over(batch_max, 1) or _over(batch_wait, 0)):
        field = "batch_max" if _over(batch_max, 1) else "batch_wait"
        return (f"{field}: subscription {sub.id!r} is a Redis stream (one entry per event); batching is for "
                "webhook subscriptions (give url too)")
    if not redis and "batch_max" not in body and _over(batch_wait, 0) and (sub.kind == "redis" or sub.batch_max == 1):
        return f"batch_wait: subscription {sub.id!r} has batch_max 1 (no batches); give batch_max > 1 too"
    return None


def _spec_of(sub: Subscription) -> dict[str, Any]:
    """A stored subscription as SubscriptionSpec input (for PATCH merges)."""
    data: dict[str, Any] = {"filters": sub.filters.to_dict(), "enabled": sub.enabled, "ordered": sub.ordered,
                            "timeout": sub.timeout, "secret": list(sub.secrets)}
    if sub.kind == "webhook":
        data["url"] = sub.target
        data["batch_max"], data["batch_wait"] = sub.batch_max, sub.batch_wait
    else:
        data["redis_url"], data["stream"] = sub.target, sub.stream
    return data


def build_api(store: Store, api_token: str | None, wake: Callable[[], None] | None = None,
              connections: Mapping[str, Connection] | None = None, *, allow_private_targets: bool = False,
              retention: Retention | None = None) -> FastAPI:
    """The API over ``store``; ``connections`` (the configured ones) serve statistics and re-processing;
    ``allow_private_targets``: forwarding_allow_private_targets; ``retention``: for POST /v1/prune."""
    configured: Mapping[str, Connection] = connections or {}
    app = FastAPI(
        title="smshook", version=__version__, docs_url=None, redoc_url=None,
        default_response_class=OrjsonResponse,
        description="Query the events smshook received from SMS providers.",
    )

    async def check_token(request: Request) -> None:
        if api_token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), api_token.encode()):
            raise ApiError(401, "missing or wrong API token: send 'Authorization: Bearer <token>'",
                           {"www-authenticate": "Bearer"})

    async def require_token(request: Request, _: Annotated[Any, Security(BEARER)] = None) -> None:
        await check_token(request)  # the Security parameter declares the scheme in the OpenAPI document

    answers: dict[int | str, dict[str, Any]] = {
        400: {"model": ErrorBody, "description": "A parameter is invalid; the error names it"},
        404: {"model": ErrorBody, "description": "No such resource"},
    }
    if api_token is not None:
        answers[401] = {"model": ErrorBody, "description": "Missing or wrong API token"}
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_token if api_token is not None else check_token)],
                   responses=answers)

    @v1.get("/events", summary="Events, newest first; phone=NUMBER: events from or to that number")
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
        query = EventQuery(connection, type, message_id, status, _when("since", since), _cursor(cursor), limit + 1,
                           phone=number, until=_when("until", until))
        rows = await store.events(query)
        return _page(rows, limit, "id")

    @v1.get("/messages/{connection}/{message_id}", summary=(
        "A sent message's status and timeline, with its registration (reference, metadata, sent_at, parts "
        "and each part's status), `registered` and `time_to_final_s`; a part's id finds its message"))
    async def get_message(connection: str, message_id: str) -> dict[str, Any]:
        found = await lifecycle_store.describe(store, connection, message_id)
        if found is None:
            raise ApiError(404, f"no events for message {message_id!r} on connection {connection!r}")
        return found

    @v1.get("/quarantine", summary="Requests that could not be read, with the reason and raw body")
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
                                       _when("since", since), _when("until", until))
        return _page(rows, limit, "id")

    @v1.post("/quarantine/{quarantine_id}/reprocess", summary=(
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

    @v1.get("/connections", summary=(
        "The configured connections: name, provider, hook path, HTTP methods and how each is protected "
        "(its URL token is never shown: `smshook connections` prints the full URLs)"))
    async def list_connections() -> dict[str, Any]:
        """``{"data": [{"connection", "provider", "provider_name", "path", "methods", "protection",
        "allow_ips", "docs_url"}]}``, by name; ``path`` ends in ``/<token>`` where the URL carries one."""
        return {"data": [c.describe() for _, c in sorted(configured.items())]}

    @v1.get("/stats", summary=(
        "Delivery statistics of the sent messages first seen in the window: per connection the status "
        "counts, funnel (sent, delivered, failed by failure_class, pending), delivery_rate, median "
        "time to delivery, a series of every bucket (hour: 60 s, day: 3600 s, week: 21600 s), by "
        "country and operator where known; and inbound counts per connection"))
    async def get_stats(
        window: Annotated[Literal["hour", "day", "week"], Query(description="The last hour, day or week")] = "day",
        connection: Annotated[str | None, Query(description="Only this connection")] = None,
    ) -> dict[str, Any]:
        """``{"window", "since", "until", "bucket_seconds", "connections": [{"connection", "provider",
        "messages", "by_status": {status: n}, "funnel": {"sent", "delivered", "failed", "pending",
        "failed_by_class": {class: n}}, "delivery_rate", "median_time_to_delivery_s", "series": [{"t",
        "messages", "delivered", "failed", "delivery_rate", "median_time_to_delivery_s"}, ...],
        "by_country": {country: {"messages", "delivered", "failed", "delivery_rate"}}, "by_operator":
        {...}}], "inbound": {connection: n}}``. A message belongs to the bucket its first event was
        received in; ``delivered`` counts delivered or read, ``failed`` any other final status (by the
        ``failure_class`` of the event that made it final, ``unclassified`` when none), ``pending`` the
        rest; rates are delivered / (delivered + failed), null without either; time to delivery runs
        from the earliest event time (provider time, else receipt) to the delivered event. Every
        configured connection is listed, and every bucket of the window, empty ones included."""
        return await stats.collect(store, window, connection, {n: c.provider.slug for n, c in configured.items()})

    # -- forwarding -------------------------------------------------------------------------------
    def poke() -> None:
        if wake is not None:
            wake()

    def safe_target(spec: SubscriptionSpec) -> None:
        if spec.url is not None:
            try:
                check_url(spec.url, allow_private_targets)
            except UnsafeTarget as exc:
                raise ApiError(400, f"url: {exc}") from None

    async def found(subscription_id: str) -> Subscription:
        sub = await store.subscription(subscription_id)
        if sub is None:
            raise ApiError(404, f"no subscription {subscription_id!r}")
        return sub

    @v1.get("/subscriptions", summary="Subscriptions with their delivery statistics")
    async def list_subscriptions() -> dict[str, Any]:
        stats = await store.subscription_stats()
        return {"data": [s.public(stats.get(s.id)) for s in await store.subscriptions()]}

    @v1.post("/subscriptions", status_code=201, summary="Create a subscription (a secret is generated if omitted)",
             responses={409: {"model": ErrorBody, "description": "A subscription with this id exists"}})
    async def create_subscription(body: SubscriptionCreate) -> dict[str, Any]:
        sub_id = body.id or f"sub_{uuid.uuid4().hex[:24]}"
        safe_target(body)
        if await store.subscription(sub_id) is not None:
            raise ApiError(409, f"id: subscription {sub_id!r} already exists (use PUT or PATCH to change it)")
        stored = await store.put_subscription(body.build(sub_id, "api"))
        poke()
        return stored.public()

    @v1.get("/subscriptions/{subscription_id}", summary="A subscription with its delivery statistics")
    async def get_subscription(subscription_id: str) -> dict[str, Any]:
        sub = await found(subscription_id)
        return sub.public((await store.subscription_stats()).get(sub.id))

    @v1.put("/subscriptions/{subscription_id}", summary="Replace a subscription (the secret stays if omitted)",
            responses={201: {"description": "Created: there was no subscription with this id"}})
    async def put_subscription(subscription_id: Annotated[str, Path(pattern=SUBSCRIPTION_ID)], body: SubscriptionSpec,
                               response: Response) -> dict[str, Any]:
        existing = await store.subscription(subscription_id)
        safe_target(body)
        stored = await store.put_subscription(body.build(subscription_id, "api", keep=existing))
        if existing is None:
            response.status_code = 201
        poke()
        return stored.public()

    @v1.patch("/subscriptions/{subscription_id}", summary="Change some fields of a subscription",
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": _patch_schema()}}}},
              responses={409: {"model": ErrorBody, "description": "A stream for a webhook subscription, batching "
                                "for a Redis one, or batch_wait while the stored batch_max is 1"}})
    async def patch_subscription(subscription_id: str, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        existing = await found(subscription_id)
        body = {k: v for k, v in body.items() if not (k in TARGET_KEYS and v is None)}  # null target: unchanged
        merged = _spec_of(existing)
        if body.get("stream") is not None and existing.kind != "redis" and body.get("redis_url") is None:
            raise ApiError(409, f"stream: subscription {subscription_id!r} is a webhook; a stream is for Redis "
                                "subscriptions (give redis_url too)")
        conflict = _patch_conflict(existing, body)
        if conflict is not None:
            raise ApiError(409, conflict)
        if "url" in body or "redis_url" in body:
            merged.pop("url", None), merged.pop("redis_url", None), merged.pop("stream", None)
        if "redis_url" in body:  # now a Redis stream: the webhook's batching does not carry over
            merged.pop("batch_max", None), merged.pop("batch_wait", None)
        if body.get("batch_max") == 1 and "batch_wait" not in body:  # no batches: nothing to wait for
            merged.pop("batch_wait", None)
        merged.update(body)
        try:
            spec = SubscriptionSpec.model_validate(merged)
        except ValidationError as exc:
            raise ApiError(400, "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())) from None
        if "url" in body:
            safe_target(spec)
        stored = await store.put_subscription(spec.build(subscription_id, existing.source, keep=existing))
        poke()
        return stored.public()

    @v1.delete("/subscriptions/{subscription_id}", status_code=204, summary="Delete a subscription")
    async def delete_subscription(subscription_id: str) -> Response:
        if not await store.delete_subscription(subscription_id):
            raise ApiError(404, f"no subscription {subscription_id!r}")
        return Response(status_code=204)

    @v1.get("/deliveries", summary="Deliveries (the outbox), newest first")
    async def list_deliveries(
        subscription_id: str | None = None,
        state: Annotated[str | None, Query(json_schema_extra={"enum": list(DELIVERY_STATES)})] = None,
        event_id: str | None = None,
        connection: str | None = None,
        message_id: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
        cursor: Annotated[str | None, Query(pattern=r"^[0-9]{0,19}$", description="next_cursor of the previous page")
                          ] = None,
    ) -> dict[str, Any]:
        if cursor is not None and cursor and int(cursor) > MAX_SEQ:
            raise ApiError(400, f"cursor: {cursor!r} is not a cursor returned by this API")
        if state is not None and state not in DELIVERY_STATES:
            raise ApiError(400, f"state: {state!r} is not one of {', '.join(DELIVERY_STATES)}")
        rows = await store.deliveries(DeliveryQuery(subscription_id, state, event_id, connection, message_id,
                                                    limit + 1, cursor or None))
        return _page(rows, limit, "cursor")

    @v1.post("/replay", summary="Send deliveries again: by event ids, by message, or by subscription and time")
    async def replay(body: ReplayRequest) -> dict[str, Any]:
        if not (body.event_ids or body.subscription_id or body.message_id):
            raise ApiError(400, "give event_ids, message_id (with connection) or subscription_id")
        if body.subscription_id is not None:
            await found(body.subscription_id)

        count = await store.replay(ReplayQuery(
            tuple(body.event_ids), body.subscription_id, body.connection, body.message_id,
            _utc("since", body.since), _utc("until", body.until), tuple(body.states)), time.time())
        poke()
        return {"replayed": count}

    add_operator_routes(app, v1, store, ApiError)  # exports, per-subscription deliveries, identity
    v1.include_router(lifecycle_router(store, poke, configured.keys() if connections else None))  # lifecycle
    feed = app.state.feed = Feed(store)  # the live feed; SmshookApp ends it at shutdown
    add_stream_route(v1, feed, ApiError)
    add_sns_routes(v1)  # Amazon SNS subscription confirmations

    v1.include_router(rejected_router(store, _cursor, MAX_LIMIT))
    v1.include_router(privacy_router(store, ApiError, retention))
    app.include_router(v1)
    mount_dashboard(app)  # "/" and its static files: public, they hold no data

    @app.get("/healthz", summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="The store answers and can commit a write (503 while it cannot: disk full, "
             "read-only, database down)")
    async def readyz() -> JSONResponse:
        if not await store.ping():
            return JSONResponse({"status": "unavailable", "error": "store does not answer"}, status_code=503)
        try:
            await asyncio.wait_for(privacy.probe_write(store), READY_TIMEOUT)
        except (StoreError, TimeoutError) as exc:
            return JSONResponse({"status": "unavailable", "error": f"store cannot commit: {exc or 'timed out'}"},
                                status_code=503)
        return JSONResponse({"status": "ready"})

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body"))
            problems.append(f"{where}: {err.get('msg', 'invalid')}")
        return JSONResponse({"error": "; ".join(problems)}, status_code=400)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        headers = exc.headers
        if exc.status_code == 405:  # Starlette names the methods of the first route of the path only
            headers = {**{k: v for k, v in (headers or {}).items() if k.lower() != "allow"},
                       "allow": ", ".join(_methods(app, request))}
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"error": f"store unavailable: {exc}"}, status_code=503)

    return app


def _methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route serves at the request's path (a 405's ``Allow``)."""
    return [method for method in ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")
            if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in app.router.routes)]
