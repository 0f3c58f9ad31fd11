"""What both engines do the same way, written once: the reads that are one query and one row mapper
(quarantine, deliveries, rejected requests, subscriptions). An engine provides :attr:`dialect` and
:meth:`_rows` (run a query on a read connection, map each row), and keeps only what is its own."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from smshook.forwarding.model import DeliveryQuery, Subscription
from smshook.rejected import rejected_view
from smshook.storage import queries
from smshook.storage.contract import Store
from smshook.storage.rows import delivery_view, quarantine_view, subscription_from_row, subscription_stats

T = TypeVar("T")


class CommonStore(Store):
    """The backend-neutral part of a store."""

    dialect: queries.Dialect

    @abc.abstractmethod
    async def _read_rows(self, statements: Sequence[tuple[str, list[Any]]]) -> list[list[Sequence[Any]]]:
        """Run reads (``sql`` in :attr:`dialect`'s placeholders, arguments) on one read connection, in
        order; returns each one's rows."""

    async def _rows(self, sql: str, args: list[Any], convert: Callable[[Any], T]) -> list[T]:
        """One read, its rows mapped with ``convert``."""
        [rows] = await self._read_rows([(sql, args)])
        return [convert(r) for r in rows]

    async def database_id(self) -> str:
        [[(database_id,)]] = await self._read_rows([("SELECT database_id FROM smshook_identity", [])])
        return str(database_id)

    async def subscription_stats(self) -> dict[str, dict[str, Any]]:
        subscriptions, states = await self._read_rows([(queries.SUBSCRIPTION_STATS_SQL, []),
                                                       (queries.DELIVERY_STATES_SQL, [])])
        return subscription_stats(subscriptions, states)

    async def quarantined(self, limit: int = 50, before: str | None = None,
                          connection: str | None = None, state: str = "open", since: str | None = None,
                          until: str | None = None) -> list[dict[str, Any]]:
        sql, args = queries.quarantined(self.dialect, limit, before, connection, state, since, until)
        return await self._rows(sql, args, quarantine_view)

    async def quarantine_entry(self, quarantine_id: str) -> dict[str, Any] | None:
        rows = await self._rows(*queries.quarantine_entry(self.dialect, quarantine_id), quarantine_view)
        return rows[0] if rows else None

    async def rejected(self, limit: int = 50, before: str | None = None,
                       connection: str | None = None, since: str | None = None,
                       until: str | None = None) -> list[dict[str, Any]]:
        return await self._rows(*queries.rejected(self.dialect, limit, before, connection, since, until),
                                rejected_view)

    async def deliveries(self, query: DeliveryQuery) -> list[dict[str, Any]]:
        return await self._rows(*queries.deliveries(self.dialect, query), delivery_view)

    async def subscriptions(self) -> list[Subscription]:
        return await self._rows(*queries.subscriptions(self.dialect), subscription_from_row)

    async def subscription(self, subscription_id: str) -> Subscription | None:
        found = await self._rows(*queries.subscriptions(self.dialect, subscription_id), subscription_from_row)
        return found[0] if found else None
