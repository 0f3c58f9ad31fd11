"""Which webhook targets smshook may send to.

A subscription's URL is chosen by whoever holds the API token, and smshook then POSTs there from
inside the network it runs in: without a check, that is a way to reach the cloud's metadata service
(``169.254.169.254``, ``fd00:ec2::254``: credentials), the host itself or the private network.

* Always refused: link-local and cloud-metadata addresses, unspecified, multicast and reserved ones,
  and URLs with spaces or control characters (CR/LF would split the request line).
* Refused unless ``forwarding_allow_private_targets`` is set: loopback (``127.0.0.0/8``, ``::1``,
  ``localhost``) and private ranges (``10/8``, ``172.16/12``, ``192.168/16``, ``100.64/10``, ``fc00::/7``).

IPv4 written the old ways (``0x7f000001``, ``2130706433``, ``0177.0.0.1``, ``127.1``) is read as the
address it names, as HTTP clients do. Host names are checked when a subscription is created only
by their form (``localhost``); at delivery time :func:`check_resolved` checks every address the
name resolves to, so a public name pointing at a private address is refused too.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import time
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
SETTING = "forwarding_allow_private_targets"
METADATA = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
                      ipaddress.ip_address("100.100.100.200"), ipaddress.ip_address("169.254.170.2")})
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT
_NUMERIC = re.compile(r"(?i)(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}")
_BAD_CHARACTERS = re.compile(r"[\x00-\x20\x7f]")
_NOT_IN_HOST_NAMES = re.compile(r"[!-,/:-@\[-^`{-~]")  # ASCII punctuation other than - . _
# Look-ups at delivery time, kept a few seconds: a busy subscription does not resolve its name for
# every event (the system resolver may not cache), and a changed answer is seen within seconds.
RESOLVED_TTL = 5.0
RESOLVED_ENTRIES = 1024
_resolved: dict[tuple[str, int], tuple[float, tuple[str, ...]]] = {}


class UnsafeTarget(ValueError):
    """The target may not be used; the message says why (and how to allow it, where it can be)."""


def address_of(host: str) -> IPAddress | None:
    """The IP address ``host`` names literally (any legacy IPv4 form), or None for a host name."""
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if _NUMERIC.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            raise UnsafeTarget(f"{host!r} is not a valid IPv4 address") from None
    return None


def check_address(address: IPAddress, allow_private: bool, shown: str) -> None:
    """Raise :class:`UnsafeTarget` when ``address`` may not be sent to."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA:
        raise UnsafeTarget(f"{shown} is a cloud metadata address: never allowed")
    if address.is_link_local:
        raise UnsafeTarget(f"{shown} is a link-local address: never allowed")
    if address.is_unspecified or address.is_multicast:
        raise UnsafeTarget(f"{shown} is not a unicast address: never allowed")
    private = address.is_loopback or address.is_private or address in _SHARED
    if private and not allow_private:
        kind = "loopback" if address.is_loopback else "private"
        raise UnsafeTarget(f"{shown} is a {kind} address: refused unless the setting {SETTING} is "
                           f"true (SMSHOOK_{SETTING.upper()}=true)")
    if address.is_reserved and not address.is_loopback:
        raise UnsafeTarget(f"{shown} is a reserved address: never allowed")


def check_url(url: str, allow_private: bool) -> str:
    """The host of ``url`` when it is a safe webhook target; :class:`UnsafeTarget` naming why not."""
    if _BAD_CHARACTERS.search(url):
        raise UnsafeTarget("must not contain spaces or control characters (CR, LF, tab): percent-encode them")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (validates the port)
    except ValueError as exc:
        raise UnsafeTarget(f"not a valid URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise UnsafeTarget("must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget("must not hold user:password@ (sign with the subscription's secret instead)")
    address = address_of(host)
    if address is not None:
        check_address(address, allow_private, host)
    elif bad := _NOT_IN_HOST_NAMES.search(host):
        raise UnsafeTarget(f"{host!r} is not a host name ({bad.group()!r}: letters, digits, '-', '.' and '_' only)")
    elif (host.rstrip(".") == "localhost" or host.rstrip(".").endswith(".localhost")) and not allow_private:
        raise UnsafeTarget(f"{host} is a loopback address: refused unless the setting {SETTING} is true "
                           f"(SMSHOOK_{SETTING.upper()}=true)")
    return host


async def check_resolved(url: str, allow_private: bool) -> None:
    """At delivery time: :func:`check_url`, then every address the host name resolves to (a public name
    may point at a private or metadata address). Raises :class:`UnsafeTarget`."""
    host = check_url(url, allow_private)
    if address_of(host) is not None:
        return
    port = urlsplit(url).port or (443 if url.lower().startswith("https") else 80)
    now = time.monotonic()
    cached = _resolved.get((host, port))
    if cached is not None and cached[0] > now:
        addresses = cached[1]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise UnsafeTarget(f"cannot resolve {host}: {exc}") from None
        addresses = tuple(str(info[4][0]).split("%", 1)[0] for info in infos)
        if len(_resolved) >= RESOLVED_ENTRIES:
            _resolved.clear()
        _resolved[(host, port)] = (now + RESOLVED_TTL, addresses)
    for address in addresses:
        check_address(ipaddress.ip_address(address), allow_private, f"{host} (resolves to {address})")
