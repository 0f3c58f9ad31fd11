"""Preflight checks of the signing providers' keys (issue 16 on the provider contract of issue 13):
options that only work together (csoft username/PIN, Infobip basic-auth user/password) stop start-up
when half given; a provider whose signature covers the URL, with its secret set and no public_url,
is warned about by serve, config check and doctor; doctor says per connection what checks it; the
generated configuration reference says which keys go together and which cover the URL."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from smshook.cli import main
from smshook.preflight import auth_options, signing_checks, signing_warnings
from smshook.providers import BUILTIN, registry
from smshook.providers.base import declared_options
from smshook.settings import load_settings, reference_markdown

pytestmark = pytest.mark.usefixtures("clean_env")
SECRET = "0123456789abcdef0123"
TOKEN = "tok-0123456789abcdef"


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("given", "missing"), [("basic_user = 'infobip'", "basic_password"),
                                                ("basic_password = 'pw'", "basic_user")])
def test_infobip_basic_user_and_password_go_together(tmp_path: Path, given: str, missing: str) -> None:
    path = config(tmp_path, f"[connections.ib]\nprovider = 'infobip'\n{given}\n")
    result = run("config", "check", "--config", str(path))
    assert result.exit_code == 2
    assert f"connections.ib: {given.split()[0]} without {missing}: infobip checks basic_user, basic_password " \
           "together, give both" in result.stderr
    assert "'pw'" not in result.stderr  # a secret's value is never quoted


def test_auth_options_name_each_providers_keys() -> None:
    assert auth_options("csoft") == ["username", "pin"]
    assert auth_options("twilio") == ["auth_token", "auth_token_secondary"]
    assert auth_options("vonage") == ["signature_secret"]  # not signature_method, which has a default
    assert auth_options("telnyx") == ["public_key"]  # a public key: no secret, still the check's key
    assert auth_options("infobip") == ["basic_user", "basic_password"]
    assert auth_options("bulkgate") == []


def test_url_signing_provider_without_public_url(tmp_path: Path) -> None:
    path = config(tmp_path, f"[connections.tw]\nprovider = 'twilio'\nauth_token = '{SECRET}'\n"
                            f"[connections.pl]\nprovider = 'plivo'\nauth_token = '{SECRET}'\n"
                            "public_url = 'https://sms.example.com/hooks/pl/'\n"
                            f"[connections.si]\nprovider = 'sinch'\nwebhook_secret = '{SECRET}'\n")
    settings = load_settings(path)
    [warning] = signing_warnings(settings)  # Plivo has its public_url, Sinch does not sign the URL
    assert warning.startswith("connection 'tw' (Twilio) checks signatures over the URL but has no public_url")
    assert SECRET not in warning
    checks = {name: (level, detail) for level, name, detail in signing_checks(settings)}
    assert checks["tw"][0] == "warn"
    assert checks["pl"] == ("ok", "connection 'pl' (Plivo) checks signatures against its public_url (auth_token set)")
    assert checks["si"] == ("ok", "connection 'si' (Sinch) checks signatures (webhook_secret set)")
    result = run("config", "check", "--config", str(path))  # the banner's warnings, as serve prints them
    assert result.exit_code == 0
    assert "WARNING: connection 'tw' (Twilio) checks signatures over the URL but has no public_url" in result.stderr
    # behind trusted proxies smshook rebuilds the URL from X-Forwarded-*: a hint, not a warning
    proxied = load_settings(path, trusted_proxies="10.0.0.1")
    assert signing_warnings(proxied) == []
    level, _, detail = next(c for c in signing_checks(proxied) if c[1] == "tw")
    assert level == "ok" and "rebuilt from the trusted proxies' X-Forwarded-Proto" in detail


def test_signing_provider_without_its_secret(tmp_path: Path) -> None:
    settings = load_settings(config(tmp_path, f"[connections.tw]\nprovider = 'twilio'\ntoken = '{TOKEN}'\n"
                                              "[connections.tx]\nprovider = 'telnyx'\n"
                                              "[connections.bg]\nprovider = 'bulkgate'\n"))
    checks = {name: (level, detail) for level, name, detail in signing_checks(settings)}
    assert checks["tw"] == ("ok", "connection 'tw' (Twilio) checks no signatures (auth_token or auth_token_secondary "
                                  "not set); its token protects it")
    assert checks["tx"] == ("warn", "connection 'tx' (Telnyx) checks no signatures: public_key not set, and no token "
                                    "or allow_ips, so /hooks/tx takes unsigned callbacks from anyone")
    assert "bg" not in checks  # BulkGate has no check of its own: the endpoint check speaks for it
    assert "tx" not in {name for _, name, _ in signing_checks(settings, endpoint_reported=True)}


def test_doctor_names_the_keys_and_each_connections_check(tmp_path: Path) -> None:
    path = config(tmp_path, f"[connections.tw]\nprovider = 'twilio'\nauth_token = '{SECRET}'\n"
                            "[connections.cs]\nprovider = 'csoft'\n")
    result = run("doctor", "--config", str(path), "--database", f"sqlite:///{tmp_path / 'x.db'}")
    assert "[warn] endpoint: /hooks/cs has no token, allow_ips or username/pin: anyone can post" in result.output
    assert "[warn] signatures: connection 'tw' (Twilio) checks signatures over the URL but has no public_url" \
        in result.output
    assert SECRET not in result.output


def test_reference_says_which_keys_go_together_and_which_cover_the_url() -> None:
    table = reference_markdown()
    row = next(line for line in table.splitlines() if line.startswith("| `infobip` | `basic_user` |"))
    assert row.endswith("Only together with `basic_password`. |")
    row = next(line for line in table.splitlines() if line.startswith("| `messagebird` | `signing_key` |"))
    assert "The signature covers the URL: set `public_url` behind a proxy." in row
    row = next(line for line in table.splitlines() if line.startswith("| `sinch` | `webhook_secret` |"))
    assert "covers the URL" not in row
    for slug in BUILTIN:  # every provider's keys are in the one generated reference
        for option in declared_options(registry()[slug]):
            assert f"| `{slug}` | `{option.name}` |" in table
