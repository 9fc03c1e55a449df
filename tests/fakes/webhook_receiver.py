"""A webhook receiver over real HTTP, on 127.0.0.1, as an app receiving Vignette's events
would be: it verifies every signature with the `standardwebhooks` library and records the
`webhook-id`s it got and what it answered.

`answer(event_id, attempt)` chooses the status of each request (200 unless changed):
tests make it fail the first attempts, answer 410, or 503 to everything.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from standardwebhooks import Webhook, WebhookVerificationError

from tests.fakes.http import BackgroundServer, FakeHandler, QuietServer

SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
OTHER_SECRET = "whsec_TGV0IHRoZSByZWNlaXZlciB0cnkgdGhpcyBvbmU="


@dataclass
class Received:
    event_id: str
    attempt: int
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class WebhookReceiver:
    """Verifies and records webhook requests; `wait_for_delivered` waits on a condition."""

    secret: str = SECRET
    port: int = 0
    answer: Callable[[str, int], int] = lambda event_id, attempt: 200
    received: list[Received] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)
    # Requests being answered now, and the most at once for one id (a concurrent double send).
    in_flight: Counter[str] = field(default_factory=Counter)
    max_in_flight_per_id: int = 0
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _running: BackgroundServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/vignette"

    def delivered(self) -> dict[str, Received]:
        """The first 2xx-answered request of each event id."""
        with self._changed:
            first: dict[str, Received] = {}
            for item in self.received:
                if 200 <= item.status < 300:
                    first.setdefault(item.event_id, item)
            return first

    def wait_for_delivered(self, count: int, timeout: float = 30.0) -> dict[str, Received]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.delivered()) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"{len(self.delivered())} of {count} events delivered; "
                        f"{len(self.received)} requests, invalid: {self.invalid[:3]}"
                    )
                self._changed.wait(remaining)
        return self.delivered()

    def wait_for_ids(self, count: int, timeout: float = 30.0) -> None:
        """Until requests for `count` distinct event ids came, whatever was answered."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.attempts) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{len(self.attempts)} of {count} events came")
                self._changed.wait(remaining)

    def wait_for_requests(self, count: int, timeout: float = 30.0) -> list[Received]:
        """The first `count` requests answered, whatever was answered."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"{len(self.received)} of {count} requests came")
            return list(self.received[:count])

    def _handle(self, body: bytes, headers: dict[str, str]) -> int:
        try:
            Webhook(self.secret).verify(body, headers)
        except (WebhookVerificationError, ValueError) as error:
            with self._changed:
                self.invalid.append(f"{headers.get('webhook-id')}: {error}")
                self._changed.notify_all()
            return 401
        event_id = headers["webhook-id"]
        with self._changed:
            self.attempts[event_id] += 1
            attempt = self.attempts[event_id]
            self.in_flight[event_id] += 1
            self.max_in_flight_per_id = max(self.max_in_flight_per_id, self.in_flight[event_id])
        status = self.answer(event_id, attempt)
        with self._changed:
            self.in_flight[event_id] -= 1
            self.received.append(Received(event_id, attempt, status, json.loads(body), headers))
            self._changed.notify_all()
        return status

    def __enter__(self) -> Self:
        receiver = self

        class Handler(FakeHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                status = receiver._handle(body, headers)
                self._send(status, "application/json", b"{}")

        server = QuietServer(("127.0.0.1", self.port), Handler)
        self._running = BackgroundServer(server).__enter__()
        self.port = self._running.port
        return self

    def __exit__(self, *exc: object) -> None:
        if self._running is not None:
            self._running.__exit__()
            self._running = None
