"""The data-protection routes of the query API: erasure of a subscriber's number, quarantine
dismissal, pruning on demand and the audit log. Included in the authenticated ``/v1`` router."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from smshook.privacy import Retention, subscriber_digits
from smshook.storage import privacy
from smshook.storage.base import Store

# A number subscriber_digits() reads, for the OpenAPI document: 6 to 20 digits after a + or 00 (or
# none, then not starting 00), with spaces, dashes, dots and brackets anywhere.
_SEP = r"[\s().-]*"
_DIGITS = rf"[0-9]({_SEP}[0-9]){{5,19}}{_SEP}$"
PHONE = rf"^{_SEP}(\+{_SEP}{_DIGITS}|0{_SEP}0{_SEP}{_DIGITS}|(?!0{_SEP}0){_DIGITS})"
Who = Annotated[str, Query(min_length=1, max_length=200, description="Who does this (kept in the audit)")]


def privacy_router(store: Store, error: type[Exception], retention: Retention | None = None) -> APIRouter:
    """The routes; ``error(status, message)`` is the API's error type, ``retention`` the configured one."""
    router = APIRouter()

    @router.delete("/subscribers/{phone}", summary=(
        "Erase a subscriber: every event, raw request, quarantine entry and delivery that holds the number "
        "(written any way: +447700900123, 00447700900123, 44 7700 900123, URL-encoded) is anonymized, and so "
        "are registered messages to it; an opt-out stays in force, kept under a keyed hash of the number. "
        '200 {"erased": {"events", "raw_requests", "quarantine", "deliveries", "subscriptions", "registrations", '
        '"optouts_kept", "rejected"}, "audit_id"}; the audit row and log line never hold the number'))
    async def erase_subscriber(phone: Annotated[str, Path(json_schema_extra={"pattern": PHONE})],
                               who: Annotated[str | None, Query(max_length=200)] = None) -> dict[str, Any]:
        try:
            digits = subscriber_digits(phone)
        except ValueError as exc:
            raise error(400, f"phone: {exc}") from None
        counts, audit_id = await privacy.erase(store, digits, who)
        return {"erased": counts, "audit_id": audit_id}

    @router.delete("/quarantine/{quarantine_id}", summary=(
        "Dismiss a quarantined request: it stays, marked resolved with who, why and when, and leaves the "
        "open list (GET /v1/quarantine?state=dismissed shows it). 200: the entry; 404 unknown id; 409 "
        "dismissed already"), responses={409: {"description": "Dismissed already"}})
    async def dismiss(quarantine_id: str, who: Who,
                      why: Annotated[str, Query(min_length=1, max_length=500, description="Why")]) -> dict[str, Any]:
        try:
            entry = await privacy.dismiss_quarantine(store, quarantine_id, who, why)
        except KeyError:
            raise error(404, f"no quarantine entry {quarantine_id!r}") from None
        except ValueError as exc:
            raise error(409, str(exc)) from None
        await privacy.audit(store, "dismiss", who, {"quarantine_id": quarantine_id})
        return entry

    @router.post("/prune", summary=(
        "Delete what is older than the configured retention now (as the background pruner does); "
        'dry_run=true only counts. 200 {"dry_run", "pruned": {"events", "messages", "deliveries", '
        '"raw_requests", "quarantine", "registrations"}}; the latest opt-out / opt-in of a number per sender stays'))
    async def prune(dry_run: bool = False) -> dict[str, Any]:
        if retention is None or not retention.active:
            return {"dry_run": dry_run, "pruned": privacy.Pruned().counts(),
                    "note": "no retention configured: everything is kept for ever"}
        return {"dry_run": dry_run, "pruned": await privacy.prune(store, retention, dry_run=dry_run, actor="api")}

    @router.get("/audit", summary="The audit log (erasures, prunes, dismissals), newest first")
    async def audit(limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
        return {"data": await privacy.audit_rows(store, limit)}

    return router
