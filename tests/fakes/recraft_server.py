"""A local fake of the Recraft API over real HTTP, on 127.0.0.1.

`POST /v1/images/generations` counts the call, waits `latency_s`, and answers with the URL
of an image served by the same server (`GET /images/<n>`). Tests steer it through the
attributes of `FakeRecraft` in process, or run it as a subprocess
(`python -m tests.fakes.recraft_server --port 0 --latency 0.5`, which prints its base URL)
and read its counts from `GET /_stats`.

Faults: `generation_script` and `download_script` hold `Answer`s, each used by one request
(in order) before the default behaviour resumes: any status, headers and body, a delay, a
pause in the middle of the body, a body delimited by closing the connection, a connection
dropped before the answer or mid-body, or raw bytes that are not HTTP at all.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.http import BackgroundServer, FakeHandler, QuietServer
from tests.fakes.images import png_bytes


@dataclass
class Answer:
    """One scripted answer. `body=None` means the route's usual body (the generation JSON,
    or the image); `content_type=None` its usual type."""

    status: int = 200
    content_type: str | None = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # before anything is sent
    pause_s: float = 0.0  # after the first half of the body
    no_length: bool = False  # no Content-Length: the body ends when the connection closes
    drop: bool = False  # close the connection without answering
    drop_mid_body: bool = False  # send the headers and half the body, then close
    raw: bytes | None = None  # send these bytes instead of an HTTP answer, then close


@dataclass
class RecordedCall:
    body: Any
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)  # when it arrived


@dataclass
class FakeRecraft:
    """Behaviour and counters of the fake; change them between or during tests."""

    latency_s: float = 0.0
    # Pause this long in the middle of each image body, so downloads are caught in flight.
    image_pause_s: float = 0.0
    image: bytes = field(default_factory=lambda: png_bytes(64, 64))
    # When set, the image of generation n (from 1) is `image_for(n)` instead of `image`.
    image_for: Callable[[int], bytes] | None = None
    image_content_type: str = "image/png"
    # When set, answer every generation with this (status, content type, body) instead.
    error: tuple[int, str, bytes] | None = None
    # When set, generation requests wait on it before answering (bounded by hold_timeout_s).
    hold: threading.Event | None = None
    hold_timeout_s: float = 30.0
    # Scripted answers, one per request, used before the behaviour above.
    generation_script: list[Answer] = field(default_factory=list)
    download_script: list[Answer] = field(default_factory=list)
    # The origin of the image URLs in generation answers (default: this server's).
    image_origin: str | None = None
    # Called with the call's number, in the server's thread, when a generation arrives.
    on_generation: Callable[[int], None] | None = None
    calls: list[RecordedCall] = field(default_factory=list)
    calls_by_prompt: Counter[str] = field(default_factory=Counter)
    downloads: int = 0
    download_hosts: list[str] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Condition = field(default_factory=threading.Condition)
    base_url: str = ""

    @property
    def call_count(self) -> int:
        with self.lock:
            return len(self.calls)

    def wait_for_calls(self, count: int, timeout: float = 30.0) -> bool:
        """Wait until at least `count` generation requests have arrived."""
        with self.lock:
            return self.lock.wait_for(lambda: len(self.calls) >= count, timeout=timeout)


class _Server(QuietServer):
    fake: FakeRecraft


class _Handler(FakeHandler):
    server: _Server

    def _scripted(self, answer: Answer, content_type: str, body: bytes) -> None:
        """Send one scripted answer (see `Answer`)."""
        if answer.delay_s:
            time.sleep(answer.delay_s)
        self.close_connection = True  # a scripted answer never shares its connection
        if answer.drop:
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if answer.raw is not None:
            self.wfile.write(answer.raw)
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        body = answer.body if answer.body is not None else body
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type or content_type)
        if not answer.no_length:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        half = len(body) // 2
        self.wfile.write(body[:half])
        self.wfile.flush()
        if answer.drop_mid_body:
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if answer.pause_s:
            time.sleep(answer.pause_s)
        self.wfile.write(body[half:])
        self.wfile.flush()

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        if self.path != "/v1/images/generations":
            self._send(404, "text/plain", b"not found")
            return
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        with fake.lock:
            fake.calls.append(RecordedCall(body, dict(self.headers.items())))
            prompt = body.get("prompt", "") if isinstance(body, dict) else ""
            fake.calls_by_prompt[prompt] += 1
            number = len(fake.calls)
            fake.in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
            fake.lock.notify_all()
            scripted = fake.generation_script.pop(0) if fake.generation_script else None
        if fake.on_generation is not None:
            fake.on_generation(number)
        if scripted is not None:
            with fake.lock:
                fake.in_flight -= 1
            self._scripted(scripted, "application/json", self._answer(number))
            return
        try:
            if fake.hold is not None:
                fake.hold.wait(fake.hold_timeout_s)
            if fake.latency_s:
                time.sleep(fake.latency_s)
        finally:
            with fake.lock:
                fake.in_flight -= 1
        if fake.error is not None:
            status, content_type, payload = fake.error
            self._send(status, content_type, payload)
            return
        self._send(200, "application/json", self._answer(number))

    def _answer(self, number: int) -> bytes:
        """Recraft's answer to generation `number`: `{created, credits, data: [...]}`."""
        fake = self.server.fake
        origin = fake.image_origin or fake.base_url
        answer = {
            "created": int(time.time()),
            "credits": 40,
            "data": [{"image_id": f"img-{number}", "url": f"{origin}/images/{number}"}],
        }
        return json.dumps(answer).encode()

    def do_GET(self) -> None:
        fake = self.server.fake
        if self.path.startswith("/images/"):
            with fake.lock:
                fake.downloads += 1
                fake.download_hosts.append(self.headers.get("Host", ""))
                scripted = fake.download_script.pop(0) if fake.download_script else None
            if scripted is not None:
                self._scripted(scripted, fake.image_content_type, fake.image)
                return
            if fake.image_for is not None:
                number = int(self.path.removeprefix("/images/"))
                self._send(200, fake.image_content_type, fake.image_for(number))
                return
            if not fake.image_pause_s:
                self._send(200, fake.image_content_type, fake.image)
                return
            half = len(fake.image) // 2
            self.send_response(200)
            self.send_header("Content-Type", fake.image_content_type)
            self.send_header("Content-Length", str(len(fake.image)))
            self.end_headers()
            self.wfile.write(fake.image[:half])
            self.wfile.flush()
            time.sleep(fake.image_pause_s)
            self.wfile.write(fake.image[half:])
        elif self.path == "/_stats":
            with fake.lock:
                stats = {
                    "calls": len(fake.calls),
                    "downloads": fake.downloads,
                    "calls_by_prompt": dict(fake.calls_by_prompt),
                }
            self._send(200, "application/json", json.dumps(stats).encode())
        else:
            self._send(404, "text/plain", b"not found")


class RecraftServer(BackgroundServer):
    """A running fake: `base_url` for `recraft.base_url`, `fake` to steer and count."""

    def __init__(self, fake: FakeRecraft | None = None, port: int = 0) -> None:
        self.fake = fake or FakeRecraft()
        server = _Server(("127.0.0.1", port), _Handler)
        server.fake = self.fake
        super().__init__(server)
        self.fake.base_url = self.origin
        self.base_url = f"{self.origin}/v1"

    def __exit__(self, *exc: object) -> None:
        if self.fake.hold is not None:
            self.fake.hold.set()  # release held requests so the server can shut down
        super().__exit__(*exc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    with RecraftServer(FakeRecraft(latency_s=args.latency), port=args.port) as server:
        print(server.base_url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
