"""Settings: sources and their priority, validation messages that name the key, no secret leaks."""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from smshook.errors import ConfigError
from smshook.providers import BUILTIN, registry
from smshook.providers.base import declared_options
from smshook.settings import (
    Connection,
    Settings,
    check_exposure,
    default_providers,
    is_loopback,
    load_settings,
    mask_url,
    reference_markdown,
)
from smshook.web.hooks import connections_from

TOKEN = "Tok-abcdefghijklmnop_0123"  # 24 URL-safe characters
API_TOKEN = "api-token-0123456789abcdef"
PIN = "pin-secret-98765"


pytestmark = pytest.mark.usefixtures("clean_env")


def write(tmp_path: Path, text: str, name: str = "smshook.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(config_file: Path | None = None, **overrides: Any) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(config_file, **overrides)
    return str(info.value)


CONFIG = f"""
host = "127.0.0.1"
port = 9000
database = "sqlite:///from-file.db"
max_body_bytes = 4096

[connections.shop]
provider = "csoft"
username = "shopuser"
pin = "{PIN}"
timezone = "Europe/London"

[connections.alerts]
provider = "webcom"
token = "{TOKEN}"
allow_ips = ["203.0.113.0/24", "198.51.100.7", "2001:db8::/32"]
"""


# -- sources ---------------------------------------------------------------------------------------


def test_defaults() -> None:
    settings = load_settings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.database == "sqlite:///smshook.db"
    assert settings.api_token is None and settings.insecure is False
    assert settings.max_body_bytes == 1_048_576
    assert list(settings.connections) == [slug for slug in BUILTIN if slug != "sns"]  # sns needs topics
    for name, conn in settings.connections.items():
        assert conn.provider == name and not conn.authenticated


def test_toml_file_defines_exactly_its_connections(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, CONFIG))
    assert settings.port == 9000 and settings.database == "sqlite:///from-file.db"
    assert settings.max_body_bytes == 4096
    assert set(settings.connections) == {"shop", "alerts"}
    shop, alerts = settings.connections["shop"], settings.connections["alerts"]
    assert shop.provider == "csoft" and shop.username == "shopuser" and shop.timezone == "Europe/London"
    assert shop.pin is not None and shop.pin.get_secret_value() == PIN
    assert alerts.allow_ips == [
        ip_network("203.0.113.0/24"),
        ip_network("198.51.100.7/32"),
        ip_network("2001:db8::/32"),
    ]
    assert shop.authenticated and alerts.authenticated


def test_env_beats_file_and_flags_beat_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, CONFIG)
    monkeypatch.setenv("SMSHOOK_PORT", "9100")
    monkeypatch.setenv("SMSHOOK_HOST", "::1")
    monkeypatch.setenv("SMSHOOK_INSECURE", "true")
    settings = load_settings(path)
    assert (settings.host, settings.port, settings.insecure) == ("::1", 9100, True)
    settings = load_settings(path, port=9200, host=None, insecure=None)  # None: flag not given
    assert (settings.host, settings.port) == ("::1", 9200)


def test_database_url_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, CONFIG)
    monkeypatch.setenv("SMSHOOK_DATABASE", "sqlite:///short-name.db")
    assert load_settings(path).database == "sqlite:///short-name.db"
    monkeypatch.setenv("SMSHOOK_DATABASE_URL", "postgres://smshook@db.internal/smshook")
    assert load_settings(path).database == "postgresql://smshook@db.internal/smshook"
    assert load_settings(path, database="sqlite:///flag.db").database == "sqlite:///flag.db"


def test_connections_from_env_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSHOOK_CONNECTIONS", f'{{"sms": {{"provider": "spryng", "token": "{TOKEN}"}}}}')
    settings = load_settings()
    assert list(settings.connections) == ["sms"]
    assert connections_from(settings)["sms"].token == TOKEN


def test_env_json_merges_into_file_connections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSHOOK_CONNECTIONS", f'{{"shop": {{"token": "{TOKEN}"}}}}')
    shop = load_settings(write(tmp_path, CONFIG)).connections["shop"]
    assert shop.provider == "csoft" and shop.token is not None


def test_empty_connections_table_means_none(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, "[connections]\n")).connections == {}


