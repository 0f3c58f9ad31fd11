"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No SMSHOOK_* variables from the caller's shell, and a scratch working directory."""
    for name in list(os.environ):
        if name.upper().startswith("SMSHOOK_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
