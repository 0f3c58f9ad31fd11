"""The no-op ceiling: a raw ASGI app on uvicorn (uvloop, httptools) that reads the whole body and
answers 200 ``OK``, nothing else. Whatever smshook does beyond this costs requests per second.

    python bench/noop.py --port 8081
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

Message = MutableMapping[str, Any]
HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"2")]


async def app(scope: Message, receive: Callable[[], Awaitable[Message]],
              send: Callable[[Message], Awaitable[None]]) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": b"OK"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, loop="uvloop", http="httptools", lifespan="off",
                access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
