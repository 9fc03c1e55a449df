"""What a story writer is: anything that writes a story draft, for the StoryActor."""

from __future__ import annotations

from typing import Protocol

from vignette.records import StoryDraft


class StoryWriter(Protocol):
    """Anything that writes a story draft: the template writer, or a language model."""

    def write(self, seed: int | None = None, topic: str | None = None) -> StoryDraft: ...
