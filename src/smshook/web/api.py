"""The query API (JSON, described by OpenAPI at ``/openapi.json``) and the health endpoints.

:func:`build_api` makes the app: the token check, one router per resource (``api_events``,
``api_quarantine``, ``api_connections``, ``api_forwarding``, ``api_operator``, ``api_lifecycle``,
``api_rejected``, ``api_privacy``, ``api_sns``, the live feed of ``stream``), the health endpoints,
the dashboard and the error answers.

When an API token is configured every ``/v1`` route requires ``Authorization: Bearer <token>``.
Errors are ``{"error": "<what is wrong>"}`` with a 4xx status naming the offending parameter.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from starlette.exceptions import HTTPException
from starlette.routing import Match

from smshook import __version__
from smshook.errors import ApiError, StoreError
from smshook.privacy import Retention
from smshook.storage import privacy
from smshook.storage.base import Store
from smshook.web.api_connections import connections_router
from smshook.web.api_events import events_router
from smshook.web.api_forwarding import forwarding_router
from smshook.web.api_lifecycle import lifecycle_router
from smshook.web.api_operator import add_operator_routes
from smshook.web.api_privacy import privacy_router
from smshook.web.api_quarantine import quarantine_router
from smshook.web.api_rejected import rejected_router
from smshook.web.api_sns import add_sns_routes
from smshook.web.dashboard import mount_dashboard
from smshook.web.hooks import Connection
from smshook.web.params import MAX_LIMIT, ErrorBody, cursor
from smshook.web.stream import Feed, add_stream_route

READY_TIMEOUT = 5.0  # seconds /readyz waits for its write probe to commit
BEARER = HTTPBearer(auto_error=False, description="`Authorization: Bearer <api_token>`")


class OrjsonResponse(JSONResponse):
    """JSON bodies through orjson (FastAPI's own ORJSONResponse is deprecated)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def build_api(store: Store, api_token: str | None, wake: Callable[[], None] | None = None,
              connections: Mapping[str, Connection] | None = None, *, allow_private_targets: bool = False,
              retention: Retention | None = None) -> FastAPI:
    """The API over ``store``; ``connections`` (the configured ones) serve statistics and re-processing;
    ``allow_private_targets``: forwarding_allow_private_targets; ``retention``: for POST /v1/prune."""
    configured: Mapping[str, Connection] = connections or {}
    app = FastAPI(
        title="smshook", version=__version__, docs_url=None, redoc_url=None,
        default_response_class=OrjsonResponse,
        description="Query the events smshook received from SMS providers.",
    )

    async def check_token(request: Request) -> None:
        if api_token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), api_token.encode()):
            raise ApiError(401, "missing or wrong API token: send 'Authorization: Bearer <token>'",
                           {"www-authenticate": "Bearer"})

    async def require_token(request: Request, _: Annotated[Any, Security(BEARER)] = None) -> None:
        await check_token(request)  # the Security parameter declares the scheme in the OpenAPI document

    answers: dict[int | str, dict[str, Any]] = {
        400: {"model": ErrorBody, "description": "A parameter is invalid; the error names it"},
        404: {"model": ErrorBody, "description": "No such resource"},
    }
    if api_token is not None:
        answers[401] = {"model": ErrorBody, "description": "Missing or wrong API token"}
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_token if api_token is not None else check_token)],
                   responses=answers)

    def poke() -> None:  # wake the dispatcher: deliveries may be due
        if wake is not None:
            wake()

    v1.include_router(events_router(store))  # events, a message's timeline
    v1.include_router(quarantine_router(store, configured, poke))  # unreadable requests, re-processing
    v1.include_router(connections_router(store, configured))  # connections, statistics
    v1.include_router(forwarding_router(store, poke, allow_private_targets))  # subscriptions, deliveries, replay

    add_operator_routes(app, v1, store, ApiError)  # exports, per-subscription deliveries, identity
    v1.include_router(lifecycle_router(store, poke, configured.keys() if connections else None))  # lifecycle
    feed = app.state.feed = Feed(store)  # the live feed; SmshookApp ends it at shutdown
    add_stream_route(v1, feed, ApiError)
    add_sns_routes(v1)  # Amazon SNS subscription confirmations

    v1.include_router(rejected_router(store, cursor, MAX_LIMIT))
    v1.include_router(privacy_router(store, ApiError, retention))
    app.include_router(v1)
    mount_dashboard(app)  # "/" and its static files: public, they hold no data

    @app.get("/healthz", summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="The store answers and can commit a write (503 while it cannot: disk full, "
             "read-only, database down)")
    async def readyz() -> JSONResponse:
        if not await store.ping():
            return JSONResponse({"status": "unavailable", "error": "store does not answer"}, status_code=503)
        try:
            await asyncio.wait_for(privacy.probe_write(store), READY_TIMEOUT)
        except (StoreError, TimeoutError) as exc:
            return JSONResponse({"status": "unavailable", "error": f"store cannot commit: {exc or 'timed out'}"},
                                status_code=503)
        return JSONResponse({"status": "ready"})

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
        headers = exc.headers
        if exc.status_code == 405:  # Starlette names the methods of the first route of the path only
            headers = {**{k: v for k, v in (headers or {}).items() if k.lower() != "allow"},
                       "allow": ", ".join(_methods(app, request))}
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"error": f"store unavailable: {exc}"}, status_code=503)

    return app


def _methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route serves at the request's path (a 405's ``Allow``)."""
    return [method for method in ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")
            if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in app.router.routes)]
