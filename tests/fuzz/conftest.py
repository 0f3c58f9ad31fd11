"""Hypothesis for the fuzz suites: seeded (derandomized) and bounded, so CI runs the same examples in
bounded time. ``SMSHOOK_FUZZ=long`` runs many more, randomly seeded, for a session of hunting."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from smshook.providers import sns
from smshook.providers.sns_confirm import CONFIRMER
from tests.providers.sns_signing import certificate_source

settings.register_profile(
    "smshook-ci", derandomize=True, database=None, deadline=None, max_examples=80, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.register_profile(
    "smshook-long", derandomize=False, database=None, deadline=None, max_examples=400,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
PROFILE = "smshook-long" if os.environ.get("SMSHOOK_FUZZ") == "long" else "smshook-ci"


@pytest.fixture(autouse=True)
def sns_offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """SNS requests verify against the test certificate (served for its URL, never fetched), and a
    subscription confirmation is never fetched from AWS: the fuzzer stays on loopback."""
    fetched: list[str] = []

    async def fetch(url: str) -> int:
        fetched.append(url)
        return 200

    monkeypatch.setattr(sns.CERTIFICATES, "source", certificate_source)
    monkeypatch.setattr(CONFIRMER, "fetch", fetch)
    monkeypatch.setattr(CONFIRMER, "subscriptions", {})
    sns.CERTIFICATES.clear()
    yield
    sns.CERTIFICATES.clear()
