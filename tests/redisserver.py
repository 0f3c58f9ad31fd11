"""A throwaway ``redis-server`` on a loopback port (no persistence), for the forwarding tests and the
forwarding benchmark (``bench/forwarding.py``), as ``tests/pgcluster.py`` is for PostgreSQL."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def redis_server(port: int, workdir: Path) -> Iterator[str | None]:
    """``redis://127.0.0.1:PORT/0`` once the server answers PING, stopped afterwards; None when
    ``redis-server`` is not installed (``scripts/test`` installs the Debian package redis-server)."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)
