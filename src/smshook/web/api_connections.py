"""The connection routes of the query API: ``GET /v1/connections`` (how each is reached and protected)
and ``GET /v1/stats`` (delivery statistics per connection)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from smshook import stats
from smshook.storage.base import Store
from smshook.web.hooks import Connection


def connections_router(store: Store, configured: Mapping[str, Connection]) -> APIRouter:
    """The routes over ``store`` and the ``configured`` connections."""
    router = APIRouter()

    @router.get("/connections", summary=(
        "The configured connections: name, provider, hook path, HTTP methods and how each is protected "
        "(its URL token is never shown: `smshook connections` prints the full URLs)"))
    async def list_connections() -> dict[str, Any]:
        """``{"data": [{"connection", "provider", "provider_name", "path", "methods", "protection",
        "allow_ips", "docs_url"}]}``, by name; ``path`` ends in ``/<token>`` where the URL carries one."""
        return {"data": [c.describe() for _, c in sorted(configured.items())]}

    @router.get("/stats", summary=(
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

    return router
