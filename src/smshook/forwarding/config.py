"""Subscriptions as written by people: the config file's ``[subscriptions.NAME]`` tables and the
API's request bodies share these models (unknown keys refused, secrets never echoed)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from smshook.forwarding.model import MAX_REGEX, Filters, Subscription, compile_text_regex, generate_secret, secret_bytes
from smshook.forwarding.targets import check_url
from smshook.status import STATUSES

MASK = "***"
# A host name (an IP address is allowed too, where the setting allows its kind, but not documented here:
# which ones depends on forwarding_allow_private_targets); its last label starts with a letter.
HOST_NAME = r"([A-Za-z0-9_-]*\.)*[A-Za-z][A-Za-z0-9_-]*\.?"
# A URL's port as urlsplit() reads it: empty, or 0 to 65535 (leading zeros allowed).
PORT = r"(0*(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0))?"
# A whsec_ secret as secret_bytes() reads it (24 to 64 bytes of base64), for the OpenAPI document.
_B64 = "[A-Za-z0-9+/]"
SECRET_PATTERN = (f"^whsec_(({_B64}{{4}}){{8,21}}({_B64}{{2}}==)?|({_B64}{{4}}){{8,20}}{_B64}{{3}}=)$")


class FilterSpec(BaseModel):
    """Which events a subscription receives; every list empty (the default) means all events."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    types: list[Literal["status", "inbound", "optout", "optin"]] = Field(
        default_factory=list, description="Event types.")
    connections: list[str] = Field(default_factory=list, description="Connection names.")
    statuses: list[str] = Field(default_factory=list, description="Unified statuses (status events).",
                                json_schema_extra={"items": {"type": "string", "enum": list(STATUSES)}})
    keywords: list[str] = Field(
        default_factory=list, description="Inbound only: the message's keyword (first word, any case), e.g. STOP."
    )
    text_regex: str | None = Field(
        default=None, description="Inbound only: a regular expression searched in the text, case-insensitive, in "
        "RE2 syntax (linear time: no back-references or look-around; at most 1000 characters).",
        json_schema_extra={"format": "re2", "maxLength": MAX_REGEX})  # no JSON Schema says what RE2 compiles

    @field_validator("statuses")
    @classmethod
    def _statuses(cls, value: list[str]) -> list[str]:
        for status in value:
            if status not in STATUSES:
                raise ValueError(f"{status!r} is not one of {', '.join(STATUSES)}")
        return value

    @field_validator("text_regex")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            compile_text_regex(value)  # ValueError names the problem
        return value

    def build(self) -> Filters:
        return Filters.from_dict(self.model_dump())


# _one_target's batch rule in the OpenAPI document: batch_wait > 0 only with batch_max > 1.
BATCH_WAIT_NEEDS_BATCH_MAX: list[Any] = [
    {"properties": {"batch_wait": {"maximum": 0}}},
    {"required": ["batch_max"], "properties": {"batch_max": {"minimum": 2}}}]


