"""Hypothesis for the fuzz suites: seeded (derandomized) and bounded, so CI runs the same examples in
bounded time. ``SMSHOOK_FUZZ=long`` runs many more, randomly seeded, for a session of hunting."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "smshook-ci", derandomize=True, database=None, deadline=None, max_examples=80, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.register_profile(
    "smshook-long", derandomize=False, database=None, deadline=None, max_examples=400,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
PROFILE = "smshook-long" if os.environ.get("SMSHOOK_FUZZ") == "long" else "smshook-ci"
