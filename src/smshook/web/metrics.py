"""``GET /metrics``: the Prometheus exposition, plain ASGI.

Who may read it: with ``metrics_public`` anyone; otherwise, when ``metrics_token`` or ``api_token``
is set, a request with ``Authorization: Bearer <either one>`` (Prometheus: ``authorization:
{credentials: …}`` in the scrape config); with neither set it is open, like the API.
"""

from __future__ import annotations

import hmac

import orjson

from smshook.metrics import CONTENT_TYPE, Metrics
from smshook.settings import Settings
from smshook.storage.base import Store
from smshook.web.hooks import Message, Receive, Scope, Send

PATH = "/metrics"


def metrics_tokens(settings: Settings) -> tuple[str, ...]:
    """The bearer tokens that open ``/metrics``; empty: no token needed."""
    if settings.metrics_public:
        return ()
    return tuple(t.get_secret_value() for t in (settings.metrics_token, settings.api_token) if t is not None)


class MetricsEndpoint:
    def __init__(self, metrics: Metrics, store: Store | None, tokens: tuple[str, ...] = ()) -> None:
        self.metrics = metrics
        self.store = store
        self.tokens = tuple(t.encode() for t in tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await _send(send, 405, _error(f"{PATH} only answers GET, not {scope['method']}"),
                        [(b"allow", b"GET, HEAD")])
        elif self.tokens and not self._authorized(scope):
            await _send(send, 401, _error(f"missing or wrong token: send 'Authorization: Bearer <token>' "
                                          f"(metrics_token or api_token) to read {PATH}"),
                        [(b"www-authenticate", b"Bearer")])
        else:
            body = await self.metrics.render(self.store)
            head = [(b"content-type", CONTENT_TYPE.encode())]
            await _send(send, 200, body if scope["method"] == "GET" else b"", head, length=len(body))

    def _authorized(self, scope: Scope) -> bool:
        for key, value in scope["headers"]:
            if key == b"authorization":
                scheme, _, given = value.partition(b" ")
                given = given.strip()
                ok = False
                for token in self.tokens:  # compare with every token: no early exit tells which one
                    ok |= hmac.compare_digest(given, token)
                return scheme.lower() == b"bearer" and ok
        return False


def _error(message: str) -> bytes:
    return orjson.dumps({"error": message})


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]],
                length: int | None = None) -> None:
    if not any(k == b"content-type" for k, _ in headers):
        headers.append((b"content-type", b"application/json"))
    headers.append((b"content-length", str(len(body) if length is None else length).encode()))
    start: Message = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body})
