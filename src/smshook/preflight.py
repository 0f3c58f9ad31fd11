"""Checks made before a command touches anything: is the port free (``serve``), does the database the
command would read exist (reading commands never create one), and how the start-up banner names
subscriptions (their URLs masked).
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path
from urllib.parse import unquote, urlsplit

from smshook.errors import ConfigError
from smshook.forwarding.display import mask_target
from smshook.settings import Settings, mask_url


def port_problem(host: str, port: int) -> str | None:
    """One line saying why ``host:port`` cannot be listened on, or None when it is free. Binds with
    SO_REUSEADDR as uvicorn does (a port in TIME_WAIT is free), then lets it go at once."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"cannot listen on {host}:{port}: {host!r} is not an address of this machine ({exc.strerror})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            if exc.errno == errno.EADDRINUSE:
                return (f"cannot listen on {where}: the port is already in use (another smshook, or another "
                        f"program; choose another with --port)")
            if exc.errno == errno.EACCES:
                return f"cannot listen on {where}: permission denied (ports below 1024 need privileges)"
            return f"cannot listen on {where}: {exc.strerror}"
    return None


def sqlite_file(database: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` database URL, or None for another engine."""
    parts = urlsplit(database)
    if parts.scheme != "sqlite":
        return None
    return Path(unquote(parts.path[1:] if parts.path.startswith("/") else parts.path))


def describe_database(database: str) -> str:
    """The database as a person should read it: an absolute file path, or the URL without password."""
    path = sqlite_file(database)
    return str(path.resolve()) if path is not None else mask_url(database)


def existing_database(database: str) -> None:
    """ConfigError unless the SQLite file exists (PostgreSQL: always fine here, the store says more):
    a command that reads events must not create an empty database in whatever folder it ran in."""
    path = sqlite_file(database)
    if path is not None and path != Path(":memory:") and not path.exists():
        shown = path if path.is_absolute() else f"./{path}"
        raise ConfigError(f"no database at {shown} (in {Path.cwd()}) — use --config or --database "
                          "(smshook serve or smshook migrate creates one)")


def subscription_lines(settings: Settings) -> list[str]:
    """The banner's lines for the subscriptions of the configuration (those created through the API
    are in GET /v1/subscriptions)."""
    lines = []
    for name, sub in settings.subscriptions.items():
        target = (mask_target(sub.url) if sub.url
                  else f"{mask_url(sub.redis_url or '')} stream {sub.stream or 'smshook'}")
        state = "" if sub.enabled else " (disabled)"
        lines.append(f"  → {name:<14} {target}{state}")
    if lines:
        lines.insert(0, f"forwarding to {len(lines)} subscription(s) from the configuration"
                     + ("" if settings.forwarding else " (dispatcher off: forwarding = false)") + ":")
    return lines


async def server_database_check(host: str, port: int, database_id: str, database: str) -> tuple[str, str]:
    """``(level, detail)``: does the smshook answering at ``host:port`` use the database with
    ``database_id`` (this command's)? ``ok`` when it does or when nothing listens there, ``warn`` when it
    uses another database or something else answers (read from its public ``GET /identity``)."""
    import httpx

    shown = f"[{host}]" if ":" in host else host
    wildcard = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}  # noqa: S104  (a wildcard bind is reached on loopback)
    shown = wildcard.get(host, shown)
    url = f"http://{shown}:{port}/identity"
    try:
        async with httpx.AsyncClient(timeout=3, trust_env=False) as client:
            answer = await client.get(url)
    except httpx.HTTPError:
        return "ok", f"no server answers at http://{shown}:{port} (nothing to compare)"
    try:
        theirs = answer.json().get("database_id") if answer.status_code == 200 else None
    except ValueError:
        theirs = None
    if theirs is None:
        return "warn", (f"http://{shown}:{port} answers (HTTP {answer.status_code}) but tells no database identity: "
                        "not smshook, or an older version")
    if theirs != database_id:
        return "warn", (f"the server at http://{shown}:{port} uses ANOTHER database than this command "
                        f"({describe_database(database)}, id {database_id[:8]}… vs the server's {theirs[:8]}…): "
                        "give the CLI the server's --config or --database, or what you read is not what it stores")
    return "ok", f"the server at http://{shown}:{port} uses this database too (id {database_id[:8]}…)"


def auth_options(slug: str) -> list[str]:
    """The connection keys with which ``slug``'s own check keeps strangers out: its secret options and
    what they go together with (csoft ``username``/``pin``), else its keys without a default (Telnyx's
    ``public_key``)."""
    from smshook import providers
    from smshook.providers.base import declared_options

    provider = providers.registry()[slug]
    declared = declared_options(provider)
    keys = {o.name for o in declared if o.secret}
    for group in provider.together:
        if keys & set(group):
            keys |= set(group)
    if not keys:
        keys = {o.name for o in declared if o.default is None}
    return [o.name for o in declared if o.name in keys]


def signing_checks(settings: Settings, *, endpoint_reported: bool = False) -> list[tuple[str, str, str]]:
    """``(level, connection, detail)`` about each connection's own authenticity check (a signing secret,
    credentials), for ``smshook doctor``:

    - a provider that can check signatures or credentials, on a connection that sets none of its keys:
      ``ok`` when a token or an address list protects it anyway (saying which key would add the
      check), ``warn`` when nothing does (anyone reaching the port can post events) unless
      ``endpoint_reported`` (the doctor's endpoint check already names the connection and its keys);
    - a provider whose signature covers the URL with its secret set: see :func:`url_signing_problem`.
    """
    from smshook import providers

    found = []
    for name, conn in settings.connections.items():
        provider = providers.registry()[conn.provider]
        keys = auth_options(conn.provider)
        if not keys:
            continue
        label = f"connection {name!r} ({provider.name})"
        info = conn.info(name)
        what = "signatures" if provider.auth_kind == "signature" else "credentials"
        if not provider.authenticated(info):
            shown = " and ".join(keys) if provider.together else " or ".join(keys)
            if conn.token is not None or any(net.prefixlen > 0 for net in conn.allow_ips):
                found.append(("ok", name, f"{label} checks no {what} ({shown} not set); its "
                              f"{'token' if conn.token is not None else 'allow_ips'} protects it"))
            elif not endpoint_reported:
                found.append(("warn", name, f"{label} checks no {what}: {shown} not set, and no token or "
                              f"allow_ips, so /hooks/{name} takes unsigned callbacks from anyone"))
            continue
        problem = url_signing_problem(settings, name)
        if problem is not None:
            found.append(problem)
            continue
        where = " against its public_url" if provider.signs_url else ""
        found.append(("ok", name, f"{label} checks {what}{where} "
                      f"({', '.join(k for k in keys if k in info.options)} set)"))
    return found


def url_signing_problem(settings: Settings, name: str) -> tuple[str, str, str] | None:
    """For a connection whose provider signs the URL (:attr:`~smshook.providers.base.Provider.signs_url`:
    Twilio, Plivo, MessageBird) with its secret set but no ``public_url``: behind a reverse proxy the URL
    smshook sees differs from the one the provider signed (``http`` instead of ``https``, another host,
    port or prefix) and every callback is refused. ``warn`` without ``trusted_proxies``, ``ok`` (with
    the hint) when smshook rebuilds the URL from the trusted proxies' ``X-Forwarded-*``; None otherwise."""
    from smshook import providers

    conn = settings.connections[name]
    provider = providers.registry()[conn.provider]
    if not provider.signs_url or conn.public_url is not None or not provider.authenticated(conn.info(name)):
        return None
    label = f"connection {name!r} ({provider.name})"
    if settings.trusted_proxies:
        return ("ok", name, f"{label} checks signatures over the URL rebuilt from the trusted proxies' "
                "X-Forwarded-Proto/-Host/-Prefix (no public_url): if callbacks are refused, set public_url to "
                "the URL pasted in the provider's portal")
    return ("warn", name, f"{label} checks signatures over the URL but has no public_url: behind a reverse "
            "proxy the URL smshook sees (http, another host, port or path) is not the one signed and every "
            "callback is refused; set public_url to the URL pasted in the provider's portal (or list the "
            "proxy in trusted_proxies)")


def signing_warnings(settings: Settings) -> list[str]:
    """The start-up banner's warnings about signature checks that will refuse every callback (an
    unprotected connection is already reported by :func:`smshook.settings.check_exposure`)."""
    found = (url_signing_problem(settings, name) for name in settings.connections)
    return [detail for problem in found if problem is not None and problem[0] == "warn"
            for detail in (problem[2],)]
