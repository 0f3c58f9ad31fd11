"""How a subscription's target appears in logs and the start-up banner: never with its secrets."""

from __future__ import annotations

from urllib.parse import urlsplit

from smshook.forwarding.model import Subscription
from smshook.settings import mask_url

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


def shown_target(sub: Subscription) -> str:
    """The subscription's webhook URL or Redis stream, masked."""
    if sub.kind == "webhook":
        return mask_target(sub.target)
    return f"{mask_url(sub.target)} stream {sub.stream or 'smshook'}"
