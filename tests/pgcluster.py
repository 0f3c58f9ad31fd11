"""A throwaway PostgreSQL cluster for the tests.

``initdb`` into a temporary directory, ``pg_ctl start`` on a free 127.0.0.1 port with its unix
socket in the same directory, removed again by :meth:`Cluster.stop`. ``fsync=off`` only makes the
tests faster: the store itself never lowers durability. PostgreSQL refuses to run as root, so when
the tests run as root (CI) the server runs as the ``postgres`` user of the Debian package.

Debian keeps the server binaries in ``/usr/lib/postgresql/<version>/bin`` (not on PATH); the newest
one found there is used unless ``initdb`` is on PATH.
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

SERVER_OPTIONS = "-c fsync=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=32MB"


def bindir() -> Path | None:
    """Where initdb and pg_ctl are, or None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not candidates:
        return None
    return Path(max(candidates, key=lambda p: int(Path(p).parent.parent.name.split(".")[0]))).parent


def _run_in_thread(coro: Any) -> Any:
    """Run a coroutine to completion on a fresh loop, even when called from inside a running one."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


@dataclass
class Cluster:
    root: Path
    port: int
    bindir: Path
    as_user: str | None  # run the server binaries as this OS user (when we are root)

    @property
    def url(self) -> str:
        """The maintenance database (``postgres``) as the superuser ``postgres``."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _cmd(self, *args: str) -> list[str]:
        prefix = ["runuser", "-u", self.as_user, "--"] if self.as_user else []
        return [*prefix, *args]

    def start(self) -> Cluster:
        subprocess.run(self._cmd(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                                 "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"),
                       check=True, capture_output=True)
        return self.resume()

    def resume(self) -> Cluster:
        """Start the server (again) on the same data and port."""
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} {SERVER_OPTIONS}"
        proc = subprocess.run(self._cmd(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l",
                                        str(self.root / "server.log"), "-w", "-t", "60", "-o", options, "start"),
                              capture_output=True)
        if proc.returncode != 0:
            log = (self.root / "server.log").read_text(errors="replace") if (self.root / "server.log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {proc.stderr.decode(errors='replace')}\n{log}")
        return self

    def halt(self) -> None:
        """Stop the server at once (as a crash would), keeping its data: see :meth:`resume`."""
        if (self.data / "postmaster.pid").exists():
            subprocess.run(self._cmd(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                                     "-w", "stop"), capture_output=True, timeout=60)

    def stop(self) -> None:
        """Stop the server and remove the cluster."""
        try:
            self.halt()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, prefix: str = "t") -> str:
        """A fresh, empty database; returns its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        _run_in_thread(self._admin(f'CREATE DATABASE "{name}"'))
        return self.database_url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[-1]
        _run_in_thread(self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(self.url, timeout=30)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()


def start_cluster(port: int) -> Cluster:
    """Start a new cluster on ``port``; raises RuntimeError when PostgreSQL is not installed."""
    found = bindir()
    if found is None:
        raise RuntimeError("PostgreSQL is not installed (initdb not found on PATH or in /usr/lib/postgresql/*/bin); "
                           "scripts/test installs the Debian package postgresql")
    root = Path(tempfile.mkdtemp(prefix="smshook-pg-"))
    as_user = None
    if os.geteuid() == 0:
        as_user = "postgres"
        entry = pwd.getpwnam(as_user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    root.chmod(0o700)
    cluster = Cluster(root, port, found, as_user)
    try:
        return cluster.start()
    except BaseException:
        cluster.stop()
        raise
