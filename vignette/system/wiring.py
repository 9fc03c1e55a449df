"""Building a running system from settings: the story writer, the workers' Recraft clients,
and the actors, started in order and wired to each other."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pykka
from loguru import logger

from vignette.actors.calls import CallLedger
from vignette.actors.document import DocumentActor, DocumentProxy
from vignette.actors.files import PortraitFiles
from vignette.actors.messages import ASK_TIMEOUT_S, PortraitRequested
from vignette.actors.pace import BUSY_POLL_S
from vignette.actors.portrait import PortraitActor, RecraftClientFactory
from vignette.actors.root import Address, Child, Root, RootProxy
from vignette.actors.storage import StorageActor, StorageProxy
from vignette.actors.story import StoryActor, StoryProxy, StoryStore
from vignette.actors.supervisor import SUPERVISOR_NAME, PortraitSupervisor, SupervisorProxy
from vignette.actors.workers import WorkerSlots
from vignette.config import ConfigError, Settings
from vignette.instance import new_instance_id
from vignette.models import Database, open_database
from vignette.models.ledger import Limits
from vignette.models.notify import PendingListener, is_sqlite
from vignette.recraft.client import RecraftClient
from vignette.storage import open_file_store
from vignette.storage.staging import Staging
from vignette.system.changes import ChangeFeed
from vignette.system.webhooks import webhook_sender_factory, webhook_side
from vignette.writers.base import StoryWriter
from vignette.writers.openai import OpenAIWriter
from vignette.writers.template import TemplateWriter


def recraft_client_factory(
    settings: Settings, transport: httpx.BaseTransport | None = None, **options: Any
) -> RecraftClientFactory | None:
    """Build workers' Recraft clients; None when no key is set (portraits fail, P2).

    `options` go to `RecraftClient` as they are (tests pass `resolve`, `network_backend`...).
    """
    key = settings.recraft_api_key
    if key is None:
        return None

    def build() -> RecraftClient:
        return RecraftClient(
            settings.recraft,
            key,
            max_file_bytes=settings.storage.max_file_bytes,
            allow_insecure_urls=settings.portraits.allow_insecure_urls,
            max_attempts=settings.portraits.max_attempts,
            transport=transport,
            **options,
        )

    return build


def configured_writer(settings: Settings) -> StoryWriter:
    """The story writer `stories.writer` names."""
    if settings.stories.writer == "template":
        return TemplateWriter()
    if settings.stories.writer == "openai":
        return OpenAIWriter.from_settings(settings)
    raise ConfigError(
        f"stories.writer = {settings.stories.writer!r} is not available in this version: "
        "use 'template' or 'openai', or pass a StoryWriter to StorySystem.start"
    )


@dataclass(frozen=True, slots=True)
class Actors:
    """A started set of actors, with what they share; `refs` in the order they started."""

    db: Database
    changes: ChangeFeed
    staging: Staging
    refs: list[pykka.ActorRef[Any]]
    document: DocumentProxy
    storage: StorageProxy
    files: PortraitFiles
    root: RootProxy
    # The supervisor's incarnation of the moment: the root restarts it when it dies.
    supervisor: Address[SupervisorProxy]
    stories: StoryProxy
    store: StoryStore
    # The webhook dispatcher's incarnation of the moment, when webhooks.url is set.
    webhooks: Address[Any]
    # PostgreSQL: wakes the supervisor when any instance makes a portrait pending.
    listener: PendingListener | None = None


def start_actors(
    settings: Settings,
    writer: StoryWriter | None = None,
    client_factory: Callable[[], RecraftClient] | None = None,
) -> Actors:
    """Open the database, start the actors, and wait until pending portraits are resumed.

    `writer` and `client_factory` default to those the settings name; if anything fails to
    start, what did start is stopped again and the error goes on.
    """
    if writer is None:
        writer = configured_writer(settings)
    if client_factory is None:
        client_factory = recraft_client_factory(settings)
        if client_factory is None:
            logger.warning(
                "RECRAFT_API_KEY is not set: every portrait will fail with missing_api_key"
            )
    if settings.portraits.allow_insecure_urls:
        logger.warning(
            "portraits.allow_insecure_urls is on: http and local image URLs are fetched; "
            "use this for local testing only"
        )
    # Before anything starts: a webhook URL the SSRF guard refuses, or no secret, stops it.
    sender_factory = webhook_sender_factory(settings) if settings.webhooks.url else None
    db = open_database(settings.database.url)
    changes = ChangeFeed()
    staging = Staging(Path(settings.storage.path))
    swept = staging.sweep_abandoned()
    if swept:
        logger.info("removed {} staging directories left by stopped processes", swept)
    refs: list[pykka.ActorRef[Any]] = []
    supervisor: Address[SupervisorProxy] = Address()
    dispatcher: Address[Any] = Address()
    # One instance id for every incarnation of the supervisor and the dispatcher.
    instance = new_instance_id()
    hooks = None
    if sender_factory is not None:
        hooks = webhook_side(settings, db, instance, dispatcher, sender_factory)

    def started(ref: pykka.ActorRef[Any]) -> pykka.ActorProxy[Any]:
        refs.append(ref)
        return ref.proxy()

    try:
        outbox = None if hooks is None else hooks.outbox
        document = cast(DocumentProxy, started(DocumentActor.start(db, changes.notify, outbox)))
        files = open_file_store(settings.storage)
        storage = cast(StorageProxy, started(StorageActor.start(files, document)))
        portrait_files = PortraitFiles(files, document)
        # The call limits are counted in the database, for every instance.
        sqlite = is_sqlite(db)
        portraits = settings.portraits
        limits = Limits(portraits.rate_limit_per_minute, portraits.max_calls_per_hour)

        start_worker = functools.partial(
            PortraitActor.start,
            supervisor=supervisor,
            document=document,
            storage=storage,
            staging=staging,
            client_factory=client_factory,
            files=portrait_files,
            ledger=CallLedger(document, instance, limits),
        )
        workers = WorkerSlots(portraits.concurrency, start_worker)

        def start_supervisor(root: pykka.ActorRef[Any]) -> pykka.ActorRef[Any]:
            return PortraitSupervisor.start(
                settings=portraits,
                document=document,
                workers=workers,
                client_factory=client_factory,
                instance=instance,
                root=root,
                busy_poll_s=BUSY_POLL_S if sqlite else None,
            )

        children = [Child(SUPERVISOR_NAME, start_supervisor, supervisor)]
        if hooks is not None:
            children.append(hooks.child)
        root = cast(RootProxy, started(Root.start(children, portraits)))
        root.status().get(timeout=ASK_TIMEOUT_S)  # the root has started its children
        store = StoryStore(document, supervisor, settings.recraft.prompt_limit)
        stories = cast(StoryProxy, started(StoryActor.start(writer=writer, store=store)))
        # The supervisor has resumed pending portraits (and failed interrupted ones)
        # once it answers; a failure in its start shows here, not later.
        supervisor.proxy().status().get(timeout=ASK_TIMEOUT_S)
    except Exception:
        for ref in reversed(refs):
            ref.stop()
            if ref.actor_class is Root:
                for child in (dispatcher.ref, supervisor.ref):
                    if child is not None:
                        child.stop()
        staging.close()
        raise
    listener = PendingListener.start_for(db, functools.partial(_nudge, supervisor))
    return Actors(
        db,
        changes,
        staging,
        refs,
        document,
        storage,
        portrait_files,
        root,
        supervisor,
        stories,
        store,
        dispatcher,
        listener,
    )


def _nudge(supervisor: Address[SupervisorProxy]) -> None:
    """A portrait became pending somewhere: claim it now if a worker is idle."""
    with contextlib.suppress(pykka.ActorDeadError):
        supervisor.tell(PortraitRequested(""))