class SubscriptionSpec(BaseModel):
    """A subscription: a webhook ``url`` (signed per Standard Webhooks) or a ``redis_url`` + ``stream``."""

    # strict: a JSON 0 is not `false`, "5" is not a number (the OpenAPI document's types hold as written)
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, json_schema_extra={"oneOf": [  # _one_target
        {"required": ["url"], "properties": {"url": {"type": "string"}, "redis_url": {"type": "null"},
                                             "stream": {"type": "null"}}},
        {"required": ["redis_url"], "properties": {"redis_url": {"type": "string"}, "url": {"type": "null"},
                                                   "batch_max": {"maximum": 1}}}],
        "anyOf": BATCH_WAIT_NEEDS_BATCH_MAX})

    url: str | None = Field(default=None, description="Webhook URL (http or https) the events are POSTed to.",
                            json_schema_extra={"pattern": rf"^[Hh][Tt][Tt][Pp][Ss]?://{HOST_NAME}(:{PORT})?"
                                                          r"([/?#][^\x00-\x20\x7f]*)?$"})
    redis_url: str | None = Field(default=None, description="redis://HOST:PORT/DB: XADD each event to `stream`.",
                                  json_schema_extra={"pattern": "^([Rr][Ee][Dd][Ii][Ss][Ss]?|[Uu][Nn][Ii][Xx])://"})
    stream: str | None = Field(default=None, description="Redis stream name (default `smshook`).")
    secret: SecretStr | list[SecretStr] | None = Field(
        default=None, json_schema_extra={"pattern": SECRET_PATTERN, "minItems": 1,
                                          "items": {"type": "string", "pattern": SECRET_PATTERN}},
        description="whsec_ signing secret; a list during rotation (all sign, the first is current). "
        "Unset: one is generated and kept.",
    )
    filters: FilterSpec = Field(default_factory=FilterSpec, description="Which events (empty: all).")
    enabled: bool = Field(default=True, description="Deliver to this subscription.")
    ordered: bool = Field(
        default=False, description="Deliver events of one message in order (a later one waits for the earlier)."
    )
    timeout: float | None = Field(
        default=None, gt=0, le=300, description="Seconds per attempt (default: forwarding_timeout)."
    )
    batch_max: int = Field(
        default=1, ge=1, le=1000,
        description="Webhooks only: up to this many events in one signed POST whose body is a JSON array "
        "(1, the default: one event per POST).",
    )
    batch_wait: float = Field(
        default=0.0, ge=0, le=30, description="Seconds a batch may wait for more events before it is sent."
    )

    @field_validator("batch_max", mode="before")
    @classmethod
    def _whole(cls, value: Any) -> Any:
        """5.0 is the integer 5 in JSON (and JSON Schema); strict mode would refuse it."""
        return int(value) if isinstance(value, float) and value.is_integer() else value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None:
            # Form, characters, metadata and link-local addresses; private and loopback targets are
            # checked where the setting is known (forwarding_allow_private_targets).
            check_url(value, allow_private=True)
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"(?i)(rediss?|unix)://", value):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr | list[SecretStr] | None) -> SecretStr | list[SecretStr] | None:
        items = value if isinstance(value, list) else [value] if value is not None else []
        for item in items:
            secret_bytes(item.get_secret_value())  # ValueError names the problem, never the value
        if isinstance(value, list) and not value:
            raise ValueError("must not be an empty list")
        return value

    @model_validator(mode="after")
    def _one_target(self) -> SubscriptionSpec:
        if (self.url is None) == (self.redis_url is None):
            raise ValueError("give exactly one of url (webhook) or redis_url (Redis stream)")
        if self.stream is not None and self.redis_url is None:
            raise ValueError("stream is for Redis subscriptions (redis_url)")
        if self.batch_max > 1 and self.redis_url is not None:
            raise ValueError("batch_max is for webhook subscriptions (url): a stream gets one entry per event")
        if self.batch_wait > 0 and self.batch_max == 1:
            raise ValueError("batch_wait needs batch_max > 1")
        return self

    def secrets(self) -> tuple[str, ...]:
        value = self.secret
        items = value if isinstance(value, list) else [value] if value is not None else []
        return tuple(s.get_secret_value() for s in items)

    def build(self, id: str, source: Literal["config", "api"], keep: Subscription | None = None) -> Subscription:
        """The stored form. Without a secret, ``keep``'s secrets stay (or a new one is generated)."""
        secrets = self.secrets() or (keep.secrets if keep is not None and keep.secrets else (generate_secret(),))
        return Subscription(
            id=id, kind="webhook" if self.url else "redis", target=self.url or self.redis_url or "",
            stream=(self.stream or "smshook") if self.redis_url else None, secrets=secrets,
            filters=self.filters.build(), enabled=self.enabled, ordered=self.ordered, timeout=self.timeout,
            source=source, batch_max=self.batch_max, batch_wait=self.batch_wait,
        )

    def redacted(self) -> dict[str, Any]:
        data = self.model_dump(exclude_none=True)
        if self.secret is not None:
            data["secret"] = MASK
        return data
