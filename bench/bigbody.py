"""The per-request CPU guard, measured: every registered adapter on a valid ~1 MiB body.

    .venv/bin/python bench/bigbody.py            # every adapter: parse time inline, loop stall via the app
    .venv/bin/python bench/bigbody.py --size 262144 --repeat 5

For each adapter a valid body of about ``--size`` bytes is built from its test vectors
(``tests/providers/vectors/<slug>/``): a batch format (a JSON array, a JSON object holding an array
of items, an XML document of repeated elements) repeats its items; any other format gets a single
request whose text field (``Text``, ``Body``, ``message``...) is padded. Reported per adapter:

* ``parse_ms``: :func:`smshook.web.hooks.verify_and_parse` run inline (what one request would hold
  the event loop for without the guard), best of ``--repeat``;
* ``request_ms`` and ``stall_ms``: the body sent through the whole app (real SQLite store) while a
  ticker coroutine wakes every millisecond; the stall is the longest gap between two ticks minus
  the tick, i.e. the longest time the event loop could serve no one else (worst of ``--repeat``).

The same builder drives ``tests/web/test_cpu_guard.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from tests.fuzz.harness import VECTORS, fuzz_settings  # noqa: E402

from smshook.app import SmshookApp  # noqa: E402
from smshook.providers.base import RawRequest  # noqa: E402
from smshook.settings import Settings  # noqa: E402
from smshook.storage.sqlite import SQLiteStore  # noqa: E402
from smshook.web.hooks import Connection, connections_from, verify_and_parse  # noqa: E402

SIZE = 1 << 20
SNS_MAX = 256 * 1024 - 2048  # AWS SNS publishes at most 256 KiB (the envelope fits in the rest)
TEXT_FIELDS = ("text", "body", "message", "messagebody", "content", "parm", "keyword")  # padded, in this order
TICK = 0.001


@dataclass(frozen=True)
class Big:
    slug: str
    vector: str
    how: str  # "batch" or "padded <field>"
    headers: tuple[tuple[str, str], ...]
    body: bytes
    query: bytes = b""


def _grow_json(value: Any, size: int) -> tuple[Any, str] | None:
    """A JSON batch repeated to about ``size`` bytes: a list of items, or an object's list of items."""
    def repeat(items: list[Any]) -> list[Any]:
        one = max(1, len(json.dumps(items)) // max(1, len(items)))
        return (items * (size // (one * len(items)) + 1))[: max(1, size // one)]

    if isinstance(value, list) and value and all(isinstance(i, dict) for i in value):
        return repeat(value), "batch"
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, list) and item and all(isinstance(i, dict) for i in item):
                return {**value, key: repeat(item)}, f"batch of {key}"
    return None


def _pad_json(value: Any, size: int) -> str | None:
    """Pad the first text field found (depth first), in place; its name, or None."""
    if isinstance(value, dict):
        for name in TEXT_FIELDS:
            for key in value:
                if key.lower() == name and isinstance(value[key], str):
                    value[key] += "x" * size
                    return str(key)
        for item in value.values():
            found = _pad_json(item, size)
            if found:
                return found
    if isinstance(value, list):
        for item in value:
            found = _pad_json(item, size)
            if found:
                return found
    return None


def grow(body: bytes, content_type: str, size: int) -> tuple[bytes, str] | None:
    """``body`` made about ``size`` bytes in its own format, and how; None when it cannot be."""
    text = body.decode("utf-8-sig", errors="strict").strip()
    if text.startswith(("[", "{")):
        try:
            value = json.loads(text)
        except ValueError:
            return None
        grown = _grow_json(value, size)
        if grown is not None:
            batch, how = grown
            items = batch if isinstance(batch, list) else batch[how.removeprefix("batch of ")]
            out = json.dumps(batch, ensure_ascii=False).encode()
            while len(out) > size and len(items) > 1:  # the estimate overshot: drop items until it fits
                keep = max(1, len(items) * size // len(out)) if len(out) > size * 1.01 else len(items) - 1
                del items[keep:]
                out = json.dumps(batch, ensure_ascii=False).encode()
            return out, how
        field = _pad_json(value, size - len(body))
        return (json.dumps(value, ensure_ascii=False).encode(), f"padded {field}") if field else None
    if text.startswith("<"):
        try:
            root = ET.fromstring(text)
        except ET.ParseError:
            return None
        children = list(root)
        if children and len({c.tag for c in children}) == 1:
            each = max(1, len(ET.tostring(root)) // len(children))
            for _ in range(size // each - len(children)):
                root.append(children[len(root) % len(children)])
            return ET.tostring(root, encoding="utf-8"), "batch"
        return None
    if "json" in content_type or "xml" in content_type:
        return None
    if content_type.startswith("text/plain"):  # the message text is the body (Kannel's post-url)
        return body + b"x" * max(0, size - len(body)), "padded body"
    fields = parse_qsl(text, keep_blank_values=True)
    for name in TEXT_FIELDS:
        for i, (key, value) in enumerate(fields):
            if key.lower() == name:
                fields[i] = (key, value + "x" * (size - len(body)))
                return urlencode(fields).encode(), f"padded {key}"
    return None


def _raw(headers: tuple[tuple[str, str], ...], body: bytes, slug: str, query: bytes = b"") -> RawRequest:
    now = datetime.now(UTC)
    url = f"http://t/hooks/{slug}" + (f"?{query.decode()}" if query else "")
    return RawRequest("POST", f"/hooks/{slug}", query, headers, body, "127.0.0.1", url, now)


def _sns(body: bytes, size: int) -> tuple[bytes, str] | None:
    """An SNS notification whose Message is padded, signed again with the tests' key (every SNS
    message is signed; AWS's own limit is 256 KiB, so ``size`` is capped there)."""
    from tests.providers.sns_signing import sign

    envelope = json.loads(body)
    message = envelope.get("Message")
    if envelope.get("Type") != "Notification" or not isinstance(message, str):
        return None
    try:
        inner = json.loads(message)
    except ValueError:
        return None
    field = _pad_json(inner, min(size, SNS_MAX) - len(body))
    if field is None:
        return None
    unsigned = {k: v for k, v in envelope.items() if k not in ("Signature", "SignatureVersion", "SigningCertURL")}
    signed = sign({**unsigned, "Message": json.dumps(inner)}, envelope.get("SignatureVersion", "1"),
                  envelope["SigningCertURL"])
    return json.dumps(signed).encode(), f"padded Message.{field} (SNS's limit: 256 KiB)"


def big_request(slug: str, connection: Connection, size: int = SIZE) -> Big:
    """A valid body of about ``size`` bytes for ``slug``, built from its vectors: a batch where one
    of them grows as one, else a padded single request. Checked: the adapter reads it."""
    padded: Big | None = None
    for path in sorted((VECTORS / slug).glob("*.json")):
        vector = json.loads(path.read_text("utf-8"))
        spec = vector["request"]
        if spec.get("method", "POST") != "POST" or vector.get("response", {}).get("status") not in (200, 201, 204):
            continue
        body = (json.dumps(spec["body_json"]) if "body_json" in spec else spec.get("body", "")).encode()
        headers = tuple((k.lower(), v) for k, v in spec.get("headers", {}).items()
                        if k.lower() not in ("content-length",))
        content_type = dict(headers).get("content-type", "")
        if not body or re.search(r"multipart", content_type):
            continue
        query = spec.get("query", "").encode()
        try:
            grown = _sns(body, size) if slug == "sns" else grow(body, content_type, size)
        except UnicodeDecodeError:
            continue
        if grown is None:
            continue
        big = Big(slug, path.stem, grown[1], headers, grown[0], query)
        try:
            events = verify_and_parse(connection, _raw(headers, big.body, slug, query), datetime.now(UTC))
        except Exception:
            continue
        if not events:
            continue
        if big.how.startswith("batch") and len(events) > 1:
            return big
        padded = padded or big
    if padded is None:
        raise LookupError(f"no vector of {slug!r} grows into a valid {size}-byte body")
    return padded


def big_requests(settings: Settings, size: int = SIZE) -> list[Big]:
    connections = connections_from(settings)
    return [big_request(name, connection, size) for name, connection in connections.items()]


def parse_seconds(connection: Connection, big: Big, repeat: int = 3) -> float:
    """The inline cost: best of ``repeat`` runs of verify + parse + stamping."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        verify_and_parse(connection, _raw(big.headers, big.body, big.slug, big.query), datetime.now(UTC))
        best = min(best, time.perf_counter() - started)
    return best


async def send_watched(client: httpx.AsyncClient, big: Big) -> tuple[httpx.Response, float, float]:
    """(answer, request seconds, the event loop's longest stall in seconds) for one big request."""
    stall = 0.0
    running = True

    async def ticker() -> None:
        nonlocal stall
        last = time.perf_counter()
        while running:
            await asyncio.sleep(TICK)
            now = time.perf_counter()
            stall = max(stall, now - last - TICK)
            last = now

    watch = asyncio.create_task(ticker())
    await asyncio.sleep(TICK * 3)  # the ticker is running
    started = time.perf_counter()
    path = f"/hooks/{big.slug}" + (f"?{big.query.decode()}" if big.query else "")
    answer = await client.post(path, content=big.body, headers=dict(big.headers))
    seconds = time.perf_counter() - started
    running = False
    await watch
    return answer, seconds, stall


async def measure(size: int, repeat: int) -> list[dict[str, Any]]:
    settings = fuzz_settings()
    connections = connections_from(settings)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        app = SmshookApp(settings, SQLiteStore(Path(folder) / "big.db"))
        await app.store.open()
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://bench",
                                         timeout=120) as client:
                for big in big_requests(settings, size):
                    parse = parse_seconds(connections[big.slug], big, repeat)
                    worst_stall, worst_request, status = 0.0, 0.0, 0
                    for _ in range(repeat):
                        answer, seconds, stall = await send_watched(client, big)
                        status = answer.status_code
                        worst_stall, worst_request = max(worst_stall, stall), max(worst_request, seconds)
                    rows.append({"adapter": big.slug, "body": big.how, "bytes": len(big.body), "status": status,
                                 "parse_ms": round(parse * 1000, 1), "request_ms": round(worst_request * 1000, 1),
                                 "stall_ms": round(worst_stall * 1000, 1)})
        finally:
            await app.store.close()
    return rows


def offline() -> None:
    """SNS bodies are signed with the tests' key: their certificate comes from the tests, never from
    AWS, and no subscription is ever confirmed (nothing leaves this machine)."""
    from tests.providers.sns_signing import certificate_source

    from smshook.providers import sns
    from smshook.providers.sns_confirm import CONFIRMER

    async def no_fetch(url: str) -> int:
        return 200

    sns.CERTIFICATES.source = certificate_source
    CONFIRMER.fetch = no_fetch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=SIZE, help="body size in bytes [1 MiB]")
    parser.add_argument("--repeat", type=int, default=3, help="runs per adapter [3]")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    offline()
    rows = asyncio.run(measure(args.size, args.repeat))
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print("| adapter | body | bytes | answer | parse inline (ms) | request (ms) | longest loop stall (ms) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['adapter']} | {r['body']} | {r['bytes']} | {r['status']} | {r['parse_ms']} | "
              f"{r['request_ms']} | {r['stall_ms']} |")


if __name__ == "__main__":
    main()
