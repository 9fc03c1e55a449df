"""Fixtures: a verifying webhook receiver, and settings that send events to it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from loguru import logger

from tests.fakes.webhook_receiver import SECRET, WebhookReceiver
from vignette.config import Settings

# A short schedule: three more attempts, a few hundredths of a second apart.
SHORT_DELAYS = "[0.05, 0.05, 0.05]"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


@pytest.fixture
def hooked_settings(
    local_settings: Callable[..., Settings], receiver: WebhookReceiver
) -> Callable[..., Settings]:
    """Settings whose webhook events go to the test's receiver, on a short schedule."""

    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "webhooks__url": receiver.url,
            "webhooks__allow_insecure_urls": True,
            "webhooks__retry_delays_s": SHORT_DELAYS,
            "webhook_secret": SECRET,
        }
        return local_settings(**(values | overrides))

    return make


class Outcomes:
    """The dispatcher's outcome log lines, as they come; waited on with a deadline."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []  # (outcome, event id)
        self._changed = threading.Condition()

    def sink(self, message: Any) -> None:
        extra = message.record["extra"]
        if extra.get("step") == "webhook" and "outcome" in extra:
            with self._changed:
                self.seen.append((extra["outcome"], extra["event_id"]))
                self._changed.notify_all()

    def wait(self, outcome: str, count: int = 1, timeout: float = 30.0) -> list[str]:
        """The ids of the first `count` events with this outcome."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(found := [i for o, i in self.seen if o == outcome]) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{len(found)} of {count} {outcome}: {self.seen}")
                self._changed.wait(remaining)
        return found[:count]


@pytest.fixture
def outcomes() -> Iterator[Outcomes]:
    seen = Outcomes()
    sink_id = logger.add(seen.sink, level="DEBUG")
    yield seen
    logger.remove(sink_id)
