"""StorySystem: the embedding API. Starts the actors, speaks for them, stops them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Self, TypeVar, cast

import httpx
import pykka
from loguru import logger

from vignette.actors.document import DocumentActor, DocumentProxy
from vignette.actors.portrait import RecraftClientFactory
from vignette.actors.storage import StorageActor, StorageProxy
from vignette.actors.story import StoryActor, StoryProxy, StoryStore
from vignette.actors.supervisor import PortraitSideStatus, PortraitSupervisor, SupervisorProxy
from vignette.config import ConfigError, Settings
from vignette.errors import StoryGenerationError, StoryNotFound
from vignette.instance import new_instance_id
from vignette.models import Database, open_database, release_connections
from vignette.records import FileInfo, PortraitStatus, Story, StoryDraft
from vignette.recraft.client import RecraftClient
from vignette.storage.staging import Staging
from vignette.system.changes import ChangeFeed
from vignette.writers.openai import OpenAIWriter
from vignette.writers.template import StoryWriter, TemplateWriter

ASK_TIMEOUT_S = 60.0
# How long a health check waits for each actor's answer.
HEALTH_TIMEOUT_S = 5.0
# wait_for_portrait re-reads at least this often: another process may settle the portrait.
WAIT_SLICE_S = 1.0


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


def _configured_writer(settings: Settings) -> StoryWriter:
    if settings.stories.writer == "template":
        return TemplateWriter()
    if settings.stories.writer == "openai":
        return OpenAIWriter.from_settings(settings)
    raise ConfigError(
        f"stories.writer = {settings.stories.writer!r} is not available in this version: "
        "use 'template' or 'openai', or pass a StoryWriter to StorySystem.start"
    )


@dataclass(frozen=True, slots=True)
class Health:
    """What `StorySystem.health` found: ok, or the problems, and the portrait side."""

    ok: bool
    problems: tuple[str, ...]
    portraits: PortraitSideStatus | None


class StorySystem:
    """Stories and their portraits, as a running set of actors. Use `StorySystem.start`."""

    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        changes: ChangeFeed,
        staging: Staging,
        refs: list[pykka.ActorRef[Any]],
        document: DocumentProxy,
        storage: StorageProxy,
        supervisor: SupervisorProxy,
        stories: StoryProxy,
        store: StoryStore,
    ) -> None:
        self.settings = settings
        self._db = db
        self._changes = changes
        self._staging = staging
        self._refs = refs
        self._document = document
        self._storage = storage
        self._supervisor = supervisor
        self._stories = stories
        self._store = store
        self._stopped = False

    @classmethod
    def start(
        cls,
        settings: Settings,
        *,
        writer: StoryWriter | None = None,
        client_factory: Callable[[], RecraftClient] | None = None,
    ) -> Self:
        """Create tables, start the actors, and resume pending portraits.

        `client_factory` replaces how workers build their Recraft client (tests use it);
        by default it comes from the settings and the `RECRAFT_API_KEY` they hold.
        """
        if writer is None:
            writer = _configured_writer(settings)
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
        db = open_database(settings.database.url)
        changes = ChangeFeed()
        staging = Staging(Path(settings.storage.path))
        swept = staging.sweep_abandoned()
        if swept:
            logger.info("removed {} staging directories left by stopped processes", swept)
        refs: list[pykka.ActorRef[Any]] = []

        def started(ref: pykka.ActorRef[Any]) -> pykka.ActorProxy[Any]:
            refs.append(ref)
            return ref.proxy()

        try:
            document = cast(DocumentProxy, started(DocumentActor.start(db, changes.notify)))
            storage = cast(
                StorageProxy, started(StorageActor.start(Path(settings.storage.path), document))
            )
            supervisor = cast(
                SupervisorProxy,
                started(
                    PortraitSupervisor.start(
                        settings=settings.portraits,
                        document=document,
                        storage=storage,
                        staging=staging,
                        client_factory=client_factory,
                        instance=new_instance_id(),
                    )
                ),
            )
            store = StoryStore(document, refs[-1], settings.recraft.prompt_limit)
            stories = cast(StoryProxy, started(StoryActor.start(writer=writer, store=store)))
            # The supervisor has resumed pending portraits (and failed interrupted ones)
            # once it answers; a failure in its start shows here, not later.
            supervisor.status().get(timeout=ASK_TIMEOUT_S)
        except Exception:
            for ref in reversed(refs):
                ref.stop()
            staging.close()
            raise
        return cls(
            settings=settings,
            db=db,
            changes=changes,
            staging=staging,
            refs=refs,
            document=document,
            storage=storage,
            supervisor=supervisor,
            stories=stories,
            store=store,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # Stories ------------------------------------------------------------------------------

    def generate_story(self, *, seed: int | None = None, topic: str | None = None) -> Story:
        """Write a story with the configured writer, store it, schedule its portrait.

        Raises `StoryGenerationError` when the writer fails, and then nothing is stored.
        """
        # A write makes up to max_attempts requests of up to timeout_s each; one more
        # timeout_s covers waiting behind other stories (one StoryActor writes them in turn).
        stories = self.settings.stories
        budget = stories.timeout_s * (stories.max_attempts + 1)
        answer = self._stories.generate_story(
            seed=seed, topic=topic, deadline=time.monotonic() + budget
        )
        try:
            # Past the deadline the StoryActor stores nothing; the margin covers the insert.
            return answer.get(timeout=budget + ASK_TIMEOUT_S)
        except pykka.Timeout:
            raise StoryGenerationError(
                f"no story was written within {budget:g} s; nothing was stored"
            ) from None

    def submit_story(self, *, title: str, body: str, image_generation_prompt: str) -> Story:
        """Store a story written elsewhere and schedule its portrait."""
        draft = StoryDraft(title, body, image_generation_prompt)
        return self._store.submit(draft)

    def get_story(self, story_id: str) -> Story | None:
        return self._document.get_story(story_id).get(timeout=ASK_TIMEOUT_S)

    def list_stories(
        self, status: PortraitStatus | str | None = None, limit: int = 50
    ) -> list[Story]:
        """Stories, newest first, optionally only those whose portrait is in `status`."""
        wanted = None if status is None else PortraitStatus(status)
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        return self._document.list_stories(wanted, limit).get(timeout=ASK_TIMEOUT_S)

    def count_by_status(self) -> dict[PortraitStatus, int]:
        return self._document.count_by_status().get(timeout=ASK_TIMEOUT_S)

    def count_failures_by_code(self) -> dict[str, int]:
        return self._document.count_failures_by_code().get(timeout=ASK_TIMEOUT_S)

    def delete_story(self, story_id: str) -> None:
        """Delete a story and its portrait file (unless another story has the same content)."""
        storage_id = self._document.delete_story(story_id).get(timeout=ASK_TIMEOUT_S)
        if storage_id is not None:
            self._storage.delete(storage_id).get(timeout=ASK_TIMEOUT_S)

    # Portraits ----------------------------------------------------------------------------

    def wait_for_portrait(self, story_id: str, timeout: float) -> Story:
        """Wait until the story's portrait is stored, failed or skipped; else TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._changes.watch(story_id) as changed:
            while True:
                changed.clear()
                story = self.get_story(story_id)
                if story is None:
                    raise StoryNotFound(story_id)
                if story.portrait_status.is_terminal:
                    return story
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"story {story_id}'s portrait is still {story.portrait_status} "
                        f"after {timeout:g} s"
                    )
                changed.wait(min(remaining, WAIT_SLICE_S))

    def regenerate_portrait(self, story_id: str, *, force: bool = False) -> Story:
        """Schedule a failed or skipped portrait again (a stored one too, with `force`)."""
        story = self._document.reschedule_portrait(story_id, force).get(timeout=ASK_TIMEOUT_S)
        self._store.request_portrait(story_id)
        return story

    def open_file(self, storage_id: str) -> tuple[BinaryIO, str]:
        """Open a stored file: (binary file object, content type). The caller closes it."""
        return self._storage.open(storage_id).get(timeout=ASK_TIMEOUT_S)

    def file_info(self, storage_id: str) -> FileInfo | None:
        """A stored file's row (sha256, size, content type), or None."""
        return self._document.get_file(storage_id).get(timeout=ASK_TIMEOUT_S)

    def portrait_side(self) -> PortraitSideStatus:
        return self._supervisor.status().get(timeout=ASK_TIMEOUT_S)

    def health(self, timeout: float = HEALTH_TIMEOUT_S) -> Health:
        """Whether every actor is running and answers, and the database answers a query."""
        problems = [
            f"{ref.actor_class.__name__} is not running" for ref in self._refs if not ref.is_alive()
        ]
        portraits = None
        try:
            self._document.get_story("").get(timeout=timeout)  # one indexed read
        except (pykka.ActorDeadError, pykka.Timeout) as error:
            problems.append(f"the document actor does not answer: {type(error).__name__}")
        except Exception as error:  # noqa: BLE001 - any database failure is reported
            problems.append(f"the database does not answer: {type(error).__name__}")
        try:
            portraits = self._supervisor.status().get(timeout=timeout)
        except (pykka.ActorDeadError, pykka.Timeout) as error:
            problems.append(f"the portrait supervisor does not answer: {type(error).__name__}")
        else:
            if not portraits.up:
                problems.append("the portrait side is down: its workers crashed too often")
        return Health(ok=not problems, problems=tuple(problems), portraits=portraits)

    # Stopping -----------------------------------------------------------------------------

    def stop(self, grace_s: float | None = None) -> None:
        """Take no new portrait, let in-flight ones finish within the grace period, stop.

        Portraits still running after the grace period become `failed: interrupted`;
        portraits never started stay `pending` for the next start.
        """
        if self._stopped:
            return
        self._stopped = True
        grace = self.settings.portraits.shutdown_grace_s if grace_s is None else grace_s
        try:
            idle = self._supervisor.stop_accepting().get(timeout=ASK_TIMEOUT_S)
            if not idle.wait(grace):
                self._supervisor.interrupt_in_flight().get(timeout=ASK_TIMEOUT_S)
        except pykka.ActorDeadError:
            pass  # the portrait side is already gone
        for ref in reversed(self._refs):
            ref.stop()
        self._staging.close()
        release_connections(self._db)


T = TypeVar("T")


def _read(settings: Settings, read: Callable[[DocumentProxy], T]) -> T:
    """Run `read` against a DocumentActor of its own: no portrait work is started."""
    db = open_database(settings.database.url)
    ref = DocumentActor.start(db)
    try:
        return read(cast(DocumentProxy, ref.proxy()))
    finally:
        ref.stop()
        release_connections(db)


def read_counts(settings: Settings) -> tuple[dict[PortraitStatus, int], dict[str, int]]:
    """Stories by portrait state, and failures by code."""
    return _read(
        settings,
        lambda document: (
            document.count_by_status().get(timeout=ASK_TIMEOUT_S),
            document.count_failures_by_code().get(timeout=ASK_TIMEOUT_S),
        ),
    )


def read_stories(settings: Settings, statuses: Iterable[PortraitStatus], limit: int) -> list[Story]:
    """Up to `limit` stories whose portrait is in one of `statuses`, oldest state first."""
    return _read(
        settings,
        lambda document: [
            story
            for status in statuses
            for story in document.list_stories(status, limit).get(timeout=ASK_TIMEOUT_S)
        ][:limit],
    )
