"""The ASGI application: the hook path (plain ASGI, hot) in front of the query API (FastAPI).

``create_app(settings)`` wires settings, the store, the provider adapters and both halves; the
store is opened and closed by the ASGI lifespan.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from smshook.forwarding.dispatcher import DispatchConfig, Dispatcher
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
        self.dispatcher: Dispatcher | None = None
        self.api = build_api(self.store, token, wake=self._wake_dispatcher)

    def _wake_dispatcher(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake()

    async def start_forwarding(self) -> None:
        """Upsert the config file's subscriptions, then start the dispatcher (unless disabled)."""
        for name, spec in self.settings.subscriptions.items():
            existing = await self.store.subscription(name)
            await self.store.put_subscription(spec.build(name, "config", keep=existing))
        for sub in await self.store.subscriptions():  # taken out of the config file: stop, keep history
            if sub.source == "config" and sub.id not in self.settings.subscriptions and sub.enabled:
                await self.store.put_subscription(
                    replace(sub, enabled=False, disabled_reason="no longer in the config file"))
        if self.settings.forwarding:
            s = self.settings
            self.dispatcher = Dispatcher(self.store, DispatchConfig(
                schedule=tuple(s.forwarding_schedule), jitter=s.forwarding_jitter, timeout=s.forwarding_timeout,
                concurrency=s.forwarding_concurrency, lease=s.forwarding_lease,
                poll_interval=s.forwarding_poll_interval))
            self.dispatcher.start()

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
                    await self.start_forwarding()
                except Exception as exc:
                    log.error("cannot start: %s", exc)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.dispatcher is not None:
                    await self.dispatcher.stop()
                    self.dispatcher = None
                await self.store.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(settings: Settings) -> SmshookApp:
    return SmshookApp(settings)
