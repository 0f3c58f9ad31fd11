"""Forwarding beside ingestion (issue 18), run by ``bench/run.py`` after the ingestion runs.

Every step starts a fresh ``smshook serve`` (SQLite, the defaults) with one subscription for every
event, pointing at [`receiver.py`](receiver.py) (the no-op ceiling that also counts and timestamps
what it gets) or at a throwaway ``redis-server``:

* **drain**: ``wrk`` sends BulkGate arrays for ``--duration`` s (at most 3) with the dispatcher off
  (``forwarding = false``): the ingest rate, with the outbox rows written. Then the same database is
  served again with the dispatcher on, and the backlog is timed from the server being ready until
  the receiver has every webhook (one event each): webhooks/s, and its ratio to the ingest rate.
* **redis**: the same with a Redis Streams subscription (one XADD per event, pipelined per claim),
  timed until ``XLEN`` reaches the events stored.
* **latency**: csoft receipts (one event each) sent at a steady ``--fwd-rate`` per second (1,000) for
  ``--fwd-seconds`` by an aiohttp client in this process, the dispatcher on: the receiver's
  callback → webhook latency (arrival minus the event's ``received_at``) percentiles.
* **burst**: ``wrk`` sends csoft receipts as fast as smshook takes them for ``--burst`` s with the
  dispatcher on; then the receiver is watched until it has every event acknowledged:
  seconds from the burst's start to drained, as a multiple of the burst (wanted: ≤ 2). The wait is
  bounded (4x the burst + 30 s); what is left then is reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
DRAIN_INGEST_S = 3  # seconds of BulkGate ingest for the drain steps (~50k events: a bounded drain)
WANT_DRAIN_RATIO = 0.6
WANT_P50_MS, WANT_P99_MS = 50.0, 250.0
WANT_BURST_FACTOR = 2.0


@contextlib.contextmanager
def receiver(bench: ModuleType) -> Iterator[str]:
    port = bench.free_port()
    proc = subprocess.Popen([sys.executable, str(BENCH / "receiver.py"), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while bench.http_status("127.0.0.1", port, "/stats") != 200:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the benchmark's webhook receiver did not start")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def redis_server(bench: ModuleType, workdir: Path) -> Iterator[str | None]:
    """A throwaway redis-server (tests/redisserver.py), or None when it is not installed."""
    if str(bench.ROOT) not in sys.path:
        sys.path.insert(0, str(bench.ROOT))
    from tests.redisserver import redis_server as start

    with start(bench.free_port(), workdir) as url:
        yield url


def stats(url: str, latency: bool = False) -> dict[str, Any]:
    return dict(httpx.get(f"{url}/stats" + ("?latency=1" if latency else ""), timeout=10).json())


def config(path: Path, forwarding: bool, *, url: str | None = None, redis_url: str | None = None) -> Path:
    target = f'url = "{url}/hook"' if url else f'redis_url = "{redis_url}"\nstream = "bench"'
    # the receiver is on loopback: allowed explicitly, as a user with a receiver on the same host must
    path.write_text(f"forwarding = {'true' if forwarding else 'false'}\nforwarding_allow_private_targets = true\n"
                    f"\n[subscriptions.bench]\n{target}\n"
                    f'secret = "{SECRET}"\n')
    return path


def serve(bench: ModuleType, workdir: Path, cfg: Path, args: Any) -> Any:
    """``smshook serve`` with ``cfg`` (and ``--serve-args``, e.g. ``--workers 2``: a dispatcher each)."""
    return bench.Server("smshook", workdir, serve_args=("--config", str(cfg), *args.serve_args.split()))


def count_events(database: Path) -> int:
    import sqlite3

    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        return int(db.execute("SELECT count(*) FROM events").fetchone()[0])


def ingest_then_drain(bench: ModuleType, wrk: str, workdir: Path, args: Any, *, url: str | None = None,
                      redis_url: str | None = None) -> dict[str, Any]:
    """Ingest with the dispatcher off, then time the dispatcher alone draining that backlog."""
    kind = "redis" if redis_url else "webhook"
    rundir = workdir / f"forwarding-drain-{kind}"
    rundir.mkdir(parents=True)
    server = serve(bench, rundir, config(rundir / "off.toml", False, url=url, redis_url=redis_url), args)
    with bench.running(server):
        data, _ = bench.wrk_run(wrk, "bulkgate", server.port, min(args.duration, DRAIN_INGEST_S), args.grace,
                                args.connections, args.threads, args.timeout)
    events = count_events(server.database)
    ingest_seconds = float(data["phase_seconds"])
    out: dict[str, Any] = {"sink": kind, "events": events, "ingest_events_per_s": events / ingest_seconds}
    server.serve_args = ("--config", str(config(rundir / "on.toml", True, url=url, redis_url=redis_url)),
                         *args.serve_args.split())
    if url:
        httpx.post(f"{url}/reset", timeout=10)
    bound = max(60.0, 10.0 * args.duration)
    with bench.running(server):
        started = time.time()
        done = 0
        while time.time() - started < bound:
            done = delivered(url, redis_url)
            if done >= events:
                break
            time.sleep(0.05)
        finished = (stats(url)["last"] or time.time()) if url else time.time()
        cpu = server.cpu_seconds()
    seconds = finished - started
    out.update(delivered=done, drain_seconds=seconds, drain_per_s=done / seconds if seconds > 0 else None,
               drained=done >= events, server_cpu_s=cpu)
    out["ratio"] = out["drain_per_s"] / out["ingest_events_per_s"] if out["drain_per_s"] else None
    return out


def delivered(url: str | None, redis_url: str | None) -> int:
    if url:
        return int(stats(url)["events"])
    import redis

    client = redis.Redis.from_url(redis_url or "")
    try:
        return int(client.xlen("bench"))
    finally:
        client.close()


async def steady(port: int, rate: int, seconds: float) -> int:
    """csoft receipts at ``rate`` per second for ``seconds`` (each one at its own time); returns how many
    were acknowledged."""
    import aiohttp

    total = int(rate * seconds)
    ok = 0
    url = f"http://127.0.0.1:{port}/hooks/csoft"
    headers = {"content-type": "application/x-www-form-urlencoded"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        start = time.monotonic() + 0.1

        async def one(i: int) -> None:
            nonlocal ok
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            body = (f"Username=bench&PIN=NULL&SendTo=447700912345&Timestamp1=2024%2D05%2D01T12%3A00%3A00Z"
                    f"&MessageIdentifier=S{i}&Report=0")
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                ok += response.status == 200

        await asyncio.gather(*(one(i) for i in range(total)))
    return ok


def latency(bench: ModuleType, workdir: Path, url: str, args: Any) -> dict[str, Any]:
    rundir = workdir / "forwarding-latency"
    rundir.mkdir(parents=True)
    server = serve(bench, rundir, config(rundir / "on.toml", True, url=url), args)
    httpx.post(f"{url}/reset", timeout=10)
    with bench.running(server):
        started = time.monotonic()
        sent = asyncio.run(steady(server.port, args.fwd_rate, args.fwd_seconds))
        elapsed = time.monotonic() - started
        deadline = time.monotonic() + 30
        while stats(url)["events"] < sent and time.monotonic() < deadline:
            time.sleep(0.05)
        got = stats(url, latency=True)
    return {"rate": args.fwd_rate, "seconds": args.fwd_seconds, "sent": sent, "sent_per_s": sent / elapsed,
            "delivered": got["events"], **{f"{k}_ms": v for k, v in got["latency_ms"].items()}}


def burst(bench: ModuleType, wrk: str, workdir: Path, url: str, args: Any) -> dict[str, Any]:
    rundir = workdir / "forwarding-burst"
    rundir.mkdir(parents=True)
    server = serve(bench, rundir, config(rundir / "on.toml", True, url=url), args)
    httpx.post(f"{url}/reset", timeout=10)
    bound = 4 * args.burst + 30
    with bench.running(server):
        started = time.time()
        data, _ = bench.wrk_run(wrk, "csoft", server.port, args.burst, args.grace, args.connections, args.threads,
                                args.timeout)
        ended = time.time()
        ingested = int(data["ok"])
        # Drained: the receiver has every event (polling the subscription's stats instead would count
        # every delivery in the server each time, slowing down what is measured).
        while stats(url)["events"] < ingested and time.time() - started < bound:
            time.sleep(0.05)
        got = stats(url)
        drained = got["last"] or time.time()
        api = f"http://127.0.0.1:{server.port}/v1/subscriptions/bench"
        sub = httpx.get(api, timeout=30).json()
        backlog = int(sub["stats"]["backlog"]) + int(sub["stats"]["in_flight"])
    phase = float(data["phase_seconds"])
    total = drained - started
    return {"workload": "csoft", "burst_s": phase, "ingested": ingested, "ingest_per_s": ingested / phase,
            "delivered": got["events"], "backlog_left": backlog, "drained": backlog == 0,
            "after_burst_s": drained - ended, "total_s": total, "factor": total / phase if phase else None}


def run(bench: ModuleType, wrk: str, workdir: Path, args: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with receiver(bench) as url:
        print("bench: forwarding drain (webhooks) ", end="", flush=True)
        out["drain"] = ingest_then_drain(bench, wrk, workdir, args, url=url)
        d = out["drain"]
        print(f"{d['ingest_events_per_s']:,.0f} events/s in, {fmt(d['drain_per_s'], ',.0f')} webhooks/s out "
              f"(ratio {fmt(d['ratio'], '.2f')})", flush=True)
        print("bench: forwarding latency ", end="", flush=True)
        out["latency"] = lat = latency(bench, workdir, url, args)
        print(f"{lat['sent_per_s']:,.0f} events/s: p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms", flush=True)
        if args.burst:
            print("bench: forwarding burst ", end="", flush=True)
            out["burst"] = b = burst(bench, wrk, workdir, url, args)
            print(f"{b['ingested']:,} events in {b['burst_s']:.1f} s, drained after {b['total_s']:.1f} s "
                  f"({fmt(b['factor'], '.2f')}x)", flush=True)
    with redis_server(bench, workdir) as redis_url:
        if redis_url is None:
            out["redis"] = {"skipped": "redis-server is not installed (Debian package redis-server)"}
        else:
            print("bench: forwarding drain (redis) ", end="", flush=True)
            out["redis"] = r = ingest_then_drain(bench, wrk, workdir, args, redis_url=redis_url)
            print(f"{r['ingest_events_per_s']:,.0f} events/s in, {fmt(r['drain_per_s'], ',.0f')} entries/s out",
                  flush=True)
    return out


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def assess(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    d, lat, r, b = result.get("drain"), result.get("latency"), result.get("redis"), result.get("burst")
    if d:
        rows.append({"target": f"webhooks/s drained ÷ events/s ingested (≥ {WANT_DRAIN_RATIO})",
                     "measured": fmt(d.get("ratio"), ".2f"),
                     "met": d.get("ratio") is not None and d["ratio"] >= WANT_DRAIN_RATIO})
    if lat:
        ok = lat["p50_ms"] is not None and lat["p50_ms"] <= WANT_P50_MS and lat["p99_ms"] <= WANT_P99_MS
        rows.append({"target": f"callback → webhook p50 / p99 at {lat['rate']:,}/s (≤ {WANT_P50_MS:.0f} / "
                               f"{WANT_P99_MS:.0f} ms)",
                     "measured": f"{lat['p50_ms']} / {lat['p99_ms']} ms", "met": bool(ok)})
    if r and "skipped" not in r:
        rows.append({"target": "Redis Streams sink events/s ≥ ingest events/s",
                     "measured": f"{fmt(r['drain_per_s'], ',.0f')} vs {r['ingest_events_per_s']:,.0f}",
                     "met": r["drain_per_s"] is not None and r["drain_per_s"] >= r["ingest_events_per_s"]})
    if b:
        rows.append({"target": f"backlog after a {b['burst_s']:.0f} s burst drained within {WANT_BURST_FACTOR:.0f}x "
                               "the burst",
                     "measured": f"{fmt(b['factor'], '.2f')}x" + ("" if b["drained"] else
                                                                  f" (not drained: {b['backlog_left']} left)"),
                     "met": bool(b["drained"] and b["factor"] is not None and b["factor"] <= WANT_BURST_FACTOR)})
    return rows


def markdown(result: dict[str, Any]) -> str:
    lines = ["## Forwarding", "",
             "One subscription for every event, single-event webhooks, SQLite, the dispatcher's defaults; "
             "see `bench/forwarding.py` for each step.", "",
             "| step | in | out | |", "|---|--:|--:|---|"]
    d = result.get("drain")
    if d:
        lines.append(f"| drain, webhooks (BulkGate ingested with the dispatcher off, then drained) | "
                     f"{d['ingest_events_per_s']:,.0f} events/s ({d['events']:,}) | {fmt(d['drain_per_s'], ',.0f')} "
                     f"webhooks/s in {d['drain_seconds']:.1f} s | ratio {fmt(d['ratio'], '.2f')}, server CPU "
                     f"{d['server_cpu_s']:.1f} s |")
    r = result.get("redis")
    if r and "skipped" not in r:
        lines.append(f"| drain, Redis Streams | {r['ingest_events_per_s']:,.0f} events/s ({r['events']:,}) | "
                     f"{fmt(r['drain_per_s'], ',.0f')} entries/s in {r['drain_seconds']:.1f} s | ratio "
                     f"{fmt(r['ratio'], '.2f')} |")
    elif r:
        lines.append(f"| drain, Redis Streams | | | skipped: {r['skipped']} |")
    lat = result.get("latency")
    if lat:
        lines.append(f"| steady csoft, dispatcher on | {lat['sent_per_s']:,.0f} events/s for {lat['seconds']} s | "
                     f"{lat['delivered']:,} webhooks | callback → webhook p50 {lat['p50_ms']} ms, p90 "
                     f"{lat['p90_ms']} ms, p99 {lat['p99_ms']} ms, max {lat['max_ms']} ms |")
    b = result.get("burst")
    if b:
        lines.append(f"| burst, csoft at the ceiling, dispatcher on | {b['ingest_per_s']:,.0f} events/s for "
                     f"{b['burst_s']:.1f} s ({b['ingested']:,}) | {b['delivered']:,} webhooks | drained "
                     f"{b['after_burst_s']:.1f} s after the burst ({fmt(b['factor'], '.2f')}x the burst)"
                     + ("" if b["drained"] else f", NOT drained: {b['backlog_left']} left") + " |")
    lines += ["", "| forwarding target | measured | met |", "|---|---|---|"]
    lines += [f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else 'no'} |" for t in assess(result)]
    return "\n".join(lines) + "\n"
