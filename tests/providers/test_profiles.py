"""Every registered provider has a simulator profile, and a signing provider's profile signs
callbacks exactly as its adapter verifies them (and not with another secret)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from smshook.errors import SignatureError
from smshook.providers import registry
from smshook.providers.base import RawRequest, declared_options
from smshook.settings import Connection
from smshook.simulate import Options, plan, signed, target
from smshook.simulate.profiles import load

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
SIGNING = sorted(slug for slug, p in registry().items()
                 if p.auth_kind == "signature" and any(o.secret for o in declared_options(p)))


def test_every_provider_has_a_profile() -> None:
    missing = [slug for slug in registry() if load(slug) is None]
    assert not missing, f"no simulator profile (smshook/simulate/profiles/<slug>.py) for: {missing}"


@pytest.mark.parametrize("slug", SIGNING)
def test_profile_signs_what_the_adapter_verifies(slug: str) -> None:
    profile = load(slug)
    assert profile is not None and profile.sign is not None, f"{slug}: the profile cannot sign"
    assert profile.example, f"{slug}: the profile has no example connection options to sign with"
    provider = registry()[slug]
    conn = Connection(provider=slug, **profile.example)
    options = Options(connection={k: str(v) for k, v in conn.option_values(reveal=True).items()},
                      public_url=conn.public_url)
    url = f"http://127.0.0.1:8080/hooks/{slug}"
    the_plan = plan(slug, count=30, inbound_share=0.3, seed=5, options=options, now=NOW)
    secrets = [o.name for o in declared_options(provider) if o.secret and o.name in profile.example]
    for callback in the_plan.callbacks:
        method, query, headers, body = signed(profile, callback.request, url, options, NOW)
        sent = signed_url(conn.public_url, query) if conn.public_url else target(url, query)
        request = RawRequest(method, f"/hooks/{slug}", query.encode("latin-1"),
                             tuple((k.lower(), v) for k, v in headers), body, "127.0.0.1", sent, NOW)
        provider.verify(request, conn.info(slug))
        assert provider.parse(request, conn.info(slug))
        for name in secrets:  # signed with another secret: refused
            other = Connection(provider=slug, **{**profile.example, name: "x" + str(profile.example[name])[1:]})
            with pytest.raises(SignatureError):
                provider.verify(replace(request), other.info(slug))


def signed_url(public_url: str, query: str) -> str:
    from smshook.web.public_url import configured

    return configured(public_url, query.encode("latin-1"))
