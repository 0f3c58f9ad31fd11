"""The provider registry: the built-in adapters plus any installed through the ``smshook.providers``
entry-point group (``slug = "package.module:ProviderClass"``).

A built-in is any module of this package that ends in ``PROVIDER = Class``, its name the slug: adding
the module registers it (the shared helpers, ``formats``, ``signing``, ``smpp``…, define no ``PROVIDER``).

See :mod:`smshook.providers.base` for the contract every adapter fulfils.
"""

from __future__ import annotations

import pkgutil
from functools import cache
from importlib import import_module
from importlib.metadata import entry_points

from smshook.errors import ConfigError
from smshook.providers.base import Provider


def _builtin(slug: str) -> type[Provider] | None:
    cls = getattr(import_module(f"{__name__}.{slug}"), "PROVIDER", None)
    return cls if isinstance(cls, type) and issubclass(cls, Provider) else None


# The built-in providers' slugs, in alphabetical order (one module each).
BUILTIN: tuple[str, ...] = tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if _builtin(m.name)))


@cache
def registry() -> dict[str, Provider]:
    """Every known provider by slug, built-ins first. Plugins cannot shadow a built-in."""
    found: dict[str, Provider] = {slug: cls() for slug in BUILTIN if (cls := _builtin(slug)) is not None}
    for ep in entry_points(group="smshook.providers"):
        if ep.name in found:
            continue
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, Provider)):
            raise ConfigError(f"entry point smshook.providers:{ep.name} is not a Provider subclass")
        found[ep.name] = cls()
    return found


def get(slug: str) -> Provider:
    try:
        return registry()[slug]
    except KeyError:
        known = ", ".join(sorted(registry()))
        raise ConfigError(f"unknown provider {slug!r} (known: {known})") from None
