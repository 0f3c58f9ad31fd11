"""The forwarding routes of the query API: subscriptions (``/v1/subscriptions``, create, read, replace,
change, delete), the outbox (``GET /v1/deliveries``) and ``POST /v1/replay``."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from smshook.errors import ApiError
from smshook.forwarding.config import SubscriptionSpec
from smshook.forwarding.model import DELIVERY_STATES, DeliveryQuery, ReplayQuery, Subscription
from smshook.forwarding.targets import UnsafeTarget, check_url
from smshook.storage.base import Store
from smshook.web.params import MAX_LIMIT, ErrorBody, page, utc

MAX_SEQ = (1 << 63) - 1  # the largest delivery cursor (a 64-bit row number)
TARGET_KEYS = ("url", "redis_url", "stream")  # where a subscription delivers
SUBSCRIPTION_ID = r"^[A-Za-z0-9_-]{1,64}$"


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


def forwarding_router(store: Store, poke: Callable[[], None], allow_private_targets: bool) -> APIRouter:
    """The routes over ``store``; ``poke`` wakes the dispatcher after a change that may make deliveries
    due; ``allow_private_targets``: forwarding_allow_private_targets."""
    router = APIRouter()

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

    @router.get("/subscriptions", summary="Subscriptions with their delivery statistics")
    async def list_subscriptions() -> dict[str, Any]:
        stats = await store.subscription_stats()
        return {"data": [s.public(stats.get(s.id)) for s in await store.subscriptions()]}

    @router.post("/subscriptions", status_code=201, summary="Create a subscription (a secret is generated if omitted)",
             responses={409: {"model": ErrorBody, "description": "A subscription with this id exists"}})
    async def create_subscription(body: SubscriptionCreate) -> dict[str, Any]:
        sub_id = body.id or f"sub_{uuid.uuid4().hex[:24]}"
        safe_target(body)
        if await store.subscription(sub_id) is not None:
            raise ApiError(409, f"id: subscription {sub_id!r} already exists (use PUT or PATCH to change it)")
        stored = await store.put_subscription(body.build(sub_id, "api"))
        poke()
        return stored.public()

    @router.get("/subscriptions/{subscription_id}", summary="A subscription with its delivery statistics")
    async def get_subscription(subscription_id: str) -> dict[str, Any]:
        sub = await found(subscription_id)
        return sub.public((await store.subscription_stats()).get(sub.id))

    @router.put("/subscriptions/{subscription_id}", summary="Replace a subscription (the secret stays if omitted)",
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

    @router.patch("/subscriptions/{subscription_id}", summary="Change some fields of a subscription",
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

    @router.delete("/subscriptions/{subscription_id}", status_code=204, summary="Delete a subscription")
    async def delete_subscription(subscription_id: str) -> Response:
        if not await store.delete_subscription(subscription_id):
            raise ApiError(404, f"no subscription {subscription_id!r}")
        return Response(status_code=204)

    @router.get("/deliveries", summary="Deliveries (the outbox), newest first")
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
        return page(rows, limit, "cursor")

    @router.post("/replay", summary="Send deliveries again: by event ids, by message, or by subscription and time")
    async def replay(body: ReplayRequest) -> dict[str, Any]:
        if not (body.event_ids or body.subscription_id or body.message_id):
            raise ApiError(400, "give event_ids, message_id (with connection) or subscription_id")
        if body.subscription_id is not None:
            await found(body.subscription_id)

        count = await store.replay(ReplayQuery(
            tuple(body.event_ids), body.subscription_id, body.connection, body.message_id,
            utc("since", body.since), utc("until", body.until), tuple(body.states)), time.time())
        poke()
        return {"replayed": count}

    return router
