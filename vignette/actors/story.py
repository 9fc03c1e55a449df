"""StoryActor: writes a story and stores it; `StoryStore`: stores a story, tells the portrait side.

The portrait side is told, fire-and-forget (seed P1): storing a story never waits on a
portrait, and a portrait side that is down leaves the story `pending` for the next start.
A story written elsewhere is stored in its caller's thread, so it never queues behind a
story the StoryActor is still writing (which may take seconds with a model).
"""

from __future__ import annotations

from dataclasses import fields
from time import monotonic

import pykka
from loguru import logger
from pykka.typing import ActorMemberMixin, proxy_method

from vignette import metrics
from vignette.actors.document import DocumentProxy
from vignette.actors.messages import ASK_TIMEOUT_S, PortraitRequested, Teller, write_deadline
from vignette.errors import InvalidStory, StoryGenerationError
from vignette.records import MAX_BODY_CHARS, MAX_TITLE_CHARS, Story, StoryDraft
from vignette.writers.base import StoryWriter


def check_draft(draft: StoryDraft, prompt_limit: int) -> StoryDraft:
    """Raise `InvalidStory` naming the field that breaks a limit."""
    for field in fields(draft):
        value = getattr(draft, field.name)
        if not isinstance(value, str):
            raise InvalidStory(field.name, f"must be a string, not {type(value).__name__}")
    if not draft.title.strip():
        raise InvalidStory("title", "must not be blank")
    if len(draft.title) > MAX_TITLE_CHARS:
        raise InvalidStory(
            "title", f"is {len(draft.title):,} characters; at most {MAX_TITLE_CHARS}"
        )
    if not draft.body.strip():
        raise InvalidStory("body", "must not be blank")
    if len(draft.body) > MAX_BODY_CHARS:
        raise InvalidStory("body", f"is {len(draft.body):,} characters; at most {MAX_BODY_CHARS:,}")
    if len(draft.image_generation_prompt) > prompt_limit:
        raise InvalidStory(
            "image_generation_prompt",
            f"is {len(draft.image_generation_prompt):,} characters; the configured Recraft "
            f"model takes at most {prompt_limit:,}",
        )
    return draft


class StoryStore:
    """Checks and inserts stories, and tells the portrait side of each; safe from any thread."""

    def __init__(self, document: DocumentProxy, portraits: Teller, prompt_limit: int) -> None:
        self._document = document
        self._portraits = portraits
        self._prompt_limit = prompt_limit

    def submit(self, draft: StoryDraft) -> Story:
        """Insert a story with its portrait `pending` and schedule the portrait; return it."""
        checked = check_draft(draft, self._prompt_limit)
        story = self._document.insert_story(checked, deadline=write_deadline()).get(
            timeout=ASK_TIMEOUT_S
        )
        metrics.STORIES_CREATED.inc()
        self.request_portrait(story.id)
        return story

    def request_portrait(self, story_id: str) -> None:
        try:
            self._portraits.tell(PortraitRequested(story_id))
        except pykka.ActorDeadError:
            logger.bind(story_id=story_id, step="schedule").warning(
                "the portrait side is not running; the portrait stays pending until it runs "
                "again (after a restart of its supervisor, or the next start)"
            )


class StoryActor(pykka.ThreadingActor):
    # Never keeps the process alive: stop() is bounded and StorySystem stops at exit
    # (system/process.py).
    use_daemon_thread = True

    def __init__(self, *, writer: StoryWriter, store: StoryStore) -> None:
        super().__init__()
        self._writer = writer
        self._store = store

    def generate_story(
        self, seed: int | None = None, topic: str | None = None, deadline: float | None = None
    ) -> Story:
        """Write a story with the configured writer, then store it (the seed's generateStory).

        A writer's failure goes back to the caller (the actor lives on) and nothing is stored.
        `deadline` (a `time.monotonic()` value) is when the caller stops waiting: a request
        still queued then is not written, and a story written after it is not stored, so a
        caller that has given up never leaves a story behind.
        """
        if deadline is not None and monotonic() > deadline:
            raise StoryGenerationError(
                "the request waited behind other stories until its caller's deadline; "
                "no story was written"
            )
        try:
            draft = self._writer.write(seed=seed, topic=topic)
        except StoryGenerationError as error:
            logger.bind(step="write").warning("no story was written: {}", error)
            raise
        if deadline is not None and monotonic() > deadline:
            raise StoryGenerationError(
                "the story was written after its caller's deadline; it was not stored"
            )
        return self._store.submit(draft)


class StoryProxy(ActorMemberMixin, pykka.ActorProxy[StoryActor]):
    generate_story = proxy_method(StoryActor.generate_story)