def test_bad_env_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSHOOK_CONNECTIONS", "{shop")
    assert "SMSHOOK_CONNECTIONS: not valid JSON" in error_of()


def test_unknown_env_var_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSHOOK_DATABSE_URL", "sqlite:///x.db")
    message = error_of()
    assert "SMSHOOK_DATABSE_URL: unknown environment variable" in message
    assert "did you mean SMSHOOK_DATABASE_URL?" in message


def test_env_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSHOOK_PORT", "http")
    message = error_of()
    assert "port:" in message and "(from SMSHOOK_PORT)" in message


# -- validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("prot = 80\n", "prot: unknown key (did you mean port?)"),
        ("port = 0\n", "port: Input should be greater than or equal to 1"),
        ("port = 70000\n", "port: Input should be less than or equal to 65535"),
        ('port = "eighty"\n', "port: Input should be a valid integer"),
        ('database = "mysql://db/x"\n', "database: unsupported database scheme 'mysql'"),
        ('database = "sqlite://x.db"\n', "database: use sqlite:///PATH"),
        ('api_token = "short"\n', "api_token: must be at least 16 characters"),
        ("[connections.shop]\nprovider = 'csoft'\ntokn = 'x'\n", "connections.shop.tokn: unknown key"),
        (
            "[connections.shop]\nprovider = 'foo'\n",
            f"connections.shop.provider: unknown provider 'foo' (known: {', '.join(sorted(BUILTIN))})",
        ),
        ("[connections.shop]\ntoken = 'x'\n", "connections.shop.provider: required"),
        (
            "[connections.shop]\nprovider = 'webcom'\nusername = 'u'\n",
            "connections.shop.username: provider 'webcom' has no 'username' setting (only csoft)",
        ),
        (
            "[connections.shop]\nprovider = 'webcom'\npin = 1234\n",
            "connections.shop.pin: provider 'webcom' has no 'pin' setting",
        ),
        (
            "[connections.shop]\nprovider = 'webcom'\nallow_ips = ['10.0.0.0/33']\n",
            "connections.shop.allow_ips: '10.0.0.0/33' is not an IP address or CIDR network",
        ),
        (
            "[connections.shop]\nprovider = 'webcom'\nallow_ips = ['10.0.0.1/8']\n",
            "connections.shop.allow_ips: '10.0.0.1/8' is not an IP address or CIDR network",
        ),
        (
            "[connections.shop]\nprovider = 'cdyne'\ntimezone = 'Europe/Atlantis'\n",
            "connections.shop.timezone: unknown time zone 'Europe/Atlantis'",
        ),
        (
            "[connections.shop]\nprovider = 'cdyne'\ntoken = 'short'\n",
            "connections.shop.token: must be at least 16 characters",
        ),
        (
            "[connections.shop]\nprovider = 'cdyne'\ntoken = 'has spaces in the middle'\n",
            "connections.shop.token: may only contain the URL-safe characters",
        ),
        ("[connections.'my shop']\nprovider = 'cdyne'\n", "connections.my shop: connection name 'my shop'"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    message = error_of(write(tmp_path, text))
    assert message.startswith("invalid configuration:\n  ")
    assert expected in message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "port = 0\nfoo = 1\n[connections.a]\nprovider = 'nope'\n"))
    assert message.count("\n  ") == 3


def test_override_keys_are_checked() -> None:
    assert "colour: unknown key" in error_of(colour="red")


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'host = "127.0.0.1"\n\nport = = 8080\n')
    message = error_of(path)
    assert str(path) in message and "line 3" in message


def test_missing_and_unreadable_file(tmp_path: Path) -> None:
    assert "not found" in error_of(tmp_path / "nope.toml")
    assert "cannot read config file" in error_of(tmp_path)


def test_pin_may_be_a_number(tmp_path: Path) -> None:
    text = "[connections.c]\nprovider = 'csoft'\nusername = 'u'\npin = 12345678\n"
    assert connections_from(load_settings(write(tmp_path, text)))["c"].info.options["pin"] == "12345678"


# -- secrets ---------------------------------------------------------------------------------------


def test_secrets_never_in_errors_or_repr(tmp_path: Path) -> None:
    db_password = "db-pass-word-42"
    good = f'api_token = "{API_TOKEN}"\n' + CONFIG
    settings = load_settings(write(tmp_path, good), database=f"postgresql://me:{db_password}@db/x")
    secrets = (TOKEN, API_TOKEN, PIN, db_password)
    shown = repr(settings) + str(settings) + repr(connections_from(settings)) + str(settings.redacted())
    for secret in secrets:
        assert secret not in shown
    assert "***" in settings.redacted()["database"]

    bad_short = "tiny-secret"
    broken = good + f"\n[connections.bad]\nprovider = 'cdyne'\ntoken = '{bad_short}'\nwhat = 1\n"
    message = error_of(write(tmp_path, broken), port=0, database=f"mysql://me:{db_password}@db/x")
    for secret in (*secrets, bad_short):
        assert secret not in message
    assert "connections.bad.token" in message and "database" in message


def test_config_error_does_not_chain_the_validation_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, "api_token = 'short-secret'\n"))
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_mask_url() -> None:
    assert mask_url("postgresql://u:p@ss/w@host/db") == "postgresql://u:***@host/db"
    assert mask_url("postgresql://host/db?password=x&sslmode=require") == (
        "postgresql://host/db?password=***&sslmode=require"
    )
    assert mask_url("postgresql://u@host/db") == "postgresql://u@host/db"
    assert mask_url("sqlite:///a:b@c.db") == "sqlite:///a:b@c.db"


