"""Where the time goes: bucket a py-spy profile of `smshook serve` into the parts of the request path.

    py-spy record --format raw -r 200 --threads --gil  -d 5 -p PID -o gil.raw    # who holds the GIL
    py-spy record --format raw -r 200 --threads --idle -d 5 -p PID -o wall.raw   # wall time, per thread
    python3 bench/profile_shares.py gil.raw
    python3 bench/profile_shares.py --per-thread wall.raw

Each sample goes to the first bucket that a frame matches, from the innermost frame outwards (so a
form parser called by the hook counts as adapter parsing, not as hook glue). Standard library only.
"""

from __future__ import annotations

import argparse
import collections
import re
from pathlib import Path

SQLITE = Path(__file__).resolve().parent.parent / "src" / "smshook" / "storage" / "sqlite" / "__init__.py"

# (bucket, pattern on one frame "function (file:line)"), first match from the innermost frame out.
MAIN = [
    ("HTTP answer (uvicorn send: headers, socket writes)", r"RequestResponseCycle\.send "),
    ("adapter parsing (providers/)", r"/providers/"),
    ("event ids + idempotency keys (events.finalize)", r"\b(finalize|uuid7|idempotency_key) "),
    ("store submit (append, futures)", r"smshook/storage/"),
    ("metrics", r"smshook/metrics\.py"),
    ("hook glue (routing, body, raw record, answer)", r"smshook/web/hooks\.py|smshook/app\.py"),
    ("HTTP parsing + protocol (uvicorn, httptools)", r"uvicorn/protocols|httptools"),
    ("event loop (uvloop, asyncio)", r"asyncio/runners\.py|uvicorn/server\.py|uvicorn/main\.py"),
]
WRITER = [
    ("INSERT/SELECT statements (bind + execute)", r"write_rows|_known_keys|prefetch|Batch\.flush|__missing__"),
    ("planning rows (Python: dedup, status rules, rows)", r"_store_events|plan_events|fan_out|event_row|advance|plan "),
    ("waking the waiting requests", r"_settle|_resolve"),
    ("checkpoint (WAL restart)", r"wal_checkpoint"),
]


def transaction_lines() -> dict[int, str]:
    """Lines of SQLiteStore._transaction/_writer that run one statement, by what they run."""
    out: dict[int, str] = {}
    for number, line in enumerate(SQLITE.read_text().splitlines(), 1):
        if 'execute("COMMIT")' in line:
            out[number] = "COMMIT (WAL append + fsync)"
        elif "BEGIN IMMEDIATE" in line or "user_version" in line:
            out[number] = "BEGIN + subscription version check"
        elif "SAVEPOINT" in line or "RELEASE" in line or "ROLLBACK" in line:
            out[number] = "savepoints"
        elif "wal_checkpoint" in line:
            out[number] = "checkpoint (WAL restart)"
    return out


def bucket(frames: list[str], lines: dict[int, str]) -> str:
    thread = frames[0]
    if "checkpoint" in thread:
        return "checkpointer: " + thread.split(":")[-1].strip()
    if "sqlite-writer" in thread:
        for frame in reversed(frames):
            for name, pattern in WRITER:
                if re.search(pattern, frame):
                    return f"writer: {name}"
            found = re.search(r"^(_transaction|SQLiteStore\._transaction|SQLiteStore\._writer) .*:(\d+)\)$", frame)
            if found and int(found.group(2)) in lines:
                return f"writer: {lines[int(found.group(2))]}"
            if "_writer " in frame:
                return "writer: waiting for jobs (queue)"
        return "writer: other"
    for frame in reversed(frames):
        for name, pattern in MAIN:
            if re.search(pattern, frame):
                return f"event loop thread: {name}"
    return f"other thread: {thread}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", type=Path, help="py-spy --format raw output")
    parser.add_argument("--per-thread", action="store_true", help="shares within each thread (for --idle)")
    args = parser.parse_args()
    lines = transaction_lines()
    counts: collections.Counter[str] = collections.Counter()
    for raw in args.profile.read_text().splitlines():
        stack, _, n = raw.rpartition(" ")
        frames = stack.split(";")
        if "ThreadPool" in frames[0] or "uvloop_" in frames[0]:
            continue  # idle helper threads (the read pool, uvloop's resolver)
        counts[bucket(frames, lines)] += int(n)
    groups: dict[str, int] = collections.Counter()
    for name, n in counts.items():
        groups[name.split(":")[0]] += n
    total = sum(counts.values())
    for name, n in sorted(counts.items(), key=lambda kv: (kv[0].split(":")[0], -kv[1])):
        base = groups[name.split(":")[0]] if args.per_thread else total
        print(f"{n / base:6.1%}  {name}")
    print(f"{total} samples")


if __name__ == "__main__":
    main()
