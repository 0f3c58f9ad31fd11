"""Opt-outs that survive erasure: a suppression list without the numbers.

Erasing a number (``DELETE /v1/subscribers/{phone}``, ``smshook erase``) anonymizes its ``optout`` /
``optin`` events like every other event, but the person must never be messaged again after a STOP just
because they also asked to be forgotten (GDPR Art. 17(3): the suppression list is what lets the sender
honour the objection). So, before the events lose the number, the erasure keeps the number's opt-out
state — per sender scope, its latest opt-out or opt-in — in ``erased_optouts``, under a keyed one-way
hash of the number's digits (HMAC-SHA256 with 32 random bytes made once per database, ``privacy_key``).

The check of a number (:func:`smshook.lifecycle.store.check`) reads its events *and* the kept rows of
its hash, and orders them together by event id (UUIDv7: time of receipt), so a START received after
the erasure (a new, ordinary event) opts the number back in, and a later STOP out again. A listing
without a number shows a kept opt-out as ``{"phone": null, "erased": true, ...}``.

The hash only hides the number from whoever reads the data without the key (API answers, exports,
copies of the table): the key is in the same database, and phone numbers are few enough to be
enumerated by someone holding both.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from smshook.events import stamp
from smshook.lifecycle import optouts
from smshook.privacy import subscriber_digits
from smshook.providers import formats

if TYPE_CHECKING:
    from smshook.lifecycle.db import Db

EVERY = ""  # the scope column's "every sender" (STOPALL), NULL in events


def lookup_number(value: str) -> str | None:
    """A number to look up, normalized as smshook stores it: the digits of a phone number written any
    way (``(+44) 7700 900 123``, ``0044…``); a short code or a sender id as :func:`formats.phone` keeps it."""
    try:
        return subscriber_digits(value)
    except ValueError:
        return formats.phone(value)


def digest(key: bytes, number: str) -> str:
    """The keyed one-way hash of a normalized number (hex HMAC-SHA256)."""
    return hmac.new(key, number.encode(), hashlib.sha256).hexdigest()


async def key_of(db: Db) -> bytes | None:
    """The database's hash key, None before the first erasure made it."""
    rows = await db.fetch("SELECT secret FROM privacy_key WHERE id = 1")
    return bytes(rows[0][0]) if rows else None


async def make_key(db: Db) -> bytes:
    """The database's hash key, made now (32 random bytes) if there is none yet (in a write transaction)."""
    await db.execute("INSERT INTO privacy_key (id, secret, created_at) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING",
                     (secrets.token_bytes(32), stamp(datetime.now(UTC))))
    key = await key_of(db)
    assert key is not None
    return key


def _change(row: Sequence[Any]) -> optouts.Change:
    scope, kind, event_id, at, keyword, connection = row
    return optouts.Change(id=event_id, type=kind, sender=None if scope == EVERY else scope, keyword=keyword,
                          at=at, connection=connection, erased=True)


async def kept(db: Db, number: str) -> list[optouts.Change]:
    """The opt-out state kept for ``number`` when it was erased (none when it never was)."""
    key = await key_of(db)
    if key is None:
        return []
    rows = await db.fetch("SELECT scope, type, event_id, at, keyword, connection FROM erased_optouts "
                          "WHERE phone_hash = ?", (digest(key, number),))
    return [_change(r) for r in rows]


async def keep(db: Db, number: str, changes: Iterable[optouts.Change]) -> int:
    """Keep the latest of ``changes`` (the number's opt-out / opt-in events about to be anonymized) per
    sender scope under the number's hash; a row kept by an earlier erasure is replaced only by a newer
    event. Returns the scopes kept. Runs in the erasure's write transaction."""
    latest: dict[str | None, optouts.Change] = {}
    for c in sorted(changes, key=lambda c: c.id):
        latest[c.sender] = c
    if not latest:
        return 0
    hashed = digest(await make_key(db), number)
    now = stamp(datetime.now(UTC))
    for scope, c in latest.items():
        await db.execute(
            "INSERT INTO erased_optouts (phone_hash, scope, type, event_id, at, keyword, connection, erased_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (phone_hash, scope) DO UPDATE SET type = excluded.type, "
            "event_id = excluded.event_id, at = excluded.at, keyword = excluded.keyword, "
            "connection = excluded.connection, erased_at = excluded.erased_at "
            "WHERE excluded.event_id > erased_optouts.event_id",
            (hashed, EVERY if scope is None else scope, c.type, c.id, c.at, c.keyword, c.connection, now))
    return len(latest)


async def listed(db: Db, limit: int, before: str | None) -> list[dict[str, Any]]:
    """Kept opt-outs still in force, as rows of ``GET /v1/optouts`` without a number (newest first,
    ``before``: an event id cursor): ``phone`` null, ``erased`` true. One the number's later opt-in
    (a START received after the erasure, stored in clear) cancelled is left out."""
    key = await key_of(db)
    if key is None:
        return []
    where, args = ["type = 'optout'"], []
    if before is not None:
        where.append("event_id < ?")
        args.append(before)
    rows = await db.fetch(f"SELECT phone_hash, scope, type, event_id, at, keyword, connection FROM erased_optouts "
                          f"WHERE {' AND '.join(where)} ORDER BY event_id DESC LIMIT ?", (*args, limit))
    if not rows:
        return []
    # Later opt-outs / opt-ins are stored in clear: hash their numbers to find those of erased numbers.
    # Only events newer than the oldest candidate can cancel one (erasures are rare, so this is small).
    hint = " INDEXED BY events_optouts" if db.dialect == "sqlite" else ""
    later: dict[tuple[str, str], str] = {}
    for sender, scope, event_id in await db.fetch(
            f"SELECT sender, recipient, id FROM events{hint} WHERE type IN ('optout', 'optin') "
            "AND sender IS NOT NULL AND id > ?", (min(r[3] for r in rows),)):
        pair = (digest(key, sender), EVERY if scope is None else scope)
        later[pair] = max(later.get(pair, ""), event_id)
    out = []
    for phone_hash, scope, _kind, event_id, at, keyword, connection in rows:
        # the same rule as the clear listing: a later change of the same scope supersedes it (an opt-in
        # to one sender does not lift an opt-out of every sender)
        if later.get((phone_hash, scope), "") <= event_id:
            out.append({"phone": None, "erased": True, "sender": None if scope == EVERY else scope,
                        "opted_out": True, "since": at, "keyword": keyword, "event_id": event_id,
                        "connection": connection})
    return out
