"""Storage backends. :func:`make_store` picks one from a database URL; the contract every backend
fulfils is :class:`smshook.storage.contract.Store` (the union of focused protocols)."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from smshook.errors import ConfigError
from smshook.storage.contract import AppendResult, EventQuery, RawRecord, Store

__all__ = ["AppendResult", "EventQuery", "RawRecord", "Store", "make_store"]


def make_store(url: str, *, auto_migrate: bool = True) -> Store:
    """A store for ``sqlite:///relative.db``, ``sqlite:////absolute.db`` or ``postgresql://...``
    (``postgres://`` too). With ``auto_migrate`` off, opening refuses an outdated schema."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if parts.netloc or not path:
            raise ConfigError(f"database: {url!r} is not sqlite:///path/to/file.db")
        from smshook.storage.sqlite import SQLiteStore

        return SQLiteStore(path, auto_migrate=auto_migrate)
    if parts.scheme in ("postgresql", "postgres"):
        from smshook.storage.postgres import PostgresStore

        return PostgresStore(url, auto_migrate=auto_migrate)
    raise ConfigError(f"database: unsupported URL scheme {parts.scheme!r} (use sqlite:///path.db or postgresql://…)")
