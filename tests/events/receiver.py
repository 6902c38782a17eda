"""A webhook receiver on loopback for the tests: in a thread of the test process, or as a
process of its own (``python -m tests.events.receiver``), verifying every request with the
``standardwebhooks`` library as a real receiver would.

As a process it writes one JSON line per request to ``--log`` and its port to ``--port-file``;
``--stall-first`` makes it hold the first request that long before answering (time for a
drill to kill the worker sending it)."""

from __future__ import annotations

import argparse
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


@dataclass
class Received:
    """One request as the receiver saw it."""

    headers: dict[str, str]
    body: bytes
    verified_with: list[str]  # the secrets whose verification accepted it

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    def json(self) -> Any:
        return json.loads(self.body)


def verified_with(secrets: list[str], body: bytes, headers: dict[str, str]) -> list[str]:
    ok = []
    for secret in secrets:
        try:
            Webhook(secret).verify(body, headers)
        except WebhookVerificationError:
            continue
        ok.append(secret)
    return ok


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 answering each POST with the next of ``answers`` (then
    ``default``), recording what it got; ``stop`` and ``start`` take it down and up on the
    same port."""

    secrets: list[str] = field(default_factory=list)
    answers: list[tuple[int, bytes, dict[str, str]]] = field(default_factory=list)
    default: tuple[int, bytes, dict[str, str]] = (200, b"ok", {})
    stall_first: float = 0.0
    port: int = 0
    received: list[Received] = field(default_factory=list)
    on_request: Any = None

    def __post_init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {key.lower(): value for key, value in self.headers.items()}
                got = Received(headers, body, verified_with(receiver.secrets, body, headers))
                with receiver._lock:
                    first = not receiver.received
                    receiver.received.append(got)
                    status, text, extra = (
                        receiver.answers.pop(0) if receiver.answers else receiver.default
                    )
                if receiver.on_request is not None:
                    receiver.on_request(got)
                if first and receiver.stall_first:
                    time.sleep(receiver.stall_first)
                self.send_response(status)
                for key, value in extra.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        return Handler

    def start(self) -> Receiver:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--secret", action="append", default=[])
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--stall-first", type=float, default=0.0)
    args = parser.parse_args()
    log = Path(args.log)

    def write(got: Received) -> None:
        line = {"id": got.id, "verified": bool(got.verified_with), "body": got.json()}
        with log.open("a") as out:
            out.write(json.dumps(line) + "\n")

    receiver = Receiver(secrets=args.secret, stall_first=args.stall_first, on_request=write)
    receiver.start()
    Path(args.port_file).write_text(str(receiver.port))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
