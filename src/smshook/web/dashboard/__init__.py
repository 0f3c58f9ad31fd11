"""The dashboard: a one-page app (plain HTML, CSS and ES modules shipped with the package, no build
step, no CDN) served at ``/`` by the same process as the API it reads.

The files hold no data, so they are public; every number on the page comes from ``/v1`` with the API
token the operator enters (kept in ``sessionStorage``, sent as ``Authorization: Bearer``; the live
feed is read with ``fetch()`` too, never with a token in a URL). Every dashboard response carries a
strict Content-Security-Policy (only same-origin scripts, no inline code, no framing).
"""

from __future__ import annotations

import mimetypes
from importlib import resources

from fastapi import FastAPI
from fastapi.responses import Response

STATIC = resources.files(__name__) / "static"
ASSETS_PATH = "/dashboard/"

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; object-src 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


def _load() -> dict[str, tuple[bytes, str]]:
    """Every static file, read once: name → (content, media type)."""
    files: dict[str, tuple[bytes, str]] = {}
    for item in STATIC.iterdir():
        if item.is_file() and not item.name.startswith("."):
            media = mimetypes.guess_type(item.name)[0] or "application/octet-stream"
            if item.name.endswith(".js"):
                media = "text/javascript"
            if media.startswith("text/") or media == "image/svg+xml":
                media += "; charset=utf-8"
            files[item.name] = (item.read_bytes(), media)
    return files


def mount_dashboard(app: FastAPI) -> None:
    """Serve ``/`` (the page) and ``/dashboard/<file>`` (its scripts and styles) on ``app``."""
    files = _load()

    def serve(name: str) -> Response:
        found = files.get(name)
        if found is None:
            return Response(b'{"error":"no such dashboard file"}', 404, media_type="application/json")
        return Response(found[0], media_type=found[1], headers=SECURITY_HEADERS)

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        return serve("index.html")

    @app.get(ASSETS_PATH + "{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        return serve(name)
