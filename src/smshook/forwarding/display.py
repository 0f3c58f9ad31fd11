"""How a URL appears in logs, the start-up banner and the settings' repr: a subscription's target, a
database URL, never with their secrets."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from smshook.forwarding.model import Subscription

MASK = "***"


def mask_target(url: str) -> str:
    """A subscription's URL for logs and the banner: scheme, host and path; a password and the query
    string (where receivers often put a secret) replaced by ``***``."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return MASK
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host += f":{parts.port}"
    if parts.username is not None:
        host = f"{parts.username}:{MASK}@{host}" if parts.password is not None else f"{parts.username}@{host}"
    return f"{parts.scheme}://{host}{parts.path}" + (f"?{MASK}" if parts.query else "")


def mask_url(url: str) -> str:
    """``url`` with its password (user info or ``password=`` parameter) replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() == "sqlite":
        return url
    userinfo, at, host = rest.rpartition("@")  # the last @: a raw password may contain @ or /
    if at and ":" in userinfo:
        rest = f"{userinfo.split(':', 1)[0]}:{MASK}@{host}"
    return f"{scheme}://" + re.sub(r"(?i)(password=)[^&]*", rf"\g<1>{MASK}", rest)


def shown_target(sub: Subscription) -> str:
    """The subscription's webhook URL or Redis stream, masked."""
    if sub.kind == "webhook":
        return mask_target(sub.target)
    return f"{mask_url(sub.target)} stream {sub.stream or 'smshook'}"
