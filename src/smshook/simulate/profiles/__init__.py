"""Simulator profiles, one module per provider, found by slug: ``smshook.simulate.profiles.<slug>``
for the built-ins, the module a plugin names in ``Provider.simulator`` otherwise. Each exports
``PROFILE``, a :class:`~smshook.simulate.common.Profile`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from importlib import import_module

from smshook.providers import registry
from smshook.simulate.common import Profile


@cache
def load(slug: str) -> Profile | None:
    """The profile of a registered provider, or None when it has none."""
    provider = registry().get(slug)
    if provider is None:
        return None
    module_name = provider.simulator or f"{__name__}.{slug}"
    try:
        module = import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:  # the profile exists but one of its imports does not
            raise
        return None
    profile = getattr(module, "PROFILE", None)
    return profile if isinstance(profile, Profile) else None


class Profiles(Mapping[str, Profile]):
    """Every registered provider that has a profile, by slug (loaded on first use)."""

    def __getitem__(self, slug: str) -> Profile:
        profile = load(slug)
        if profile is None:
            raise KeyError(slug)
        return profile

    def __iter__(self) -> Iterator[str]:
        return (slug for slug in registry() if load(slug) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)
