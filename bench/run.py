"""The ingestion benchmark: smshook against a no-op ceiling and a typical receiver, side by side.

    python3 bench/run.py                 # full run: 10 s per workload and target, results in bench/results/
    python3 bench/run.py --quick         # 1 s each, smshook and the ceiling only, results in a temp dir

For every workload (csoft, bulkgate, webcom, mix) and target (noop, handoff, floor, typical, smshook,
smshook-pg) it starts the server on a free loopback port with a fresh SQLite file (smshook-pg: a fresh database in a
throwaway PostgreSQL cluster the command starts, with fsync on), drives it with wrk (64 connections),
stops it, reads its peak RSS and, for the storing targets, counts what the database holds. See
bench/README.md for what is measured and how the counts are made exact.

Only the Python standard library is used here; the command bootstraps what it needs: the project's
virtualenv (``.venv``, ``pip install -e '.[bench]'``) when the running interpreter lacks smshook or
SQLAlchemy, and wrk from Debian's packages when it is not installed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
LUA = BENCH / "lua"
RESULTS = BENCH / "results"
WORKLOADS = ("csoft", "bulkgate", "webcom", "mix")
TARGETS = ("noop", "handoff", "floor", "typical", "smshook", "smshook-pg")
STORES_NOTHING = ("noop", "handoff")
EVENTS_PER_REQUEST = {"csoft": 1, "bulkgate": 100, "webcom": 50, "mix": 1}

# The targets (2-core machine, load generator on the same machine).
WANT_CEILING_SHARE = 0.5  # single-event req/s >= 50 % of the no-op ceiling
WANT_TYPICAL_FACTOR = 3.0  # single-event req/s >= 3x the typical receiver
WANT_BULK_EVENTS = 50_000  # bulk events/s durably stored
WANT_P99_MS = 25.0  # single-event p99 at 64 connections
WANT_RSS_MB = 150.0  # peak RSS of smshook


# -- environment -------------------------------------------------------------------------------------


def _can_import(python: str, modules: list[str]) -> bool:
    code = "import " + ", ".join(modules)
    return subprocess.run([python, "-c", code], capture_output=True, check=False).returncode == 0


def ensure_python(targets: list[str]) -> None:
    """Re-run this command under the project's virtualenv when this interpreter cannot serve the targets."""
    modules = ["smshook", "uvicorn"] + (["sqlalchemy", "multipart"] if "typical" in targets else [])
    modules += ["asyncpg"] if "smshook-pg" in targets else []
    if _can_import(sys.executable, modules):
        return
    venv_python = ROOT / ".venv" / "bin" / "python"
    if not venv_python.exists():
        print("bench: creating .venv", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(ROOT / ".venv")], check=True)
    if not _can_import(str(venv_python), modules):
        print("bench: pip install -e '.[bench]' into .venv", flush=True)
        subprocess.run([str(venv_python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "-e", f"{ROOT}[bench]"], check=True)
    if Path(sys.prefix).resolve() == (ROOT / ".venv").resolve():  # already in it (its python symlinks the base one)
        raise SystemExit(f"bench: {venv_python} still cannot import {', '.join(modules)}")
    os.execv(str(venv_python), [str(venv_python), str(Path(__file__).resolve()), *sys.argv[1:]])


def ensure_wrk() -> str:
    """The path of wrk, installing Debian's package when it is missing. Raises RuntimeError with the
    reason when it cannot be had."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        raise RuntimeError("wrk is not installed and there is no apt-get to install it")
    prefix: list[str] = []
    if os.geteuid() != 0:
        sudo = shutil.which("sudo")
        if sudo is None:
            raise RuntimeError("wrk is not installed and installing it needs root (no sudo)")
        prefix = [sudo, "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("bench: installing wrk (apt-get install wrk)", flush=True)
    install = [*prefix, apt, "install", "-y", "-qq", "--no-install-recommends", "wrk"]
    done = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:  # maybe the package lists were never fetched
        subprocess.run([*prefix, apt, "update", "-qq"], env=env, capture_output=True, check=False)
        done = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    found = shutil.which("wrk")
    if done.returncode != 0 or not found:
        raise RuntimeError(f"could not install wrk with apt-get: {(done.stderr or done.stdout).strip()[-400:]}")
    return found


# -- servers -----------------------------------------------------------------------------------------


def py_spy() -> str:
    """py-spy's executable beside this interpreter (``pip install py-spy`` puts it there)."""
    return str(Path(sys.executable).parent / "py-spy")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def postgres_cluster(wanted: bool) -> Iterator[Any]:
    """A throwaway PostgreSQL cluster (tests/pgcluster.py: initdb + pg_ctl on a free loopback port, in a
    temporary directory, removed afterwards) for the smshook-pg target, with the durability the store
    relies on: the test suite's fsync=off is replaced by the defaults (fsync, synchronous_commit on)."""
    if not wanted:
        yield None
        return
    sys.path.insert(0, str(ROOT))
    from tests import pgcluster

    pgcluster.SERVER_OPTIONS = "-c max_connections=300 -c shared_buffers=128MB"
    cluster = pgcluster.start_cluster(free_port())
    try:
        yield cluster
    finally:
        cluster.stop()


def pg_query(url: str, sql: str) -> Any:
    import asyncio

    import asyncpg

    async def run() -> Any:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchrow(sql)
        finally:
            await conn.close()

    return asyncio.run(run())


@dataclass
class Server:
    target: str
    workdir: Path
    port: int = 0
    database_url: str | None = None  # smshook-pg: its fresh PostgreSQL database
    serve_args: tuple[str, ...] = ()  # smshook, smshook-pg: --serve-args
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def database(self) -> Path:
        return self.workdir / f"{self.target}.db"

    def argv(self, profile: Path | None) -> list[str]:
        python = sys.executable
        if self.target.startswith("smshook"):
            argv = [python, "-m", "smshook", "serve", "--port", str(self.port), "--database",
                    self.database_url or f"sqlite:///{self.database}", *self.serve_args]  # defaults: access log on
        elif self.target == "noop":
            argv = [python, str(BENCH / "noop.py"), "--port", str(self.port)]
        elif self.target == "handoff":
            argv = [python, str(BENCH / "floor.py"), "--port", str(self.port), "--store", "none"]
        elif self.target == "floor":
            argv = [python, str(BENCH / "floor.py"), "--port", str(self.port), "--database", str(self.database)]
        else:
            argv = [python, str(BENCH / "typical.py"), "--port", str(self.port), "--database", str(self.database)]
        if profile is not None:
            argv = [py_spy(), "record", "--format", "speedscope", "--threads", "--rate", "250", "--output",
                    str(profile), "--", *argv]
        return argv

    def start(self, profile: Path | None = None, timeout: float = 30.0) -> Server:
        self.port = free_port()
        self.log = self.workdir / f"{self.target}-{self.port}.log"
        # The defaults (no config file, no SMSHOOK_* settings): one open connection per provider.
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMSHOOK_")}
        env["PYTHONUNBUFFERED"] = "1"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(self.argv(profile), cwd=self.workdir, stdout=out,
                                            stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.target} exited with {self.process.returncode}:\n{self.output()}")
            ready = "/readyz" if self.target.startswith("smshook") else "/"
            if http_status("127.0.0.1", self.port, ready) in (200, 404, 405):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.target} did not become ready in {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log and self.log.exists() else ""

    @property
    def pid(self) -> int:
        """The server's own process (under py-spy, its child)."""
        assert self.process is not None
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children")
        with contextlib.suppress(OSError):
            kids = children.read_text().split()
            if kids and "py-spy" in str(self.process.args[0]):  # type: ignore[index]
                return int(kids[0])
        return pid

    def processes(self) -> list[int]:
        """The server's process and its descendants (``--serve-args "--workers 2"``: the workers)."""
        found, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            with contextlib.suppress(OSError, ValueError):
                todo += [int(kid) for kid in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        return found

    def peak_rss_mb(self) -> float | None:
        """Peak RSS, summed over the server's processes (one, unless it runs workers)."""
        kb = sum(proc_status_kb(pid, "VmHWM") for pid in self.processes())
        return kb / 1024 if kb else None

    def cpu_seconds(self) -> float:
        total = 0.0
        for pid in self.processes():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT if "py-spy" in str(self.process.args[0]) else signal.SIGTERM)  # type: ignore[index]
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        with contextlib.suppress(ProcessLookupError):  # anything it left behind in its own session
            os.killpg(self.process.pid, signal.SIGKILL)


def http_status(host: str, port: int, path: str) -> int | None:
    conn = http.client.HTTPConnection(host, port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def proc_status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@contextlib.contextmanager
def running(server: Server, profile: Path | None = None) -> Iterator[Server]:
    server.start(profile)
    try:
        yield server
    finally:
        server.stop()


# -- one measurement ---------------------------------------------------------------------------------


@dataclass
class Run:
    workload: str
    target: str
    seconds: float = 0.0  # the storing phase, first request sent to last answer received
    sent: int = 0
    duplicates: int = 0
    answered: int = 0
    ok: int = 0
    non_2xx: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    unanswered: int = 0
    wrk_errors: dict[str, int] = field(default_factory=dict)
    requests_per_s: float = 0.0
    events_per_s: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    p999_ms: float = 0.0
    max_ms: float = 0.0
    peak_rss_mb: float | None = None
    server_cpu_s: float = 0.0
    cpu_us_per_request: float | None = None  # the server's CPU time per acknowledged request
    loadgen_cpu_s: float = 0.0  # wrk's own CPU time, from start to end
    expected_events: int | None = None
    stored_events: int | None = None
    stored_requests: int | None = None
    stored_duplicates: int | None = None
    quarantined: int | None = None
    check: str = "n/a"  # "ok", "FAILED: ..." or "n/a" (noop stores nothing)
    profile: str | None = None

    @property
    def passed(self) -> bool:
        return self.check in ("ok", "n/a")


def wrk_run(wrk: str, workload: str, port: int, seconds: int, grace: int, connections: int,
            threads: int, timeout: int) -> tuple[dict[str, Any], str]:
    argv = [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{seconds + grace}s",
            "--timeout", f"{timeout}s", "--latency", "-s", str(LUA / f"{workload}.lua"),
            f"http://127.0.0.1:{port}", "--", str(seconds)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=seconds + grace + 60)
    match = re.search(r"^BENCH-JSON (.*)$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return json.loads(match.group(1)), done.stdout


def measure(wrk: str, workload: str, target: str, workdir: Path, args: argparse.Namespace,
            profile_dir: Path | None, cluster: Any = None) -> Run:
    rundir = workdir / f"{workload}-{target}"
    rundir.mkdir(parents=True)
    server = Server(target, rundir, serve_args=tuple(args.serve_args.split()) if target.startswith("smshook") else ())
    if target == "smshook-pg":
        server.database_url = cluster.create_database("bench")
    profile = None
    if profile_dir is not None and target.startswith("smshook"):
        profile = profile_dir / f"profile-{workload}.speedscope.json"
    with running(server, profile):
        cpu_before = server.cpu_seconds()
        wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)  # the servers are not reaped meanwhile
        data, _ = wrk_run(wrk, workload, server.port, args.duration, args.grace, args.connections, args.threads,
                          args.timeout)
        cpu = server.cpu_seconds() - cpu_before
        wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        rss = server.peak_rss_mb()
    run = Run(workload, target, profile=str(profile) if profile else None)
    run.seconds = float(data["phase_seconds"])
    run.sent, run.duplicates, run.answered = int(data["sent"]), int(data["duplicates"]), int(data["answered"])
    run.ok, run.non_2xx = int(data["ok"]), int(data["bad"])
    run.statuses = {str(k): int(v) for k, v in data["statuses"].items()}
    run.unanswered = run.sent - run.answered
    run.wrk_errors = {str(k): int(v) for k, v in data["errors"].items() if int(v)}
    lat = data["latency_us"]
    run.p50_ms, run.p90_ms, run.p99_ms = lat["p50"] / 1000, lat["p90"] / 1000, lat["p99"] / 1000
    run.p999_ms, run.max_ms = lat["p999"] / 1000, lat["max"] / 1000
    run.peak_rss_mb = rss
    run.server_cpu_s = cpu
    run.cpu_us_per_request = cpu / run.ok * 1e6 if run.ok else None
    run.loadgen_cpu_s = (wrk_after.ru_utime + wrk_after.ru_stime) - (wrk_before.ru_utime + wrk_before.ru_stime)
    per = EVENTS_PER_REQUEST[workload]
    if run.seconds > 0:
        run.requests_per_s = run.ok / run.seconds
    if target in STORES_NOTHING:
        run.events_per_s = run.requests_per_s * per  # acknowledged, nothing stored
    else:
        check_storage(run, server.database_url or server.database, per)
        if run.seconds > 0 and run.stored_events is not None:
            run.events_per_s = run.stored_events / run.seconds
    return run


def check_storage(run: Run, database: Path | str, per_request: int) -> None:
    """Compare what the database holds (read after the server stopped) with what was acknowledged."""
    unique_requests = run.ok - (run.duplicates if run.workload == "mix" else 0)
    run.expected_events = unique_requests * per_request
    smshook = run.target.startswith("smshook")
    counts = ("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM raw_requests), "
              "(SELECT coalesce(sum(duplicates), 0) FROM raw_requests), (SELECT count(*) FROM quarantine)")
    if isinstance(database, str):  # smshook-pg: a PostgreSQL URL
        row = pg_query(database, counts)
    else:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            row = db.execute(counts if smshook else "SELECT count(*) FROM events").fetchone()
    run.stored_events = int(row[0])
    if smshook:
        run.stored_requests, run.stored_duplicates, run.quarantined = int(row[1]), int(row[2]), int(row[3])
    problems = []
    if run.unanswered:
        problems.append(f"{run.unanswered} storing requests never answered (raise --grace)")
    if run.non_2xx:
        problems.append(f"{run.non_2xx} non-2xx answers {run.statuses}")
    if run.stored_events != run.expected_events:
        problems.append(f"{run.stored_events} events stored, {run.expected_events} acknowledged unique")
    if smshook:
        if run.stored_requests != run.ok:
            problems.append(f"{run.stored_requests} raw requests stored, {run.ok} acknowledged")
        dup_events = run.duplicates * per_request if run.workload == "mix" else 0
        if run.stored_duplicates != dup_events:
            problems.append(f"{run.stored_duplicates} duplicates counted, {dup_events} sent")
        if run.quarantined:
            problems.append(f"{run.quarantined} requests quarantined")
    run.check = "ok" if not problems else "FAILED: " + "; ".join(problems)


def realistic(workdir: Path, count: int) -> list[dict[str, Any]]:
    """``smshook simulate`` against a fresh smshook per provider: realistic traffic in each wire format
    (10 % retries, receipts out of order, inbound messages), every answer checked by the simulator and
    the stored events counted. A correctness run next to the timed ones: the simulator is Python, so its
    callbacks/s are the client's, not smshook's."""
    from smshook.settings import default_providers
    from smshook.simulate import PROVIDERS

    results = []
    # The server runs with the default connections: providers that need options (sns: its topics,
    # and AWS's signature) have none and are left out here; tests/e2e/test_simulate.py covers them.
    for provider in [slug for slug in PROVIDERS if slug in default_providers()]:
        server = Server("smshook", workdir / f"simulate-{provider}")
        server.workdir.mkdir(parents=True)
        with running(server):
            done = subprocess.run(
                [sys.executable, "-m", "smshook", "simulate", provider, "--url",
                 f"http://127.0.0.1:{server.port}/hooks/{provider}", "--count", str(count), "--rate", "0",
                 "--concurrency", "64", "--duplicates", "0.1", "--out-of-order", "--seed", "1", "--json"],
                capture_output=True, text=True, check=False, timeout=600)
        summary = json.loads(done.stdout) if done.stdout.startswith("{") else {}
        with contextlib.closing(sqlite3.connect(f"file:{server.database}?mode=ro", uri=True)) as db:
            # the simulator's STOP / START also make opt-out events (smshook.lifecycle): not its callbacks
            stored = int(db.execute("SELECT count(*) FROM events WHERE type NOT IN ('optout', 'optin')").fetchone()[0])
        ok = done.returncode == 0 and summary.get("ok") is True and stored == summary.get("unique_events")
        results.append({"provider": provider, "callbacks": summary.get("sent"),
                        "retries": summary.get("duplicates"), "unique_events": summary.get("unique_events"),
                        "stored_events": stored, "callbacks_per_s": summary.get("callbacks_per_s"),
                        "check": "ok" if ok else f"FAILED: {done.stderr.strip()[-300:] or summary}"})
    return results


# -- report ------------------------------------------------------------------------------------------


def find(runs: list[Run], workload: str, target: str) -> Run | None:
    return next((r for r in runs if r.workload == workload and r.target == target), None)


def ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def assess(runs: list[Run]) -> list[dict[str, Any]]:
    """The issue's targets, each with what was measured and whether it is met (None: not measured)."""
    out: list[dict[str, Any]] = []

    def add(name: str, wanted: str, measured: float | None, fmt: str, met: bool | None) -> None:
        out.append({"target": name, "wanted": wanted, "measured": None if measured is None else round(measured, 3),
                    "shown": "not measured" if measured is None else fmt.format(measured), "met": met})

    s, n, t = find(runs, "csoft", "smshook"), find(runs, "csoft", "noop"), find(runs, "csoft", "typical")
    share = ratio(s.requests_per_s, n.requests_per_s) if s and n else None
    add("single-event req/s vs no-op ceiling", f">= {WANT_CEILING_SHARE:.0%}", share, "{:.0%}",
        None if share is None else share >= WANT_CEILING_SHARE)
    factor = ratio(s.requests_per_s, t.requests_per_s) if s and t else None
    add("single-event req/s vs typical receiver", f">= {WANT_TYPICAL_FACTOR:g}x", factor, "{:.2f}x",
        None if factor is None else factor >= WANT_TYPICAL_FACTOR)
    b = find(runs, "bulkgate", "smshook")
    add("bulk events/s durably stored", f">= {WANT_BULK_EVENTS:,}", b.events_per_s if b else None, "{:,.0f}",
        None if b is None else b.events_per_s >= WANT_BULK_EVENTS)
    add("single-event p99 at 64 connections", f"<= {WANT_P99_MS:g} ms", s.p99_ms if s else None, "{:.1f} ms",
        None if s is None else s.p99_ms <= WANT_P99_MS)
    rss = [r.peak_rss_mb for r in runs if r.target == "smshook" and r.peak_rss_mb is not None]
    add("peak RSS of smshook (all workloads)", f"<= {WANT_RSS_MB:g} MB", max(rss) if rss else None, "{:.0f} MB",
        None if not rss else max(rss) <= WANT_RSS_MB)
    m = find(runs, "mix", "smshook")
    out.append({"target": "10%-duplicates mix stores exactly the unique events", "wanted": "exact",
                "measured": None if m is None else m.stored_events,
                "shown": "not measured" if m is None else f"{m.stored_events} of {m.expected_events} ({m.check})",
                "met": None if m is None else m.check == "ok"})
    checks = [r for r in runs if r.target.startswith("smshook")]
    out.append({"target": "every smshook run: stored = acknowledged - duplicates", "wanted": "exact",
                "measured": sum(r.check == "ok" for r in checks),
                "shown": f"{sum(r.check == 'ok' for r in checks)} of {len(checks)} runs",
                "met": all(r.check == "ok" for r in checks) if checks else None})
    return out


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")), "")
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.splitlines()
    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always"], capture_output=True,
                            text=True, check=False).stdout.strip()
    changed = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", "--", ".",
                              ":(exclude)bench/results"], capture_output=True, text=True, check=False).stdout
    commit += "-dirty" if changed.strip() else ""  # earlier results being replaced do not count
    return {"cpus": os.cpu_count(), "cpu": cpu, "kernel": platform.release(), "python": platform.python_version(),
            "wrk": wrk_version[0].split(" [")[0] if wrk_version else "", "smshook_commit": commit}


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def markdown(meta: dict[str, Any], runs: list[Run], targets: list[dict[str, Any]]) -> str:
    lines = [
        f"# smshook ingestion benchmark, {meta['started']}",
        "",
        f"- command: `{meta['command']}`",
        f"- machine: {meta['machine']['cpus']} CPUs ({meta['machine']['cpu']}), Linux {meta['machine']['kernel']}, "
        f"Python {meta['machine']['python']}, {meta['machine']['wrk']}; load generator on the same machine",
        f"- smshook at `{meta['machine']['smshook_commit']}`; `smshook serve` with SQLite (WAL, synchronous=FULL); "
        "smshook-pg: the same on PostgreSQL (a local throwaway cluster, fsync and synchronous_commit on; "
        "its server processes' CPU and memory are not in the smshook columns)",
        f"- wrk: {meta['connections']} connections, {meta['threads']} threads, {meta['duration']} s of storing "
        f"requests per workload and target, each on a freshly started server with a fresh database",
        "",
        "## Results",
        "",
        "| workload | target | req/s | events/s | p50 ms | p99 ms | p99.9 ms | peak RSS MB | server CPU | "
        "CPU µs/req | wrk CPU | non-2xx | stored events / expected | check |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for r in runs:
        cpu = r.server_cpu_s / r.seconds if r.seconds else 0
        wrk_cpu = r.loadgen_cpu_s / r.seconds if r.seconds else 0
        stored = "-" if r.stored_events is None else f"{r.stored_events:,} / {r.expected_events:,}"
        lines.append(
            f"| {r.workload} | {r.target} | {r.requests_per_s:,.0f} | {r.events_per_s:,.0f} | {r.p50_ms:.2f} | "
            f"{r.p99_ms:.2f} | {r.p999_ms:.2f} | {fmt(r.peak_rss_mb, '.0f')} | {cpu:.0%} | "
            f"{fmt(r.cpu_us_per_request, ',.0f')} | {wrk_cpu:.0%} | {r.non_2xx} | {stored} | "
            f"{r.check} |")
    lines += ["", "events/s: stored events for smshook and typical (counted in the SQLite file after the server "
              "stopped; floor: its rows), acknowledged events for noop and handoff. "
              "server CPU: the server process's CPU time over the run, "
              "100 % = one core; CPU µs/req: that time per acknowledged request; wrk CPU: the load generator's CPU "
              "time (start-up included) over the same phase.", "", "## Side by side (same run)", "",
              "| workload | smshook / ceiling req/s | smshook / typical req/s | smshook-pg / smshook req/s | "
              "handoff / ceiling | floor / ceiling | smshook / floor |",
              "|---|--:|--:|--:|--:|--:|--:|"]
    for w in WORKLOADS:
        s, n, t = find(runs, w, "smshook"), find(runs, w, "noop"), find(runs, w, "typical")
        pg, h, f = find(runs, w, "smshook-pg"), find(runs, w, "handoff"), find(runs, w, "floor")
        if s is None:
            continue

        def share(a: Run | None, b: Run | None) -> str:
            return fmt(ratio(a.requests_per_s, b.requests_per_s) if a and b else None, ".0%")

        b = ratio(s.requests_per_s, t.requests_per_s) if t else None
        lines.append(f"| {w} | {share(s, n)} | {'-' if b is None else f'{b:.2f}x'} | {share(pg, s)} | "
                     f"{share(h, n)} | {share(f, n)} | {share(s, f)} |")
    lines += ["", "handoff and floor ([`floor.py`](../floor.py)): the ceiling's raw ASGI app on uvicorn, answering "
              "only once a writer thread says so (group commit); handoff stores nothing, floor stores each event "
              "(one INSERT OR IGNORE row with a unique key, SQLite WAL, synchronous=FULL) and does nothing else. "
              "The floor is the price of the stack and of answering after the fsync; smshook / floor is the "
              "price of everything smshook does beyond it."]
    if meta.get("realistic"):
        lines += ["", "## Realistic traffic (`smshook simulate`, correctness only)", "",
                  "| provider | callbacks | retries | unique events | stored events | callbacks/s (client) | check |",
                  "|---|--:|--:|--:|--:|--:|---|"]
        lines += [f"| {sim['provider']} | {sim['callbacks']} | {sim['retries']} | {sim['unique_events']} | "
                  f"{sim['stored_events']} | {sim['callbacks_per_s']} | {sim['check']} |" for sim in meta["realistic"]]
    lines += ["", "## Targets", "", "| target | wanted | measured | met |", "|---|---|---|---|"]
    for goal in targets:
        met = {True: "yes", False: "**no**", None: "-"}[goal["met"]]
        lines.append(f"| {goal['target']} | {goal['wanted']} | {goal['shown']} | {met} |")
    return "\n".join(lines) + "\n"


# -- main --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="smshook ingestion benchmark (see bench/README.md)")
    p.add_argument("--duration", type=int, default=None, help="seconds of storing requests per run [10; --quick 1]")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 1 s per run, smshook and noop only, results in a temp dir unless --out")
    p.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma-separated subset of {WORKLOADS}")
    p.add_argument("--targets", default=None, help=f"comma-separated subset of {TARGETS} [all; --quick smshook,noop]")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--grace", type=int, default=None,
                   help="extra seconds wrk may run to collect the answers still in flight [3; --quick 2]")
    p.add_argument("--timeout", type=int, default=10, help="wrk --timeout in seconds")
    p.add_argument("--simulate", type=int, default=None,
                   help="callbacks per provider for the simulate check [300; --quick 30; 0: off]")
    p.add_argument("--serve-args", default="",
                   help='more arguments for smshook serve, e.g. "--workers 2" (CPU and RSS then add up the workers)')
    p.add_argument("--out", type=Path, default=None, help="folder for <date>.md and .json [bench/results]")
    p.add_argument("--profile", action="store_true",
                   help="record smshook under py-spy (speedscope files beside the results; slows it down)")
    p.add_argument("--no-forwarding", dest="forwarding", action="store_false",
                   help="skip the forwarding steps (bench/forwarding.py)")
    p.add_argument("--fwd-rate", type=int, default=1000, help="events/s of the steady latency step [1000]")
    p.add_argument("--fwd-seconds", type=float, default=None, help="seconds of the steady latency step [10; --quick 2]")
    p.add_argument("--burst", type=int, default=None, help="seconds of the burst step [20; --quick 2; 0: off]")
    args = p.parse_args(argv)
    args.workloads = [w for w in args.workloads.split(",") if w]
    args.targets = [t for t in (args.targets or ("smshook,noop" if args.quick else ",".join(TARGETS))).split(",") if t]
    for w in args.workloads:
        if w not in WORKLOADS:
            p.error(f"unknown workload {w!r} (known: {', '.join(WORKLOADS)})")
    for t in args.targets:
        if t not in TARGETS:
            p.error(f"unknown target {t!r} (known: {', '.join(TARGETS)})")
    args.duration = args.duration or (1 if args.quick else 10)
    args.grace = args.grace if args.grace is not None else (2 if args.quick else 3)
    args.simulate = args.simulate if args.simulate is not None else (30 if args.quick else 300)
    args.fwd_seconds = args.fwd_seconds or (2 if args.quick else 10)
    args.burst = args.burst if args.burst is not None else (2 if args.quick else 20)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ensure_python(args.targets)
    try:
        wrk = ensure_wrk()
    except RuntimeError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 3
    if args.profile and not Path(py_spy()).exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "py-spy"], check=True)
    started = dt.datetime.now(dt.UTC)
    out = args.out or (Path(tempfile.mkdtemp(prefix="smshook-bench-")) if args.quick else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    stem = started.strftime("%Y-%m-%d") + ("-quick" if args.quick else "")
    meta = {"started": started.strftime("%Y-%m-%d %H:%M UTC"),
            "command": " ".join(["python3 bench/run.py", *sys.argv[1:]]), "machine": machine(),
            "connections": args.connections, "threads": args.threads, "duration": args.duration, "grace": args.grace}
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="smshook-bench-") as tmp, \
            postgres_cluster("smshook-pg" in args.targets) as cluster:
        for workload in args.workloads:
            for target in [t for t in TARGETS if t in args.targets]:
                print(f"bench: {workload:<9} {target:<10} ", end="", flush=True)
                run = measure(wrk, workload, target, Path(tmp), args, out if args.profile else None, cluster)
                runs.append(run)
                print(f"{run.requests_per_s:>9,.0f} req/s {run.events_per_s:>10,.0f} events/s  p50 {run.p50_ms:6.2f} "
                      f"p99 {run.p99_ms:6.2f} p99.9 {run.p999_ms:6.2f} ms  RSS {fmt(run.peak_rss_mb, '.0f')} MB  "
                      f"{run.check}", flush=True)
        if args.simulate:
            print(f"bench: simulate  {args.simulate} callbacks per provider", flush=True)
            meta["realistic"] = realistic(Path(tmp), args.simulate)
        if args.forwarding:
            if str(BENCH) not in sys.path:
                sys.path.insert(0, str(BENCH))
            import forwarding  # bench/forwarding.py, beside this file

            meta["forwarding"] = forwarding.run(sys.modules[__name__], wrk, Path(tmp), args)
            meta["forwarding_targets"] = forwarding.assess(meta["forwarding"])
    targets = assess(runs)
    report = markdown(meta, runs, targets)
    if args.forwarding:
        report += "\n" + forwarding.markdown(meta["forwarding"])
    (out / f"{stem}.md").write_text(report)
    (out / f"{stem}.json").write_text(json.dumps({**meta, "runs": [asdict(r) for r in runs], "targets": targets},
                                                 indent=2) + "\n")
    print()
    print(report)
    print(f"bench: wrote {out / (stem + '.md')} and {out / (stem + '.json')}")
    simulated = all(r["check"] == "ok" for r in meta.get("realistic", []))
    # The typical receiver's own failures (SQLite "database is locked" under load) are a finding, not ours.
    return 0 if all(r.passed for r in runs if r.target.startswith("smshook")) and simulated else 1


if __name__ == "__main__":
    raise SystemExit(main())
