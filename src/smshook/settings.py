"""smshook's configuration, declared once.

Every setting comes from, in priority order: keyword arguments (the CLI flags), ``SMSHOOK_*``
environment variables, a TOML config file, then the defaults below. :func:`load_settings` is the
one entry point; it rejects unknown keys, names the offending key in every error and never shows a
secret (tokens, PINs, the database password). :func:`check_exposure` refuses a public bind that
is not protected and returns the warnings to print. The request path uses each connection as
:class:`smshook.web.hooks.Connection` (plain values, secrets revealed), built from these models by
:func:`smshook.web.hooks.connections_from`.

A config file looks like::

    host = "0.0.0.0"
    database = "postgresql://smshook@db/smshook"
    api_token = "…"            # better: SMSHOOK_API_TOKEN

    [connections.shop]         # -> /hooks/shop/<token>
    provider = "csoft"
    token = "…"
    username = "…"             # keys declared by the provider (smshook.providers.base.Option)
    pin = "…"
    allow_ips = ["203.0.113.0/24"]

Besides the common keys of :class:`Connection`, a ``[connections.NAME]`` table takes exactly the
keys its provider declares (:attr:`smshook.providers.base.Provider.options`), validated and masked
as declared.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
import tomllib
import zoneinfo
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.exceptions import SettingsError

from smshook import providers
from smshook.errors import ConfigError
from smshook.forwarding.config import FilterSpec, SubscriptionSpec
from smshook.forwarding.display import mask_url
from smshook.forwarding.model import DEFAULT_SCHEDULE
from smshook.forwarding.targets import check_url
from smshook.lifecycle.options import DEFAULT_HELP, DEFAULT_START, DEFAULT_STOP, LifecycleOptions, parse_duration
from smshook.lifecycle.options import keywords as lifecycle_keywords
from smshook.privacy import InstallationRetention, Retention, RetentionSpec, retention_of
from smshook.providers.base import ConnectionInfo, Option, Secret, declared_options

__all__ = [
    "Connection",
    "Settings",
    "check_exposure",
    "is_loopback",
    "load_settings",
    "mask_url",
    "reference_markdown",
]

ENV_PREFIX = "SMSHOOK_"
# Environment variables read by the CLI rather than by Settings (so not "unknown").
CLI_ENV_VARS = frozenset({"SMSHOOK_CONFIG"})
# Extra spellings of a setting's environment variable, first one wins.
ENV_ALIASES: Mapping[str, tuple[str, ...]] = {"database": ("SMSHOOK_DATABASE_URL", "SMSHOOK_DATABASE")}
MASK = "***"

Network = IPv4Network | IPv6Network
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_URL_SAFE = re.compile(r"[A-Za-z0-9._~-]+")
_MIN_SECRET = 16


def _connection_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"connection name {name!r} must be 1-64 characters of A-Z a-z 0-9 _ -")
    return name


ConnectionName = Annotated[str, AfterValidator(_connection_name)]


def _check_secret(value: SecretStr | None, *, url_safe: bool = False) -> SecretStr | None:
    """Length and alphabet checks whose messages never include the value."""
    if value is None:
        return None
    secret = value.get_secret_value()
    if len(secret) < _MIN_SECRET:
        raise ValueError(f"must be at least {_MIN_SECRET} characters (got {len(secret)})")
    if url_safe and not _URL_SAFE.fullmatch(secret):
        raise ValueError("may only contain the URL-safe characters A-Z a-z 0-9 - . _ ~")
    return value


def _partial_groups(slug: str, given: Mapping[str, Any]) -> list[str]:
    """One message per group of options the provider needs together (``Provider.together``) of which
    the connection gives some but not all (csoft: ``username without pin``)."""
    messages = []
    for group in providers.registry()[slug].together:
        present = [k for k in group if k in given]
        missing = [k for k in group if k not in given]
        if present and missing:
            messages.append(f"{' and '.join(present)} without {' and '.join(missing)}: {slug} checks "
                            f"{', '.join(group)} together, give {'both' if len(group) == 2 else 'all'}")
    return messages


class Connection(BaseModel):
    """One provider account, reached at ``/hooks/NAME`` (or ``/hooks/NAME/TOKEN``), as configured.

    The configuration model, not what the request path holds: it validates and documents the TOML
    table (secrets as ``SecretStr``, networks and durations as written), while
    :class:`smshook.web.hooks.Connection` is the ready-to-use form (secrets revealed, the adapter
    object, the compiled allow-list), built once at start by :func:`smshook.web.hooks.connections_from`.

    The fields below are common to every provider; any other key must be one the provider declares
    (:func:`~smshook.providers.base.declared_options`), checked by :meth:`_provider_options` and
    kept as a pydantic extra (a secret one as ``SecretStr``), read through :meth:`option_values`.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    provider: str = Field(description="Provider slug: which adapter reads this connection's callbacks.")
    token: SecretStr | None = Field(
        default=None,
        description="Secret path segment: the hook URL becomes `/hooks/NAME/TOKEN` (at least 16 URL-safe characters).",
    )
    allow_ips: list[Network] = Field(
        default_factory=list,
        description="Only accept callbacks from these addresses or CIDR networks (empty: any address).",
    )
    timezone: str | None = Field(
        default=None, description="IANA zone of the provider's naive timestamps (overrides the provider's)."
    )
    public_url: str | None = Field(
        default=None,
        description="The hook URL exactly as configured in the provider's portal (scheme, host, port, path, "
        "optional query): signatures are checked against it plus the query string as received. Unset: the URL "
        "is rebuilt from `X-Forwarded-Proto`/`-Host`/`-Prefix` when the peer is a trusted proxy, else from the "
        "request.",
    )
    retention: RetentionSpec | None = Field(
        default=None, description="This connection's own `events` / `raw_requests` retention (a table like "
        "`[retention]`); a key left out follows the installation's.",
    )
    # Message lifecycle (smshook.lifecycle), for every provider.
    link_window: str = Field(
        default="0", description="Hold a status event of a message not registered yet (POST /v1/messages) up to "
        "this long (e.g. `\"30s\"`) before forwarding it, so the webhook carries the reference; 0: no wait.",
    )
    final_within: str = Field(
        default="72h", description="A message with no final status this long after it was sent (registered, "
        "or first seen) gets a synthetic `expired` event; `\"0\"` disables.",
    )
    stop_keywords: list[str] = Field(
        default_factory=lambda: list(DEFAULT_STOP),
        description="Inbound first words that opt the sender out (STOPALL: out of every sender id).",
    )
    start_keywords: list[str] = Field(
        default_factory=lambda: list(DEFAULT_START), description="Inbound first words that opt the sender back in.",
    )
    help_keywords: list[str] = Field(
        default_factory=lambda: list(DEFAULT_HELP), description="Inbound first words flagged as a request for help.",
    )

    @field_validator("link_window", "final_within", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> str:
        parse_duration(value)
        return str(value)

    @field_validator("stop_keywords", "start_keywords", "help_keywords")
    @classmethod
    def _keywords(cls, value: list[str]) -> list[str]:
        return list(lifecycle_keywords(value))

    def lifecycle(self) -> LifecycleOptions:
        """The lifecycle settings as the running service uses them."""
        return LifecycleOptions(parse_duration(self.link_window), parse_duration(self.final_within),
                                tuple(self.stop_keywords), tuple(self.start_keywords), tuple(self.help_keywords))

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        known = providers.registry()
        if value not in known:
            raise ValueError(f"unknown provider {value!r} (known: {', '.join(sorted(known))})")
        return value

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        return _check_secret(value, url_safe=True)

    @field_validator("allow_ips", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> list[Network]:
        return parse_networks([value] if isinstance(value, str) else value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
                raise ValueError(f"unknown time zone {value!r} (use an IANA name like 'Europe/Prague')") from None
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc or value != value.strip():
                raise ValueError("must be an absolute http:// or https:// URL, as pasted in the provider's portal")
        return value

    @model_validator(mode="after")
    def _provider_options(self) -> Connection:
        """Check the keys beyond the common ones against the provider's declaration; store each
        converted (a secret as ``SecretStr``)."""
        extra = self.__pydantic_extra__ if self.__pydantic_extra__ is not None else {}
        declared = {o.name: o for o in declared_options(providers.registry()[self.provider])}
        problems: list[tuple[str, str]] = []
        for key in list(extra):
            option = declared.get(key)
            if option is None:
                problems.append((key, _unknown_option(self.provider, key, declared)))
                continue
            try:
                value = option.convert(extra[key])
            except ValueError as exc:
                problems.append((key, str(exc)))
                continue
            extra[key] = SecretStr(value) if option.secret else value
        problems += [(o.name, "required") for o in declared.values() if o.required and o.name not in extra]
        problems += [("", message) for message in _partial_groups(self.provider, extra)]
        if problems:
            raise PydanticCustomError("connection_options", "{summary}",
                                      {"summary": "; ".join(f"{k}: {m}" if k else m for k, m in problems),
                                       "problems": problems})
        return self

    def option_values(self, *, reveal: bool = False) -> dict[str, Any]:
        """The provider's options as configured, defaults filled in; secrets as :class:`Secret`
        (``reveal``) or ``SecretStr``."""
        extra = self.__pydantic_extra__ or {}
        values: dict[str, Any] = {}
        for option in declared_options(providers.registry()[self.provider]):
            value = extra.get(option.name, option.default)
            if value is None:
                continue
            if isinstance(value, SecretStr) and reveal:
                value = Secret(value.get_secret_value())
            values[option.name] = value
        return values

    def info(self, name: str) -> ConnectionInfo:
        """What the adapter sees of this connection."""
        return ConnectionInfo(name=name, provider=self.provider, options=self.option_values(reveal=True),
                              timezone=self.timezone, public_url=self.public_url)

    @property
    def authenticated(self) -> bool:
        """Whether a stranger who guesses the URL is kept out: a URL token, an IP list, or what the
        provider's own check does with this connection's options (a signing secret, csoft Username+PIN)."""
        restricted = any(net.prefixlen > 0 for net in self.allow_ips)
        if self.token is not None or restricted:
            return True
        return providers.registry()[self.provider].authenticated(self.info(""))


def _unknown_option(slug: str, key: str, declared: Mapping[str, Option]) -> str:
    takers = sorted(s for s, p in providers.registry().items() if key in {o.name for o in declared_options(p)})
    if takers:
        return f"provider {slug!r} has no {key!r} setting (only {', '.join(takers)})"
    return f"unknown key{_suggest(key, [*Connection.model_fields, *declared])}"


def parse_networks(value: Any) -> list[Network]:
    """A list of IP addresses or CIDR networks (``"10.0.0.0/8"``, ``"::1"``), each checked."""
    if not isinstance(value, list | tuple):
        raise ValueError("must be a list of IP addresses or CIDR networks")
    networks: list[Network] = []
    for item in value:
        try:
            networks.append(ipaddress.ip_network(str(item).strip()))
        except ValueError as exc:
            raise ValueError(f"{item!r} is not an IP address or CIDR network ({exc})") from None
    return networks


def default_providers() -> tuple[str, ...]:
    """The built-in providers that get an open default connection: those without a required option
    (sns needs its topics)."""
    registry = providers.registry()
    return tuple(slug for slug in providers.BUILTIN
                 if not any(o.required for o in declared_options(registry[slug])))


def _default_connections() -> dict[str, Connection]:
    return {slug: Connection(provider=slug) for slug in default_providers()}


# The parsed config file of the load_settings call in progress (sources are built per instance).
_file_values: ContextVar[dict[str, Any] | None] = ContextVar("smshook_file_values", default=None)


class Settings(BaseSettings):
    """Everything smshook needs to start."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", env_ignore_empty=True, frozen=True, case_sensitive=False
    )

    host: str = Field(default="127.0.0.1", min_length=1, description="Address to listen on.")
    port: int = Field(default=8080, ge=1, le=65535, description="TCP port to listen on.")
    database: str = Field(
        default="sqlite:///smshook.db",
        description="Where events are stored: sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DB.",
    )
    api_token: SecretStr | None = Field(
        default=None,
        description="Bearer token for the query API and dashboard (at least 16 characters); unset: the API is open.",
    )
    insecure: bool = Field(
        default=False,
        description="Start on a non-loopback address even without an API token or connection secrets.",
    )
    max_body_bytes: int = Field(
        default=1_048_576, gt=0, description="Largest callback body accepted, in bytes (larger: 413)."
    )
    trusted_proxies: Annotated[list[Network], NoDecode] = Field(
        default_factory=list,
        description="Reverse proxies (addresses or CIDR networks; in the environment comma-separated) whose "
        "X-Forwarded-For is believed: for a request from one of them, the client address (for allow_ips and "
        "the stored request) is the right-most X-Forwarded-For address that is not itself a trusted proxy. "
        "Empty: the header is ignored.",
    )
    workers: int = Field(
        default=1, ge=1, le=64,
        description="Server processes sharing the port (each with its own store connection and dispatcher).",
    )
    connections: dict[ConnectionName, Connection] = Field(
        default_factory=_default_connections,
        description="Provider accounts by name, as [connections.NAME] tables; SMSHOOK_CONNECTIONS is JSON. "
        "Unset: one open connection per built-in provider, named after it (not sns, which needs its topics).",
    )
    subscriptions: dict[ConnectionName, SubscriptionSpec] = Field(
        default_factory=dict,
        description="Where events are forwarded, as [subscriptions.NAME] tables (NAME is the subscription id); "
        "upserted at start. More can be added through the API.",
    )
    auto_migrate: bool = Field(
        default=True, description="Apply pending database migrations when serve starts; false: refuse to start "
        "on an outdated schema until `smshook migrate` has run (serve --no-migrate).",
    )
    forwarding: bool = Field(default=True, description="Run the dispatcher that delivers events to subscriptions.")
    forwarding_schedule: list[Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: list(DEFAULT_SCHEDULE), min_length=1,
        description="Seconds to wait before each delivery attempt (the first is usually 0); after the last "
        "attempt a delivery is dead-lettered.",
    )
    forwarding_jitter: float = Field(default=0.1, ge=0, le=1, description="Spread each retry delay by ± this fraction.")
    forwarding_timeout: float = Field(default=10.0, gt=0, le=300, description="Seconds allowed per delivery attempt.")
    forwarding_concurrency: int = Field(default=16, ge=1, le=1000, description="Deliveries in flight at once.")
    forwarding_lease: float = Field(
        default=60.0, gt=0, description="Seconds a claimed delivery stays reserved; a dispatcher that dies "
        "mid-flight releases its deliveries when the lease runs out.",
    )
    forwarding_poll_interval: float = Field(
        default=0.5, gt=0, le=60, description="Seconds between looks for due deliveries when idle."
    )
    forwarding_allow_private_targets: bool = Field(
        default=False, description="Allow subscriptions to loopback and private addresses (127.0.0.1, "
        "localhost, 10/8, 172.16/12, 192.168/16, fc00::/7), e.g. a receiver on the same host. Link-local and "
        "cloud-metadata addresses (169.254.169.254, fd00:ec2::254) are refused whatever this says.",
    )
    retention: InstallationRetention = Field(
        default_factory=InstallationRetention,
        description="How long personal data is kept, as a `[retention]` table: `events`, `raw_requests` "
        "(durations such as \"30d\"; unset: for ever), `interval` (how often the background pruner runs, "
        "default \"1h\") and `batch_size` (rows per transaction, default 500). `smshook prune` does the same "
        "on demand.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token that opens `/metrics` (at least 16 characters), for a Prometheus scraper that "
        "should not hold the API token; `api_token` opens it too. Neither set: `/metrics` is open.",
    )
    metrics_public: bool = Field(default=False, description="Serve `/metrics` to anyone, without a token.")
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = Field(
        default="info", description="Least severe log messages shown (`critical`, `error`, `warning`, `info`, "
        "`debug`, `trace`); `info` includes one access line per hook request (`warning` leaves them out).",
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="Log lines on stderr: `text`, or `json` (one object per line: `ts`, `level`, "
        "`logger`, `msg` and fields such as `connection`, `outcome`, `latency_ms`, `request_id`).",
    )
    log_phone_numbers: bool = Field(
        default=False, description="Show phone numbers in logs in full (default: only their first digits, "
        "e.g. `4477009*****`).",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        aliased = {key: value for key, (_, value) in _alias_env().items()}
        return (
            init_settings,
            InitSettingsSource(settings_cls, aliased),
            env_settings,
            InitSettingsSource(settings_cls, _file_values.get() or {}),
        )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _trusted_proxies(cls, value: Any) -> list[Network]:
        if isinstance(value, str):  # SMSHOOK_TRUSTED_PROXIES / --trusted-proxies: "a, b" or a JSON list
            text = value.strip()
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except ValueError:
                    raise ValueError("not a valid JSON list (or give comma-separated addresses)") from None
            else:
                value = [part for part in text.split(",") if part.strip()]
        return parse_networks(value)

    @field_validator("database")
    @classmethod
    def _database(cls, value: str) -> str:
        scheme, sep, rest = value.partition("://")
        scheme = scheme.lower() if sep else ""
        if scheme == "sqlite" and rest.startswith("/") and len(rest) > 1:
            return value
        if scheme in ("postgresql", "postgres") and rest:
            return "postgresql://" + rest
        if scheme == "sqlite":
            raise ValueError("use sqlite:///PATH (three slashes, then the file path)")
        # Never echo the value: a PostgreSQL URL may hold a password.
        what = f"scheme {scheme!r}" if scheme else "value (not a URL)"
        raise ValueError(f"unsupported database {what}: use sqlite:///PATH or postgresql://USER@HOST/DB")

    @field_validator("api_token", "metrics_token")
    @classmethod
    def _api_token(cls, value: SecretStr | None) -> SecretStr | None:
        return _check_secret(value)

    @model_validator(mode="after")
    def _subscription_targets(self) -> Settings:
        for name, sub in self.subscriptions.items():
            if sub.url is not None:
                try:
                    check_url(sub.url, self.forwarding_allow_private_targets)
                except ValueError as exc:
                    raise ValueError(f"subscriptions.{name}.url: {exc}") from None
        return self

    def retention_plan(self) -> Retention:
        """The retention of the installation and of each connection that sets its own."""
        events, raw = self.retention.durations()
        special = []
        for name, conn in self.connections.items():
            if conn.retention is not None:
                own_events, own_raw = conn.retention.durations()
                special.append((name, own_events if conn.retention.events else events,
                                own_raw if conn.retention.raw_requests else raw))
        return retention_of(events, raw, special)

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        for key, value in super().__repr_args__():
            yield key, mask_url(value) if key == "database" else value

    def redacted(self) -> dict[str, Any]:
        """The effective configuration as plain data, every secret replaced by ``***``."""

        def plain(value: Any) -> Any:
            if isinstance(value, SecretStr):
                return MASK
            if isinstance(value, IPv4Network | IPv6Network):
                return str(value)
            if isinstance(value, list):
                return [plain(v) for v in value]
            if isinstance(value, RetentionSpec):
                return value.model_dump(exclude_none=True)
            return value

        data: dict[str, Any] = {key: plain(getattr(self, key)) for key in type(self).model_fields}
        data["database"] = mask_url(self.database)
        data["connections"] = {
            name: {**{key: plain(getattr(conn, key)) for key in Connection.model_fields},
                   **{key: plain(value) for key, value in conn.option_values().items()}}
            for name, conn in self.connections.items()
        }
        data["subscriptions"] = {name: sub.redacted() for name, sub in self.subscriptions.items()}
        return data


def _alias_env() -> dict[str, tuple[str, str]]:
    """field -> (variable, value) for the extra environment spellings that are set."""
    found: dict[str, tuple[str, str]] = {}
    for field, names in ENV_ALIASES.items():
        for name in names:
            if os.environ.get(name):
                found[field] = (name, os.environ[name])
                break
    return found


def _env_name(field: str) -> str:
    return ENV_ALIASES.get(field, (ENV_PREFIX + field.upper(),))[0]


# -- loading ---------------------------------------------------------------------------------------


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the settings from ``overrides`` > ``SMSHOOK_*`` environment > ``config_file`` > defaults.

    Overrides that are ``None`` (CLI flags not given) are ignored. Raises :class:`ConfigError` with
    one line per problem, each naming the key (``connections.shop.token: …``), never a secret.
    """
    values = {key: value for key, value in overrides.items() if value is not None}
    file_values = _read_toml(Path(config_file)) if config_file is not None else {}
    problems = _unknown_env_vars()
    token = _file_values.set(file_values)
    try:
        settings = Settings(**values)
    except SettingsError as exc:
        field = re.search(r'field "(\w+)"', str(exc))
        name = _env_name(field.group(1)) if field else "environment"
        problems.append(f"{name}: not valid JSON ({exc.__cause__ or exc})")
    except ValidationError as exc:
        problems += [line for error in exc.errors() for line in _describe(error, values)]
    finally:
        _file_values.reset(token)
    if problems:
        # `from None`: the chained ValidationError would show the rejected values, secrets included.
        raise ConfigError("invalid configuration:\n" + "\n".join(f"  {p}" for p in problems)) from None
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fp:
            return tomllib.load(fp)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _unknown_env_vars() -> list[str]:
    known = {ENV_PREFIX + field.upper() for field in Settings.model_fields} | CLI_ENV_VARS
    known |= {name for names in ENV_ALIASES.values() for name in names}
    problems = []
    for name in sorted(os.environ):
        upper = name.upper()
        if upper.startswith(ENV_PREFIX) and upper not in known and not upper.startswith("SMSHOOK_TEST_"):
            problems.append(f"{name}: unknown environment variable{_suggest(upper, known)}")
    return problems


def _suggest(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _describe(error: Mapping[str, Any], overrides: Mapping[str, Any]) -> list[str]:
    """Lines for one pydantic error: dotted key, then a message without the input value (one line per
    key for a connection's provider options)."""
    loc = [part for part in error["loc"] if part != "[key]"]
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "(top level)"
    if error["type"] == "connection_options":
        return [f"{path}.{key}: {message}" if key else f"{path}: {message}"  # key "": the whole table
                for key, message in error["ctx"]["problems"]]
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        model: type[BaseModel] = Connection if len(loc) > 1 and loc[0] == "connections" else Settings
        if len(loc) > 1 and loc[0] == "subscriptions":
            model = FilterSpec if len(loc) > 3 and loc[2] == "filters" else SubscriptionSpec
        message = f"unknown key{_suggest(str(loc[-1]), model.model_fields)}"
    elif error["type"] == "missing":
        message = "required"
    top = str(loc[0]) if loc else ""
    if top in Settings.model_fields and top not in overrides:
        alias = _alias_env().get(top)
        if alias:
            message += f" (from {alias[0]})"
        elif os.environ.get(ENV_PREFIX + top.upper()) or os.environ.get(ENV_PREFIX + top):
            message += f" (from {ENV_PREFIX + top.upper()})"
    return [f"{path}: {message}"]


# -- exposure --------------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1; anything else may be reachable from outside."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings, *, serving: bool = True) -> list[str]:
    """Refuse (ConfigError) an unprotected non-loopback bind unless ``insecure``; return warnings.

    Protected means: an API token, and on every connection a token, an IP allow-list or what its
    provider counts as authenticated (:meth:`~smshook.providers.base.Provider.authenticated`: a
    signing secret, csoft Username+PIN). On loopback, or with ``insecure``, the gaps become warnings.
    ``serving``: the refusal speaks of starting the server; otherwise (an operator command run with
    the same configuration) of the configuration, and of the setting rather than ``serve``'s flag.
    """
    open_connections = [name for name, conn in settings.connections.items() if not conn.authenticated]
    gaps = [f"connection {name!r} has no token, allow_ips or {_own_check(settings.connections[name])}"
            for name in open_connections]
    if settings.api_token is None:
        gaps.insert(0, "api_token is not set, so the query API and dashboard are open")
    public = not is_loopback(settings.host)
    if public and gaps and not settings.insecure:
        what = "listen on" if serving else "use a configuration that would serve"
        anyway = ("pass --insecure (SMSHOOK_INSECURE=1) to start anyway" if serving
                  else "set insecure = true (SMSHOOK_INSECURE=1) to accept it")
        raise ConfigError(
            f"refusing to {what} {settings.host} (not a loopback address) unprotected:\n"
            + "".join(f"  {gap}\n" for gap in gaps)
            + f"set SMSHOOK_API_TOKEN and a token (or allow_ips) per connection, or {anyway}"
        )
    warnings = [
        f"connection {name!r} is unauthenticated: anyone who can reach {settings.host} can post to /hooks/{name}"
        for name in open_connections
    ]
    if settings.api_token is None:
        warnings.append(f"the API is open: anyone who can reach {settings.host} can read every event")
    if public and gaps:
        warnings.insert(0, f"--insecure: listening on {settings.host} without full protection")
    return warnings


def _own_check(conn: Connection) -> str:
    secrets = [o.name for o in declared_options(providers.registry()[conn.provider]) if o.secret]
    return f"{'/'.join(secrets)} (the provider's own check)" if secrets else "credentials"


# -- documentation ---------------------------------------------------------------------------------


def _default_text(model: type[BaseModel], name: str) -> str:
    field = model.model_fields[name]
    if name == "connections" and model is Settings:
        return "one per built-in provider"
    if name == "filters":
        return "all events"
    if name == "forwarding_schedule":
        return "`" + json.dumps(list(DEFAULT_SCHEDULE)) + "`"
    if name == "retention" and model is Settings:
        return "everything kept for ever"
    if field.default_factory is not None:
        return f"`{json.dumps(field.default_factory())}`"  # type: ignore[call-arg]
    return "—" if field.default is None else f"`{json.dumps(field.default)}`"


def reference_markdown() -> str:
    """The configuration reference (Markdown tables) for the README, from the declarations above."""
    lines = [
        "| key | environment | default | description |",
        "|---|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        env = " or ".join(f"`{e}`" for e in ENV_ALIASES.get(name, (_env_name(name),)))
        lines.append(f"| `{name}` | {env} | {_default_text(Settings, name)} | {field.description} |")
    lines += [
        "",
        "Each `[connections.NAME]` table (NAME: 1-64 of `A-Z a-z 0-9 _ -`):",
        "",
        "| key | default | description |",
        "|---|---|---|",
    ]
    for name, field in Connection.model_fields.items():
        default = "required" if field.is_required() else _default_text(Connection, name)
        lines.append(f"| `{name}` | {default} | {field.description} |")
    lines += ["", "Plus the keys each provider declares for its connections (any other key stops start-up; "
              "secrets are masked everywhere):", "",
              "| provider | key | type | default | description |", "|---|---|---|---|---|"]
    for slug, provider in providers.registry().items():
        for option in declared_options(provider):
            default = "required" if option.required else ("—" if option.default is None
                                                          else f"`{json.dumps(option.default)}`")
            kind = option.type_name + (", secret" if option.secret else "")
            choices = f" One of: {', '.join(f'`{c}`' for c in option.choices)}." if option.choices else ""
            partners = [k for group in provider.together if option.name in group for k in group if k != option.name]
            both = f" Only together with {', '.join(f'`{k}`' for k in partners)}." if partners else ""
            url = (" The signature covers the URL: set `public_url` behind a proxy."
                   if option.secret and provider.signs_url else "")
            lines.append(f"| `{slug}` | `{option.name}` | {kind} | {default} | {option.doc}{choices}{both}{url} |")
    for title, model in (("Each `[subscriptions.NAME]` table (NAME: the subscription id):", SubscriptionSpec),
                         ("Its `filters` table:", FilterSpec)):
        lines += ["", title, "", "| key | default | description |", "|---|---|---|"]
        for name, field in model.model_fields.items():
            default = "required" if field.is_required() else _default_text(model, name)
            lines.append(f"| `{name}` | {default} | {field.description} |")
    return "\n".join(lines) + "\n"
