"""The smshook command: help, config check, and serve's start-up checks and banner."""

from __future__ import annotations

import json
import sys
import tomllib
import types
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner, Result

from smshook import __version__
from smshook.cli import base_url, main
from smshook.settings import Settings, default_providers
from smshook.web.protocol import GuardedHttpToolsProtocol

TOKEN = "Tok-abcdefghijklmnop_0123"
PIN = "pin-secret-98765"
CONFIG = f"""
port = 9000

[connections.shop]
provider = "csoft"
username = "shopuser"
pin = "{PIN}"

[connections.alerts]
provider = "webcom"
token = "{TOKEN}"

[connections.open]
provider = "cdyne"
"""


pytestmark = pytest.mark.usefixtures("clean_env")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "smshook.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


# -- help ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--help"], ["serve", "--help"], ["config", "--help"], ["config", "check", "--help"]])
def test_help(args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.stdout


def test_serve_help_lists_options() -> None:
    out = run("serve", "--help").stdout
    for option in ("--config", "--host", "--port", "--database", "--api-token", "--insecure", "--log-level"):
        assert option in out
    assert "SMSHOOK_CONFIG" in out


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0 and __version__ in result.stdout


# -- config check ----------------------------------------------------------------------------------


def test_config_check_prints_masked_toml(config: Path) -> None:
    result = run("config", "check", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert TOKEN not in result.output and PIN not in result.output
    data = tomllib.loads(result.stdout)  # the output is real TOML
    assert data["port"] == 9000
    assert data["connections"]["alerts"] == {
        "provider": "webcom", "token": "***", "allow_ips": [], "link_window": "0", "final_within": "72h",
        "stop_keywords": ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"],
        "start_keywords": ["START", "UNSTOP", "YES"], "help_keywords": ["HELP", "INFO"]}  # lifecycle defaults
    assert data["connections"]["shop"]["pin"] == "***"
    assert "WARNING: connection 'open' is unauthenticated" in result.stderr


def test_config_check_json_and_env_config(config: Path) -> None:
    result = run("config", "check", "--json", env={"SMSHOOK_CONFIG": str(config)})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["connections"]["alerts"]["token"] == "***"


def test_config_check_defaults() -> None:
    result = run("config", "check")
    assert result.exit_code == 0, result.output
    data = tomllib.loads(result.stdout)
    assert data["host"] == "127.0.0.1" and data["database"] == "sqlite:///smshook.db"
    assert len(data["connections"]) == len(default_providers())


def test_config_check_invalid(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[connections.shop]\nprovider = 'foo'\n", encoding="utf-8")
    result = run("config", "check", "--config", str(path))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: invalid configuration:")
    assert "connections.shop.provider: unknown provider 'foo'" in result.stderr
    assert "Traceback" not in result.output


def test_config_check_missing_file(tmp_path: Path) -> None:
    result = run("config", "check", "--config", str(tmp_path / "nope.toml"))
    assert result.exit_code == 2 and "not found" in result.stderr


def test_config_reference() -> None:
    result = run("config", "reference")
    assert result.exit_code == 0 and "| `max_body_bytes` |" in result.stdout


# -- serve -----------------------------------------------------------------------------------------


def test_an_operator_command_names_the_exposed_configuration_not_a_listen(tmp_path: Path) -> None:
    """Every command loads settings one way, with the exposure check; one that does not serve says so."""
    result = run("events", "--database", f"sqlite:///{tmp_path / 'x.db'}", env={"SMSHOOK_HOST": "0.0.0.0"})
    assert result.exit_code == 2
    assert "error: refusing to use a configuration that would serve 0.0.0.0" in result.stderr
    assert "insecure = true (SMSHOOK_INSECURE=1)" in result.stderr and "--insecure" not in result.stderr


def test_serve_public_without_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "smshook.app", raising=False)
    result = run("serve", "--host", "0.0.0.0")
    assert "smshook.app" not in sys.modules  # refused before the app was even imported
    assert result.exit_code == 2
    assert "error: refusing to listen on 0.0.0.0" in result.stderr
    assert "--insecure" in result.stderr
    assert "listening" not in result.output and "Traceback" not in result.output


def test_serve_invalid_flag_value_exits_2() -> None:
    result = run("serve", "--database", "mysql://db/x")
    assert result.exit_code == 2 and "database: unsupported database scheme" in result.stderr


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Replace the app factory and uvicorn.run; record what serve passes them."""
    seen: dict[str, Any] = {}
    fake_app = types.ModuleType("smshook.app")

    def create_app(settings: Settings, *, server: bool = False) -> object:
        seen["settings"], seen["server"] = settings, server
        return "the-app"

    fake_app.create_app = create_app  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "smshook.app", fake_app)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(app=app, **kwargs))
    return seen


def test_serve_banner_and_uvicorn_arguments(config: Path, started: dict[str, Any]) -> None:
    result = run("serve", "--config", str(config), "--port", "9100", "--log-level", "DEBUG")
    assert result.exit_code == 0, result.output
    err = result.stderr
    assert "listening on http://127.0.0.1:9100" in err
    assert "http://127.0.0.1:9100/hooks/alerts/<token>" in err
    assert "http://127.0.0.1:9100/hooks/shop\n" in err
    assert TOKEN not in result.output and PIN not in result.output
    assert "WARNING: connection 'open' is unauthenticated" in err
    assert "'shop' is unauthenticated" not in err and "'alerts' is unauthenticated" not in err
    assert "WARNING: the API is open" in err
    assert started["app"] == "the-app" and started["settings"].port == 9100
    assert started["server"] is True  # the app owns the process: it tunes the collector
    assert started["host"] == "127.0.0.1" and started["port"] == 9100
    assert started["loop"] == "uvloop" and started["http"] is GuardedHttpToolsProtocol  # header limits, timeouts
    assert started["lifespan"] == "on" and started["access_log"] is False
    assert started["log_level"] == "debug" and started["timeout_graceful_shutdown"] == 5
    assert started["proxy_headers"] is False  # X-Forwarded-For only from trusted_proxies (tests/web/test_proxy.py)


def test_serve_insecure_public_bind_starts_with_warnings(started: dict[str, Any]) -> None:
    result = run("serve", "--host", "0.0.0.0", "--insecure")
    assert result.exit_code == 0, result.output
    assert "WARNING: --insecure" in result.stderr
    assert started["host"] == "0.0.0.0"


def test_serve_flags_beat_env(started: dict[str, Any]) -> None:
    env = {"SMSHOOK_PORT": "9200", "SMSHOOK_DATABASE_URL": "sqlite:///env.db"}
    result = run("serve", "--port", "9300", env=env)
    assert result.exit_code == 0, result.output
    assert started["port"] == 9300 and started["settings"].database == "sqlite:///env.db"


def test_base_url() -> None:
    assert base_url("127.0.0.1", 80) == "http://127.0.0.1:80"
    assert base_url("::1", 8080) == "http://[::1]:8080"
