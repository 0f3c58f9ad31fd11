"""Provider tests never fetch an SNS certificate (the test certificate is served for its URL) and never
leave SNS subscription states behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smshook.providers import sns
from smshook.providers.sns_confirm import CONFIRMER
from tests.providers.sns_signing import certificate_source


@pytest.fixture(autouse=True)
def sns_test_certificate(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(sns.CERTIFICATES, "source", certificate_source)
    monkeypatch.setattr(CONFIRMER, "subscriptions", {})  # vectors acknowledge confirmations: keep them here
    sns.CERTIFICATES.clear()
    yield
    sns.CERTIFICATES.clear()
