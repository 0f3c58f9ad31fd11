"""``smshook doctor``: the configuration, the store (reachable, migrated), file permissions, open
endpoints, the API token and forwarding dead letters, each checked and reported rather than refused."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterable
from pathlib import Path

import click

from smshook.cli.common import config_option, database_option, dump, json_option
from smshook.errors import ConfigError, StoreError
from smshook.settings import Settings, check_exposure, is_loopback, load_settings
from smshook.storage import make_store

OK, WARN, FAIL = "ok", "warn", "fail"


def file_checks(path: Path) -> Iterable[tuple[str, str, str]]:
    """The SQLite file and its directory: present, writable (WAL needs the directory), not shared."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        yield FAIL, "database directory", f"{folder} does not exist"
        return
    if not os.access(folder, os.W_OK | os.X_OK):
        yield FAIL, "database directory", f"{folder} is not writable: SQLite creates its -wal and -shm files there"
    else:
        yield OK, "database directory", f"{folder} is writable"
    if not path.exists():
        yield WARN, "database file", f"{path} does not exist yet (`smshook serve` or `smshook migrate` creates it)"
        return
    if not os.access(path, os.R_OK | os.W_OK):
        yield FAIL, "database file", f"{path} is not readable and writable by this user"
    for candidate in (path, Path(f"{path}-wal")):
        if not candidate.exists():
            continue
        mode = stat.S_IMODE(candidate.stat().st_mode)
        if mode & stat.S_IWOTH:
            yield FAIL, "database permissions", f"{candidate} is writable by every user (mode {mode:o}): chmod 600"
        elif mode & stat.S_IROTH:
            yield WARN, "database permissions", (f"{candidate} is readable by every user (mode {mode:o}); it holds "
                                                 "phone numbers and message texts: chmod 600")
        else:
            yield OK, "database permissions", f"{candidate} mode {mode:o}"


async def store_checks(settings: Settings) -> list[tuple[str, str, str]]:
    """Reachable, schema up to date (without migrating), forwarding and quarantine backlog."""
    from smshook.settings import mask_url

    found: list[tuple[str, str, str]] = []
    store = make_store(settings.database, auto_migrate=False)
    try:
        await store.open()
    except (StoreError, ConfigError) as exc:
        return [(FAIL, "store", f"{mask_url(settings.database)}: {exc}")]
    try:
        if not await store.ping():
            return [(FAIL, "store", f"{mask_url(settings.database)} does not answer")]
        found.append((OK, "store", f"{mask_url(settings.database)} answers, schema up to date"))
        from smshook.preflight import server_database_check

        level, detail = await server_database_check(settings.host, settings.port, await store.database_id(),
                                                    settings.database)
        found.append((level, "server database", detail))
        stats = await store.subscription_stats()
        for sub in await store.subscriptions():
            s = stats.get(sub.id, {})
            if s.get("dead"):
                found.append((FAIL, "forwarding", f"subscription {sub.id!r}: {s['dead']} dead-lettered deliver"
                              f"{'y' if s['dead'] == 1 else 'ies'} (last error: {s.get('last_error') or '-'}); "
                              f"fix the target, then `smshook replay --subscription {sub.id} --state dead`"))
            if not sub.enabled:
                found.append((WARN, "forwarding", f"subscription {sub.id!r} is disabled"
                              + (f": {sub.disabled_reason}" if sub.disabled_reason else "")))
            elif not s.get("dead"):
                found.append((OK, "forwarding", f"subscription {sub.id!r}: backlog {s.get('backlog', 0)}"))
        from smshook.storage.privacy import open_quarantine

        waiting = await open_quarantine(store)  # neither re-processed nor dismissed
        if waiting:
            found.append((WARN, "quarantine", f"{waiting} request(s) could not be read; see GET /v1/quarantine, "
                          "then `smshook reprocess --all` (or `smshook dismiss ID --why …`)"))
        else:
            found.append((OK, "quarantine", "empty"))
    finally:
        await store.close()
    return found


def diagnose(config_file: Path | None, database: str | None) -> list[tuple[str, str, str]]:
    """Every check as ``(level, check, detail)``. The one command that does not load settings with
    :func:`smshook.cli.common.load`: an invalid configuration or an exposed bind is a finding to report
    next to the others, not a reason to stop."""
    try:
        settings = load_settings(config_file, database=database)
    except ConfigError as exc:
        return [(FAIL, "configuration", str(exc))]
    checks: list[tuple[str, str, str]] = [
        (OK, "configuration", f"{config_file or 'no config file'}: valid, {len(settings.connections)} connection(s)")]
    public = not is_loopback(settings.host)
    try:
        check_exposure(settings)
    except ConfigError as exc:
        checks.append((FAIL, "exposure", str(exc).splitlines()[0] + " (serve refuses to start)"))
    level = FAIL if public else WARN
    where = f"on {settings.host}" + ("" if public else " (loopback: only this machine)")
    if settings.api_token is None:
        checks.append((level, "api_token", f"not set: the API and dashboard are open to anyone who can reach "
                                           f"them {where}"))
    else:
        checks.append((OK, "api_token", "set"))
    from smshook.preflight import auth_options, signing_checks, sqlite_file

    for name, conn in settings.connections.items():
        if not conn.authenticated:
            own = "/".join(auth_options(conn.provider)) or "credentials"
            checks.append((level, "endpoint", f"/hooks/{name} has no token, allow_ips or {own}: anyone can "
                                              f"post to it {where}"))
        else:
            checks.append((OK, "endpoint", f"/hooks/{name} is protected"))
    checks += [(lv, "signatures", detail) for lv, _, detail in signing_checks(settings, endpoint_reported=True)]
    path = sqlite_file(settings.database)
    if path is not None:
        checks += file_checks(path)
        if not path.exists():
            return checks
    checks += asyncio.run(store_checks(settings))
    return checks


@click.command()
@config_option
@database_option
@click.option("--strict", is_flag=True, help="Warnings count as problems too.")
@json_option
def doctor(config_file: Path | None, database: str | None, strict: bool, as_json: bool) -> None:
    """Check the configuration, the store (reachable, migrated), file permissions, open endpoints,
    the API token and forwarding dead letters. Exit 1 when something is wrong."""
    checks = diagnose(config_file, database)
    bad = {FAIL, WARN} if strict else {FAIL}
    healthy = not any(level in bad for level, _, _ in checks)
    if as_json:
        click.echo(dump({"ok": healthy, "checks": [{"check": c, "level": lv, "detail": d} for lv, c, d in checks]}))
    else:
        labels = {OK: click.style(" ok ", fg="green"), WARN: click.style("warn", fg="yellow"),
                  FAIL: click.style("FAIL", fg="red", bold=True)}
        for level, check, detail in checks:
            click.echo(f"[{labels[level]}] {check}: {detail}")
        problems = sum(1 for level, _, _ in checks if level in bad)
        click.echo("no problems found" if healthy else f"{problems} problem(s) found")
    if not healthy:
        raise SystemExit(1)


COMMANDS = (doctor,)
