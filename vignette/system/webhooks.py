"""Webhooks in a running system: the dispatcher built from settings, and the outbox as the
API shows it (deliveries listed, one sent again).

Listing and retrying run in their caller's thread (an HTTP worker), each in a connection
of its own given back at once, as API tokens do: they never wait behind portrait work.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka
from loguru import logger

from vignette.actors.outbox import EventOutbox, Wakeup
from vignette.actors.root import Address, Child
from vignette.actors.webhooks import DISPATCHER_NAME, WebhookDispatcher
from vignette.config import ConfigError, Settings
from vignette.models import Database, open_database, release_connections
from vignette.models.deliveries import (
    DisabledEndpoint,
    WebhookDelivery,
    count_by_status,
    disabled_endpoint,
    enable_endpoint,
    get_delivery,
    list_deliveries,
    retry_delivery,
)
from vignette.webhooks.sender import WebhookSender, check_target

__all__ = ["DisabledEndpoint", "WebhookDeliveries", "WebhookDelivery", "webhook_sender_factory"]


def webhook_sender_factory(settings: Settings, **options: Any) -> Callable[[], WebhookSender]:
    """Build the dispatcher's sender; `ConfigError` (one line) for a URL the SSRF guard
    refuses or a missing secret. `options` go to `WebhookSender` (tests pass `resolve`)."""
    hooks = settings.webhooks
    check_target(hooks.url, allow_insecure=hooks.allow_insecure_urls)
    if settings.webhook_secret is None:
        raise ConfigError(
            "webhooks.url is set but VIGNETTE_WEBHOOK_SECRET is not: set it to a whsec_ "
            "secret ('vignette webhooks secret' makes one)"
        )
    secrets = [settings.webhook_secret.get_secret_value()]
    if settings.webhook_secret_previous is not None:
        secrets.append(settings.webhook_secret_previous.get_secret_value())
    return functools.partial(
        WebhookSender,
        hooks.url,
        secrets,
        allow_insecure_urls=hooks.allow_insecure_urls,
        **options,
    )


@dataclass(frozen=True, slots=True)
class WebhookSide:
    """What the actors need to write and send webhook events."""

    outbox: EventOutbox
    child: Child


def webhook_side(
    settings: Settings,
    db: Database,
    instance: str,
    address: Address[Any],
    sender_factory: Callable[[], WebhookSender],
) -> WebhookSide:
    """The outbox the DocumentActor writes, and the dispatcher the root supervises."""
    wakeup = Wakeup(address)
    if settings.webhooks.allow_insecure_urls:
        logger.warning(
            "webhooks.allow_insecure_urls is on: events may go to http and local hosts; "
            "use this for local testing only"
        )

    def start(root: pykka.ActorRef[Any]) -> pykka.ActorRef[Any]:
        return WebhookDispatcher.start(
            db=db,
            settings=settings.webhooks,
            sender_factory=sender_factory,
            instance=instance,
            poll_interval_s=settings.portraits.poll_interval_s,
            wakeup=wakeup,
            root=root,
        )

    outbox = EventOutbox(frozenset(settings.webhooks.events), wakeup)
    return WebhookSide(outbox, Child(DISPATCHER_NAME, start, address))


class WebhookDeliveries:
    """The outbox's events and the endpoint's state, for the API and the command line."""

    def __init__(self, db: Database, url: str, wake: Callable[[], None]) -> None:
        self._db = db
        self.url = url
        self._wake = wake

    def list(self, status: str | None = None, limit: int = 50) -> list[WebhookDelivery]:
        """Events, newest first, optionally only those in `status`."""
        with self._db.connection_context():
            return list_deliveries(status, limit)

    def get(self, event_id: str) -> WebhookDelivery | None:
        with self._db.connection_context():
            return get_delivery(event_id)

    def endpoint_disabled(self) -> DisabledEndpoint | None:
        """Why the endpoint is disabled (it answered 410), or None."""
        if not self.url:
            return None
        with self._db.connection_context():
            return disabled_endpoint(self.url)

    def retry(self, event_id: str) -> WebhookDelivery | None:
        """Send an event again now, with the same `webhook-id`; this also enables an endpoint
        a 410 disabled. None while the event is being sent (or if there is none)."""
        with self._db.connection_context():
            retried = retry_delivery(event_id)
            if retried is not None and self.url:
                enable_endpoint(self.url)
        if retried is not None:
            self._wake()
        return retried


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    """The webhook outbox for the `status` command: events by state, and the endpoint."""

    by_status: dict[str, int]
    disabled: DisabledEndpoint | None


def read_outbox_status(settings: Settings) -> OutboxStatus:
    """Events by state and whether the endpoint is disabled, without starting anything."""
    db = open_database(settings.database.url)
    try:
        with db.connection_context():
            counts = count_by_status()
            disabled = disabled_endpoint(settings.webhooks.url) if settings.webhooks.url else None
    finally:
        release_connections(db)
    states = ("pending", "sending", "delivered", "failed")
    return OutboxStatus({state: counts.get(state, 0) for state in states}, disabled)
