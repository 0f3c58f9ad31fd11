"""A webhook receiver run as a separate process by the forwarding tests.

    python receiver.py PORT LOGFILE

Every request is appended to LOGFILE as one JSON line {path, headers, body, answered}. The path
says how to answer:
  /ok                 200
  /fail/N             500 for the first N requests of each webhook-id, then 200
  /slow/SECONDS/N     sleep SECONDS for the first N requests of each webhook-id, then 200
  /gone               410
  /busy/SECONDS/N     429 with Retry-After: SECONDS for the first N requests of each webhook-id, then 200
  /hold/SECONDS       sleep SECONDS, then 200 (used to kill the dispatcher mid-flight)
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

seen: Counter[tuple[str, str]] = Counter()
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        arrived = time.time()
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        if len(body) < length:  # the sender died mid-request (the kill test): nothing was received
            return
        msg_id = self.headers.get("webhook-id", "")
        parts = self.path.strip("/").split("/")
        with lock:
            seen[(self.path, msg_id)] += 1
            count = seen[(self.path, msg_id)]
        status, headers = 200, {}
        kind = parts[0]
        if kind == "fail" and count <= int(parts[1]):
            status = 500
        elif (kind == "slow" and count <= int(parts[2])) or kind == "hold":
            time.sleep(float(parts[1]))
        elif kind == "gone":
            status = 410
        elif kind == "busy" and count <= int(parts[2]):
            status, headers = 429, {"Retry-After": parts[1]}
        record = {"path": self.path, "headers": dict(self.headers.items()), "body": body.decode(),
                  "status": status, "at": arrived}
        try:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        except OSError:
            record["status"] = None  # the client went away (timed out)
        with lock, open(LOG, "a") as out:
            out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    port, LOG = int(sys.argv[1]), sys.argv[2]
    ThreadingHTTPServer.request_queue_size = 128  # many dispatchers connecting at once (serve --workers)
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()
