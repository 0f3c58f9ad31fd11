"""``GET /v1/rejected``: the rejected-requests log (:mod:`smshook.rejected`), newest first.

(No ``from __future__ import annotations``: FastAPI reads the annotations, which use a local.)
"""


from typing import Annotated, Any

from fastapi import APIRouter, Query

from smshook.storage.base import Store
from smshook.web import params
from smshook.web.params import CURSOR, time_query


def rejected_router(store: Store, cursor: Any, max_limit: int) -> APIRouter:
    """The route, for the ``/v1`` router (``cursor`` checks a ``next_cursor``, as the other listings do)."""
    router = APIRouter()

    @router.get("/rejected", summary=(
        "Requests refused by their provider's authenticity check (bad or missing signature, stale "
        "timestamp, wrong credentials), newest first: reason, the URL the signature was checked "
        "against (a mis-set public_url is the usual cause) and the request with its secrets masked. "
        "Never stored as events."))
    async def list_rejected(
        connection: str | None = None,
        since: Annotated[str | None, time_query("first seen at or after")] = None,
        until: Annotated[str | None, time_query("first seen before")] = None,
        limit: Annotated[int, Query(ge=1, le=max_limit)] = 50,
        cursor_: Annotated[str | None, Query(alias="cursor", description="next_cursor of the previous page",
                                                  pattern=CURSOR)] = None,
    ) -> dict[str, Any]:
        rows = await store.rejected(limit + 1, cursor(cursor_), connection,
                                    params.when("since", since), params.when("until", until))
        return params.page(rows, limit, "id")

    return router
