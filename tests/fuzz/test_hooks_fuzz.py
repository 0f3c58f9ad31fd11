"""Every registered provider's hook, fuzzed through the real hook path (issue 11, "make it stay fixed").

For each adapter in :func:`smshook.providers.registry` (so adapters added later are covered without a
line here), Hypothesis sends mutated valid requests (from ``tests/providers/vectors/<slug>/``), random
bytes, invalid UTF-8, deep nesting, huge numbers and fields, odd content types and methods, and checks
after every request:

* the answer is 2xx or 4xx (the store is up: never 5xx), in the provider's own format (the content
  type its adapter answers with) once the request reached the adapter;
* no log record at ERROR and no traceback;
* raw requests stored = accepted + duplicates + quarantine entries, and quarantine attempts =
  quarantined answers: nothing accepted is lost, nothing is stored twice;
* at the end, the process grew by less than :data:`RSS_GROWTH` bytes.

Seeded and bounded (``tests/fuzz/conftest.py``); ``SMSHOOK_FUZZ=long`` hunts longer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smshook.errors import AuthError, InvalidRequest
from smshook.providers import registry
from smshook.providers.base import ConnectionInfo, Outcome, RawRequest
from tests.fuzz.conftest import PROFILE
from tests.fuzz.harness import Harness, Seed, seeds

SLUGS = sorted(registry())
MAX_BODY = 1 << 20
RSS_GROWTH = 256 << 20

HOSTILE = [
    "1e999999999", "-1e999999999", "1e-999999999", "9" * 5000, "123456789012345678901234567890", "0x1F", "NaN",
    "Infinity", "-0", "1_000", "\uff11", "\u0663", "\u0662\u0660\u0662\u0663", "\x00", "\r\n", "\x1b[31m", "%00",
    "%", "%zz", "%C0%AF", "%FF%FE", "0001-01-01 00:00:00", "9999-12-31 23:59:59", "0001-01-01T00:00:00Z",
    "00010101000000", "99991231235959", "0000000000", "", " ", "<", "&", "=", '"', "\\", "{", "[", "]", ",",
    "\u2028", "\ufeff", "a" * 70_000, "\U0001f600" * 1000,
]
RAW = [b"\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"\x80", b"\x00" * 16, b"\xef\xbb\xbf"]
CONTENT_TYPES = [None, "application/json", "application/xml", "text/xml; charset=bogus", "text/html",
                 "application/x-www-form-urlencoded; charset=utf-16", "multipart/form-data; boundary=x",
                 "text/plain; charset=\x7f", "a" * 2000, "*/*"]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "BREW"]
TOKEN = re.compile(rb"[A-Za-z0-9.:+_-]+")


def deep(kind: int, depth: int) -> bytes:
    return [b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth, b"<a>" * depth + b"</a>" * depth,
            b"[" * depth, b"<response>" + b"<state>" * depth][kind]


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with one to four edits: a token replaced by a hostile value, bytes inserted, a slice
    deleted or repeated, the end cut off."""
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.integers(0, 4))
        tokens = list(TOKEN.finditer(data))
        if op == 0 and tokens:
            token = draw(st.sampled_from(tokens))
            value = draw(st.one_of(st.sampled_from(HOSTILE).map(lambda s: s.encode()), st.sampled_from(RAW)))
            data = data[:token.start()] + value + data[token.end():]
        elif op == 1:
            at = draw(st.integers(0, len(data)))
            data = data[:at] + draw(st.binary(max_size=64)) + data[at:]
        elif op == 2 and data:
            start = draw(st.integers(0, len(data) - 1))
            data = data[:start] + data[start + draw(st.integers(1, 64)):]
        elif op == 3 and data:
            start = draw(st.integers(0, len(data) - 1))
            piece = data[start:start + draw(st.integers(1, 64))]
            data = data[:start] + piece * draw(st.integers(2, max(2, (64 << 10) // len(piece)))) + data[start:]
        elif data:
            data = data[:draw(st.integers(0, len(data)))]
    return data[:MAX_BODY]


@st.composite
def requests(draw: st.DrawFn, slug: str) -> tuple[str, bytes, dict[str, str], bytes]:
    """(method, query, headers, body) for a hook of ``slug``."""
    seed: Seed = draw(st.sampled_from(seeds(slug)))
    kind = draw(st.integers(0, 5))
    method, query, body = seed.method, seed.query, seed.body
    if kind <= 2:  # a valid request, mutated (the body, the query, or both)
        if body or not query:
            body = draw(mutated(body))
        if query and draw(st.booleans()):
            query = draw(mutated(query))
    elif kind == 3:  # random bytes, invalid UTF-8
        body = draw(st.one_of(st.binary(max_size=2048), st.sampled_from(RAW).map(lambda b: b * 1000)))
    elif kind == 4:  # deep nesting, huge numbers and fields
        body = draw(st.one_of(
            st.builds(deep, st.integers(0, 4), st.sampled_from([100, 1025, 50_000, 300_000])),
            st.sampled_from([b"[" + b"9" * 500_000 + b"]", b'[{"price":1e999999999,"status":"1"}]',
                             b"price=1e999999999&status=1&smsID=a", b"Report=" + b"9" * 100_000,
                             b'["' + b'\\"' * 400_000, b"[" + b'{"a":1,},' * 50_000 + b"]",
                             b"a=" + b"%" * 600_000, b"&" * 900_000])))
    else:  # odd methods, content types, query strings
        method = draw(st.sampled_from(METHODS))
        query = draw(st.one_of(st.just(query), st.binary(max_size=256).map(lambda b: b.replace(b"#", b""))))
    headers = {k: v for k, v in seed.headers if k != "content-length"}
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    if content_type is not None and draw(st.booleans()):
        headers["content-type"] = content_type
    return method, query, headers, body


def formats_of(slug: str, method: str, query: bytes, headers: dict[str, str], body: bytes) -> set[str]:
    """The content types the provider answers this request with, whatever happens to it."""
    provider = registry()[slug]
    request = RawRequest(method, f"/hooks/{slug}", query, tuple(headers.items()), body, "127.0.0.1")
    try:  # the answer may depend on what parse learned (Plivo answers an inbound message with XML)
        parsed = provider.parse(request, ConnectionInfo(slug, slug))
        context = getattr(parsed, "context", None)
    except Exception:
        context = None
    return {provider.acknowledge(request, Outcome([], stored=True)).content_type,
            provider.acknowledge(request, Outcome([], stored=True, context=context)).content_type,
            provider.acknowledge(request, Outcome([], stored=False)).content_type,
            provider.reject(request, InvalidRequest("x")).content_type,
            provider.reject(request, AuthError("x")).content_type}


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    h = Harness(tmp_path_factory.mktemp("fuzz"))
    before = rss()
    try:
        yield h
        assert rss() - before < RSS_GROWTH, f"RSS grew by {(rss() - before) >> 20} MiB"
    finally:
        h.close()


def check(harness: Harness, slug: str, method: str, query: bytes, headers: dict[str, str], body: bytes) -> None:
    r = harness.send(method, f"/hooks/{slug}", query, headers, body)
    assert 200 <= r.status_code < 500, (r.status_code, r.text[:300])
    assert harness.capture.problems == [], harness.capture.problems
    if r.status_code not in (404, 405, 413):  # refused by the router: the request never reached the adapter
        sent = {k.lower(): v for k, v in r.request.headers.items() if k.lower() not in ("host", "content-length")}
        assert r.headers["content-type"] in formats_of(slug, method, query, sent, body), (r.status_code, r.text[:300])
    raw, entries, attempts = harness.counts()
    outcomes = harness.capture.outcomes
    assert raw == outcomes["accepted"] + outcomes["duplicate"] + entries, (raw, entries, dict(outcomes))
    assert attempts == outcomes["quarantined"], (attempts, dict(outcomes))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("slug", SLUGS)
def test_hook_survives_hostile_requests(harness: Harness, slug: str) -> None:
    @settings(settings.get_profile(PROFILE))
    @given(requests(slug))
    def run(request: tuple[str, bytes, dict[str, str], bytes]) -> None:
        check(harness, slug, *request)

    run()


@pytest.mark.parametrize("slug", SLUGS)
def test_every_seed_still_gets_a_good_answer(harness: Harness, slug: str) -> None:
    """The unmutated vectors through the same path: the fuzzer's starting points are sound."""
    for seed in seeds(slug):
        check(harness, slug, seed.method, seed.query, dict(seed.headers), seed.body)
