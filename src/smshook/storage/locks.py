"""PostgreSQL's advisory locks, as every instance on one database takes them (the PostgreSQL store's
own; :mod:`smshook.lifecycle.store` takes the message locks too, before changing a message's rows).

Message locks: a transaction-scoped advisory lock per stripe of (connection, message_id), all taken at
the start of a batch in ascending order, so batches of different instances never deadlock on them,
and a status event's key is only ever inserted by the transaction holding its message's stripe.
"""

from __future__ import annotations

import zlib

MIGRATION_LOCK = 0x736D73686F6F6B  # pg_advisory_lock key: one migrating instance at a time ("smshook")
STRIPES = 1024
LOCK_BASE = 0x736D7300000  # advisory lock ids LOCK_BASE .. LOCK_BASE + STRIPES - 1
LOCK_STRIPES = "SELECT pg_advisory_xact_lock($1::bigint + s) FROM unnest($2::int[]) AS s"


def message_stripe(connection: str, message_id: str) -> int:
    """The same stripe in every instance (a stable hash, not Python's per-process ``hash``)."""
    return zlib.crc32(f"{connection}\x1f{message_id}".encode()) % STRIPES
