"""The provider registry: the built-in adapters plus any installed through the ``smshook.providers``
entry-point group (``slug = "package.module:ProviderClass"``).

See :mod:`smshook.providers.base` for the contract every adapter fulfils.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module
from importlib.metadata import entry_points

from smshook.errors import ConfigError
from smshook.providers.base import Provider

# slug -> "module:Class"; one module per provider.
BUILTIN: tuple[str, ...] = ("csoft", "cdyne", "webcom", "spryng", "bulkgate", "twilio", "vonage", "plivo",
                            "telnyx", "sinch", "messagebird", "infobip")
BUILTIN += ("kannel", "jasmin", "sns")  # gateways the sender runs, and AWS


def _builtin(slug: str) -> type[Provider]:
    module = import_module(f"smshook.providers.{slug}")
    cls: type[Provider] = module.PROVIDER
    return cls


@cache
def registry() -> dict[str, Provider]:
    """Every known provider by slug, built-ins first. Plugins cannot shadow a built-in."""
    found: dict[str, Provider] = {slug: _builtin(slug)() for slug in BUILTIN}
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
