"""The query API (JSON, described by OpenAPI at ``/openapi.json``) and the health endpoints.

When an API token is configured every ``/v1`` route requires ``Authorization: Bearer <token>``.
Errors are ``{"error": "<what is wrong>"}`` with a 4xx status naming the offending parameter.
"""

from __future__ import annotations

import hmac
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, ORJSONResponse
from starlette.exceptions import HTTPException

from smshook import __version__
from smshook.errors import StoreError
from smshook.events import iso
from smshook.status import STATUSES
from smshook.storage.base import EventQuery, Store

MAX_LIMIT = 500


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers


def build_api(store: Store, api_token: str | None) -> FastAPI:
    app = FastAPI(
        title="smshook", version=__version__, docs_url=None, redoc_url=None,
        default_response_class=ORJSONResponse,
        description="Query the events smshook received from SMS providers.",
    )

    async def require_token(request: Request) -> None:
        if api_token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), api_token.encode()):
            raise ApiError(401, "missing or wrong API token: send 'Authorization: Bearer <token>'",
                           {"www-authenticate": "Bearer"})

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_token)])

    @v1.get("/events", summary="Events, newest first")
    async def list_events(
        connection: str | None = None,
        type: Literal["status", "inbound"] | None = None,
        message_id: str | None = None,
        status: str | None = None,
        since: Annotated[datetime | None, Query(description="ISO 8601; received at or after")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
        cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    ) -> dict[str, Any]:
        if status is not None and status not in STATUSES:
            raise ApiError(400, f"status: {status!r} is not one of {', '.join(STATUSES)}")
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        query = EventQuery(connection, type, message_id, status, iso(since), _cursor(cursor), limit + 1)
        rows = await store.events(query)
        more = len(rows) > limit
        rows = rows[:limit]
        return {"data": rows, "next_cursor": rows[-1]["id"] if more else None}

    @v1.get("/messages/{connection}/{message_id}", summary="A sent message's status and timeline")
    async def get_message(connection: str, message_id: str) -> dict[str, Any]:
        found = await store.message(connection, message_id)
        if found is None:
            raise ApiError(404, f"no events for message {message_id!r} on connection {connection!r}")
        return found

    @v1.get("/quarantine", summary="Requests that could not be read, with the reason and raw body")
    async def list_quarantine(
        connection: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        rows = await store.quarantined(limit + 1, _cursor(cursor), connection)
        more = len(rows) > limit
        rows = rows[:limit]
        return {"data": rows, "next_cursor": rows[-1]["id"] if more else None}

    app.include_router(v1)

    @app.get("/healthz", summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="The store answers")
    async def readyz() -> JSONResponse:
        if await store.ping():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "unavailable", "error": "store does not answer"}, status_code=503)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body"))
            problems.append(f"{where}: {err.get('msg', 'invalid')}")
        return JSONResponse({"error": "; ".join(problems)}, status_code=400)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"error": f"store unavailable: {exc}"}, status_code=503)

    return app


def _cursor(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ApiError(400, f"cursor: {value!r} is not a cursor returned by this API") from None
