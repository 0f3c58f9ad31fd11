"""Driver errors in the one hierarchy: the database drivers' exceptions (sqlite3's, asyncpg's, and
the ``OSError``/``TimeoutError`` of a lost connection) become :class:`~smshook.errors.StoreError`
at the store's boundary, in one place, as httpx maps httpcore's exceptions
(``_transports/default.py``: ``map_httpcore_exceptions``). Callers of a store only catch
``StoreError``."""

from __future__ import annotations

import contextlib
import sqlite3
import sys
from collections.abc import Iterator

from smshook.errors import StoreError


def driver_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a database driver raises for a failed statement or connection. asyncpg's count
    once it is imported (the PostgreSQL store imports it; a SQLite-only process never does)."""
    errors: tuple[type[BaseException], ...] = (sqlite3.Error, OSError, TimeoutError)
    asyncpg = sys.modules.get("asyncpg")
    if asyncpg is not None:
        errors += (asyncpg.PostgresError, asyncpg.InterfaceError)
    return errors


@contextlib.contextmanager
def map_exceptions(what: str, *also: type[BaseException]) -> Iterator[None]:
    """Translate a driver error raised in the block into ``StoreError("<what>: <error>")`` (chained);
    ``also``: more exception types to translate here (a malformed URL's ``ValueError`` when
    connecting). A ``StoreError`` passes unchanged, and so does everything else."""
    try:
        yield
    except StoreError:
        raise
    except (*driver_errors(), *also) as exc:
        raise StoreError(f"{what}: {exc}") from exc
