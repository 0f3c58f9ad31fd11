"""The ASGI application: the hook path (plain ASGI, hot) in front of the query API (FastAPI).

``create_app(settings)`` wires settings, the store, the provider adapters and both halves; the
store is opened and closed by the ASGI lifespan.
"""

from __future__ import annotations

import logging
from typing import Any

from smshook.providers import get as get_provider
from smshook.providers.base import ConnectionInfo
from smshook.settings import Settings
from smshook.storage import Store, make_store
from smshook.web.api import build_api
from smshook.web.hooks import PREFIX, Connection, HookApp, Receive, Scope, Send

log = logging.getLogger("smshook")


def connections_from(settings: Settings) -> dict[str, Connection]:
    out: dict[str, Connection] = {}
    for name, conf in settings.connections.items():
        provider = get_provider(conf.provider)
        options: dict[str, Any] = {}
        if conf.username is not None:
            options["username"] = conf.username
        if conf.pin is not None:
            options["pin"] = conf.pin.get_secret_value()
        out[name] = Connection(
            name=name,
            provider=provider,
            info=ConnectionInfo(name, provider.slug, options, conf.timezone),
            token=conf.token.get_secret_value() if conf.token else None,
            allow_ips=tuple(conf.allow_ips),
        )
    return out


class SmshookApp:
    """The whole service as one ASGI callable."""

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.store = store or make_store(settings.database)
        token = settings.api_token.get_secret_value() if settings.api_token else None
        self.hooks = HookApp(connections_from(settings), self.store, max_body=settings.max_body_bytes)
        self.api = build_api(self.store, token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" and scope["path"].startswith(PREFIX):
            await self.hooks(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:
            await self.api(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.store.open()
                except Exception as exc:
                    log.error("cannot start: %s", exc)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.store.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(settings: Settings) -> SmshookApp:
    return SmshookApp(settings)