# -- exposure --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("192.0.2.1", False), ("example.org", False)],
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_loopback_open_connections_only_warn() -> None:
    warnings = check_exposure(load_settings())
    assert len(warnings) == len(default_providers()) + 1
    assert any("the API is open" in w for w in warnings)
    assert any("'csoft' is unauthenticated" in w for w in warnings)


def test_public_bind_without_api_token_is_refused(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, CONFIG), host="0.0.0.0")
    with pytest.raises(ConfigError, match=r"refusing to listen on 0\.0\.0\.0") as info:
        check_exposure(settings)
    assert "api_token is not set" in str(info.value) and "--insecure" in str(info.value)
    warnings = check_exposure(load_settings(write(tmp_path, CONFIG), host="0.0.0.0", insecure=True))
    assert any("--insecure" in w for w in warnings) and any("API is open" in w for w in warnings)


def test_public_bind_with_open_connection_is_refused(tmp_path: Path) -> None:
    text = CONFIG + "\n[connections.open]\nprovider = 'cdyne'\nallow_ips = ['0.0.0.0/0']\n"
    settings = load_settings(write(tmp_path, text), host="0.0.0.0", api_token=API_TOKEN)
    with pytest.raises(ConfigError, match="connection 'open' has no token"):
        check_exposure(settings)


def test_public_bind_fully_protected(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, CONFIG), host="0.0.0.0", api_token=API_TOKEN)
    assert check_exposure(settings) == []


def test_csoft_needs_username_and_pin() -> None:
    with pytest.raises(ValidationError, match="username without pin"):  # no longer accepted silently
        Connection(provider="csoft", username="u")
    assert Connection(provider="csoft", username="u", pin=SecretStr(PIN)).authenticated


# -- what the app uses -----------------------------------------------------------------------------


def test_connection_infos(tmp_path: Path) -> None:
    infos = connections_from(load_settings(write(tmp_path, CONFIG)))
    shop, alerts = infos["shop"], infos["alerts"]
    assert (shop.name, shop.provider.slug, shop.token) == ("shop", "csoft", None)
    assert shop.info.options == {"username": "shopuser", "pin": PIN}
    assert shop.info.timezone == "Europe/London"
    assert alerts.token == TOKEN and alerts.info.options == {}
    assert shop.ip_allowed("192.0.2.1") and shop.ip_allowed(None)
    assert alerts.ip_allowed("203.0.113.9") and alerts.ip_allowed("198.51.100.7")
    assert alerts.ip_allowed("2001:db8::1")
    assert not alerts.ip_allowed("198.51.100.8") and not alerts.ip_allowed(None)
    assert not alerts.ip_allowed("garbage")


def test_every_setting_is_documented() -> None:
    table = reference_markdown()
    for model in (Settings, Connection):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
            assert f"| `{name}` |" in table
    assert "`SMSHOOK_DATABASE_URL`" in table and "`SMSHOOK_API_TOKEN`" in table


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("link_window = 'soon'", "connections.shop.link_window: 'soon' is not a duration"),
        ("final_within = '-1h'", "connections.shop.final_within: '-1h' is not a duration"),
        ("stop_keywords = ['STOP', 'NO MORE']",
         "connections.shop.stop_keywords: 'NO MORE' is not one word"),
        ("start_keywords = 'START'", "connections.shop.start_keywords: Input should be a valid list"),
        ("help_keywords = ['']", "connections.shop.help_keywords: '' is not one word"),
    ],
)
def test_lifecycle_keys_are_validated(tmp_path: Path, text: str, expected: str) -> None:
    message = error_of(write(tmp_path, f"[connections.shop]\nprovider = 'twilio'\n{text}\n"))
    assert expected in message, message


def test_lifecycle_keys_are_common_to_every_provider(tmp_path: Path) -> None:
    """link_window, final_within and the keyword lists are common keys (settings.Connection), taken by
    every provider's connection beside its own options; no provider declares an option of that name."""
    lifecycle = {"link_window", "final_within", "stop_keywords", "start_keywords", "help_keywords"}
    assert lifecycle <= set(Connection.model_fields)
    tables = "".join(f"[connections.{slug}]\nprovider = '{slug}'\nlink_window = '30s'\nfinal_within = '2d'\n"
                     "stop_keywords = ['stop', 'Arret']\nstart_keywords = ['go']\nhelp_keywords = ['aide']\n"
                     + ("topic_arns = ['arn:aws:sns:us-east-1:123456789012:sms']\n" if slug == "sns" else "")
                     for slug in BUILTIN)
    settings = load_settings(write(tmp_path, tables))
    for slug in BUILTIN:
        options = settings.connections[slug].lifecycle()
        assert (options.link_window, options.final_within) == (30.0, 172800.0)
        assert (options.stop_keywords, options.start_keywords, options.help_keywords) == (
            ("STOP", "ARRET"), ("GO",), ("AIDE",))
        declared = {o.name for o in declared_options(registry()[slug])}
        assert not declared & set(Connection.model_fields), (slug, declared & set(Connection.model_fields))
