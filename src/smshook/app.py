"""The ASGI application: the hook path (plain ASGI, hot) in front of the query API (FastAPI).

``create_app(settings)`` wires settings, the store, the provider adapters and both halves; the
store is opened and closed by the ASGI lifespan.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
from dataclasses import replace
from typing import Any

from pydantic import SecretStr

from smshook.forwarding.dispatcher import DispatchConfig, Dispatcher
from smshook.lifecycle.stuck import Sweeper
from smshook.metrics import Metrics
from smshook.pruner import Pruner, pruner_for
from smshook.settings import Settings
from smshook.storage import Store, make_store
from smshook.web.api import build_api
from smshook.web.hooks import PREFIX, HookApp, Receive, Scope, Send, connections_from
from smshook.web.metrics import PATH as METRICS_PATH
from smshook.web.metrics import MetricsEndpoint, metrics_tokens
from smshook.web.stream import close_on_exit_signals

log = logging.getLogger("smshook")

# The collector's first generation runs after this many new container objects (Python's default: 700).
GC_THRESHOLD = 50_000


def tune_gc() -> None:
    """Keep the garbage collector's pauses out of the answers' tail latency, once a server has started.

    Measured under the benchmark's csoft load (bench/README.md, "Where the time goes"): with Python's
    defaults a full collection walked every object alive since start-up (FastAPI, pydantic and their
    models) and paused the event loop 35-55 ms once every few seconds, which was the single-event p99.
    ``gc.freeze()`` moves the objects alive after start-up out of the collector's view (they are
    never freed anyway; reference counting still frees everything else), and a larger first generation
    makes the collections of request garbage rarer. Reference cycles made later are still collected.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])


class SmshookApp:
    """The whole service as one ASGI callable."""

    def __init__(self, settings: Settings, store: Store | None = None, *, server: bool = False) -> None:
        self.settings = settings
        self.server = server  # run by `smshook serve`: owns the process (see tune_gc)
        self.store = store or make_store(settings.database, auto_migrate=settings.auto_migrate)
        token = settings.api_token.get_secret_value() if settings.api_token else None
        self.metrics = Metrics(settings.connections)
        self.store.on_commit = self.metrics.on_commit
        self.metrics_endpoint = MetricsEndpoint(self.metrics, self.store, metrics_tokens(settings))
        self.hooks = HookApp(connections_from(settings), self.store, max_body=settings.max_body_bytes,
                             trusted_proxies=tuple(settings.trusted_proxies), metrics=self.metrics,
                             on_queued=self._wake_dispatcher)
        self.dispatcher: Dispatcher | None = None
        self.pruner: Pruner | None = None
        self.store.link_windows = {n: c.lifecycle.link_window for n, c in self.hooks.connections.items()
                                   if c.lifecycle.link_window}
        lifecycles = {n: (c.provider.slug, c.lifecycle) for n, c in self.hooks.connections.items()}
        self.sweeper = Sweeper(self.store, lifecycles, on_stored=self._wake_dispatcher)
        self.api = build_api(self.store, token, wake=self._wake_dispatcher, connections=self.hooks.connections,
                             allow_private_targets=settings.forwarding_allow_private_targets,
                             retention=settings.retention_plan())

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
                poll_interval=s.forwarding_poll_interval, allow_private_targets=s.forwarding_allow_private_targets))
            self.dispatcher.on_attempt = self.metrics.on_attempt
            self.dispatcher.start()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" and scope["path"].startswith(PREFIX):
            await self.hooks(scope, receive, send)
        elif kind == "http" and scope["path"] == METRICS_PATH:
            await self.metrics_endpoint(scope, receive, send)
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
                    self.pruner = pruner_for(self.store, self.settings)
                    if self.pruner is not None:
                        self.pruner.start()
                    self.sweeper.start()  # stuck messages (smshook.lifecycle.stuck)
                except Exception as exc:
                    log.error("cannot start: %s", exc)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                close_on_exit_signals(self.api.state.feed.close)  # open event streams must not delay shutdown
                if self.server:
                    tune_gc()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.api.state.feed.close()
                if self.pruner is not None:
                    await self.pruner.stop()
                await self.sweeper.stop()
                if self.dispatcher is not None:
                    await self.dispatcher.stop()
                    self.dispatcher = None
                await self.store.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(settings: Settings, *, server: bool = False) -> SmshookApp:
    """The app; ``server=True`` when it owns the process (``smshook serve``), which tunes the collector."""
    return SmshookApp(settings, server=server)


# -- serve --workers N: uvicorn starts each worker process from an import string ----------------------

# Not SMSHOOK_*: never read as a setting. Holds secrets, like SMSHOOK_API_TOKEN would (environ is 0400).
WORKER_SETTINGS = "_SMSHOOK_WORKER_SETTINGS"


def settings_json(settings: Settings) -> str:
    """The validated settings as JSON, secrets revealed, for the worker processes to rebuild."""

    def plain(value: Any) -> Any:
        return value.get_secret_value() if isinstance(value, SecretStr) else str(value)  # networks

    return json.dumps(settings.model_dump(), default=plain)


def worker_app() -> SmshookApp:
    """The app factory each worker of ``serve --workers N`` runs (``smshook.app:worker_app``):
    the settings the parent validated, passed in :data:`WORKER_SETTINGS`."""
    return create_app(Settings(**json.loads(os.environ[WORKER_SETTINGS])), server=True)


def prepare_store(settings: Settings) -> None:
    """Open and close the store once, before the workers start: migrations run in one process, and a
    database that cannot be reached stops start-up with one message instead of N failing workers."""

    async def run() -> None:
        store = SmshookApp(settings).store
        await store.open()
        await store.close()

    asyncio.run(run())
