"""Fixtures for the privacy and forwarding-safety tests: every store-level test runs on every backend."""

from __future__ import annotations

from tests.forwarding.conftest import receiver  # noqa: F401  (a real webhook receiver process)
from tests.storage.conftest import backend, store  # noqa: F401  (re-exported fixtures)
