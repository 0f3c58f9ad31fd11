"""Versioned schema migrations, shared by every backend.

Each backend ships ``migrations/<dialect>/NNNN_name.sql`` (the same logical schema in each dialect).
The table :data:`TABLE` records the versions applied; every pending file is applied once, in
version order, each in its own transaction together with its row in :data:`TABLE`. Backends run
the SQL (SQLite synchronously, PostgreSQL with asyncpg) and use :func:`plan` to know what to run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from smshook.errors import StoreError

TABLE = "smshook_migrations"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str  # the file name, e.g. 0002_forwarding.sql
    sql: str

    def statements(self) -> list[str]:
        """The file split into statements (comment lines dropped; our DDL has no ';' in literals)."""
        body = "\n".join(line for line in self.sql.splitlines() if not line.strip().startswith("--"))
        return [s.strip() for s in body.split(";") if s.strip()]


def migrations(dialect: str) -> list[Migration]:
    """Every migration shipped with the package for ``dialect`` (``sqlite``, ``postgresql``), in order."""
    folder = resources.files("smshook.storage") / "migrations" / dialect
    found = [
        Migration(int(item.name.split("_", 1)[0]), item.name, item.read_text("utf-8"))
        for item in folder.iterdir()
        if item.name.endswith(".sql")
    ]
    return sorted(found, key=lambda m: m.version)


def plan(dialect: str, applied: Iterable[int]) -> list[Migration]:
    """The migrations still to apply to a database that has ``applied``. A database with versions
    this smshook does not know was migrated by a newer release: refuse rather than guess."""
    done = set(applied)
    known = migrations(dialect)
    newer = done - {m.version for m in known}
    if newer:
        raise StoreError(f"the database schema is at version {max(newer)}, newer than this smshook "
                         f"knows ({known[-1].version if known else 0}): upgrade smshook")
    return [m for m in known if m.version not in done]


def outdated(pending: list[Migration]) -> StoreError:
    """The error for a database that needs migrations while automatic migration is off."""
    names = ", ".join(m.name for m in pending)
    return StoreError(f"the database schema is not up to date (pending: {names}); run `smshook migrate`")
