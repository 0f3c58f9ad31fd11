"""The tiny database interface the lifecycle's SQL runs over (:mod:`smshook.lifecycle.store`,
:mod:`smshook.lifecycle.erased`): ``fetch`` / ``execute`` with ``?`` placeholders, on either engine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Db(Protocol):
    dialect: str  # "sqlite" or "postgresql"

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int: ...
