"""Prometheus metrics, on a registry of Vignette's own (not prometheus-client's global one).

Actors update them with one-line calls; `GET /metrics` serves `REGISTRY`. They count for
the whole process, like the portrait side itself (one `StorySystem` per process).
"""

from __future__ import annotations

import time
from datetime import datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

# The `code` label of a portrait that was stored.
NO_CODE = "none"

STORIES_CREATED = Counter(
    "vignette_stories_created",
    "Stories inserted (generated or submitted).",
    registry=REGISTRY,
)
PORTRAITS = Counter(
    "vignette_portraits",
    "Portraits that reached a final state, by state and error code ('none' when stored).",
    ["status", "code"],
    registry=REGISTRY,
)
RECRAFT_LATENCY = Histogram(
    "vignette_recraft_request_seconds",
    "Time spent in one Recraft image generation call, failed calls included.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120),
    registry=REGISTRY,
)
JOBS_IN_FLIGHT = Gauge(
    "vignette_portrait_jobs_in_flight",
    "Portraits claimed and handed to a worker, not yet finished.",
    registry=REGISTRY,
)
CALLS_HELD = Gauge(
    "vignette_recraft_calls_held_seconds",
    "How long new Recraft calls were held back when a worker was last free: the rate "
    "limit, a 429's Retry-After or the hourly budget (0 when calls may start).",
    registry=REGISTRY,
)
CALLS_HELD_BY = Gauge(
    "vignette_recraft_calls_held_by",
    "1 while new Recraft calls are held for this reason (rate_limit, budget, retry_after, "
    "not_enough_credits), as last seen by this process's dispatcher; the holds are shared "
    "by every instance on the database.",
    ["reason"],
    registry=REGISTRY,
)
CALLS_HELD_UNTIL = Gauge(
    "vignette_recraft_calls_held_until_timestamp_seconds",
    "When the hold on new Recraft calls last seen by this process ends, as Unix time "
    "(+Inf: until an operator clears it; 0 when calls may start).",
    registry=REGISTRY,
)
RECRAFT_CREDITS = Counter(
    "vignette_recraft_credits",
    "Recraft credits this process's calls spent, as Recraft's answers reported them.",
    registry=REGISTRY,
)
ACCOUNT_CALLS = Gauge(
    "vignette_recraft_account_calls",
    "Recraft calls every instance on the database recorded in the call ledger, in the last "
    "hour or day (window), as of this process's last housekeeping tick.",
    ["window"],
    registry=REGISTRY,
)
ACCOUNT_CREDITS = Gauge(
    "vignette_recraft_account_credits",
    "Recraft credits the answers to those calls reported, in the last hour or day (window).",
    ["window"],
    registry=REGISTRY,
)
WORKER_RESTARTS = Counter(
    "vignette_portrait_worker_restarts",
    "Portrait workers restarted after a crash.",
    registry=REGISTRY,
)
ACTOR_RESTARTS = Counter(
    "vignette_actor_restarts",
    "Actors the supervision root restarted after they died, by actor.",
    ["actor"],
    registry=REGISTRY,
)
ORPHANS_SWEPT = Counter(
    "vignette_orphans_swept",
    "Portrait files no row names, and file rows no story refers to, removed by the "
    "periodic sweep (left by a crash between two steps), by kind.",
    ["kind"],
    registry=REGISTRY,
)
DATABASE_RETRIES = Counter(
    "vignette_database_retries",
    "Database calls that failed (locked, connection lost, timed out) and were tried again "
    "later, by what the call was for.",
    ["call"],
    registry=REGISTRY,
)
WEBHOOK_DELIVERIES = Counter(
    "vignette_webhook_deliveries",
    "Webhook attempts by outcome: delivered, retried (sent again later), failed (schedule "
    "spent; the event is kept), disabled (the endpoint answered 410), lost (another "
    "instance took the event back meanwhile).",
    ["outcome"],
    registry=REGISTRY,
)
WEBHOOK_OLDEST_UNDELIVERED = Gauge(
    "vignette_webhook_oldest_undelivered_seconds",
    "Age of the oldest webhook event in the outbox not yet delivered (nor failed); 0 if none.",
    registry=REGISTRY,
)
WEBHOOK_ENDPOINT_DISABLED = Gauge(
    "vignette_webhook_endpoint_disabled",
    "1 while the webhook endpoint is disabled (it answered 410 Gone), else 0.",
    registry=REGISTRY,
)
# When the oldest undelivered event was written (Unix time), as the dispatcher last read it.
_oldest_undelivered: list[float | None] = [None]
WEBHOOK_OLDEST_UNDELIVERED.set_function(
    lambda: (
        0.0 if _oldest_undelivered[0] is None else max(0.0, time.time() - _oldest_undelivered[0])
    )
)


def webhook_outbox_seen(oldest_undelivered: float | None, endpoint_disabled: bool) -> None:
    """What the dispatcher last read of the outbox: its oldest undelivered event's time."""
    _oldest_undelivered[0] = oldest_undelivered
    WEBHOOK_ENDPOINT_DISABLED.set(1 if endpoint_disabled else 0)


STORAGE_RETRIES = Counter(
    "vignette_storage_retries",
    "Uploads of a portrait to the storage backend that failed (the bucket unreachable or "
    "refusing) and were tried again.",
    registry=REGISTRY,
)


def portrait_ended(status: str, code: str | None = None) -> None:
    """Count a portrait that reached `status` (stored, failed, skipped) with `code`."""
    PORTRAITS.labels(status=str(status), code=NO_CODE if code is None else str(code)).inc()


HOLD_REASONS = ("rate_limit", "budget", "retry_after", "not_enough_credits")


def calls_held(reason: str | None, seconds: float, until: datetime | None = None) -> None:
    """New Recraft calls are held for `reason` for `seconds`, until `until` (None: until
    cleared) by the database's clock; a `reason` of None: they may start."""
    CALLS_HELD.set(seconds)
    if reason is None:
        CALLS_HELD_UNTIL.set(0)
    else:
        CALLS_HELD_UNTIL.set(float("inf") if until is None else until.timestamp())
    for known in HOLD_REASONS:
        CALLS_HELD_BY.labels(reason=known).set(1 if str(reason) == known else 0)


def account_usage(calls_hour: int, credits_hour: int, calls_day: int, credits_day: int) -> None:
    """The whole account's calls and credits, from the call ledger."""
    ACCOUNT_CALLS.labels(window="hour").set(calls_hour)
    ACCOUNT_CALLS.labels(window="day").set(calls_day)
    ACCOUNT_CREDITS.labels(window="hour").set(credits_hour)
    ACCOUNT_CREDITS.labels(window="day").set(credits_day)


def exposition() -> bytes:
    """Every metric, in the Prometheus text format."""
    return generate_latest(REGISTRY)
