"""What the HTTP API reads and writes, as pydantic models (they make the OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vignette.actors.messages import PortraitSideStatus
from vignette.models.ledger import Held
from vignette.records import MAX_BODY_CHARS, MAX_TITLE_CHARS, PortraitStatus, Story

MAX_TOPIC_CHARS = 100
# Integers JSON carries exactly everywhere (JavaScript's safe integers).
SEED_RANGE = (-(2**53 - 1), 2**53 - 1)


def file_url(storage_id: str) -> str:
    return f"/api/files/{storage_id}"


def _text(value: str) -> str:
    """Refuse text no database can store: NUL characters and lone surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (it has a lone surrogate)") from None
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


# What the validators check, as JSON Schema patterns (for the docs and for clients).
NO_NUL: dict[str, Any] = {"pattern": r"^[^\x00]*$"}
NOT_BLANK: dict[str, Any] = {"pattern": r"^[^\x00]*[^\s\x00][^\x00]*$"}


class StoryIn(BaseModel):
    """A story written elsewhere. A blank prompt stores the story with its portrait `skipped`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    title: str = Field(
        min_length=1, max_length=MAX_TITLE_CHARS, json_schema_extra=NOT_BLANK, examples=["Mr K"]
    )
    body: str = Field(
        min_length=1,
        max_length=MAX_BODY_CHARS,
        json_schema_extra=NOT_BLANK,
        examples=["Mr K, 67, has had a cough for six weeks."],
    )
    image_generation_prompt: str = Field(
        json_schema_extra=NO_NUL,
        description="Up to the configured Recraft model's prompt limit (1,000 characters "
        "for recraftv2/v3); empty for no portrait.",
        examples=["a calm portrait of an older man by a window, soft daylight"],
    )

    @field_validator("title", "body")
    @classmethod
    def _check_required_text(cls, value: str) -> str:
        return _not_blank(_text(value))

    @field_validator("image_generation_prompt")
    @classmethod
    def _check_prompt(cls, value: str) -> str:
        return _text(value)


class GenerateIn(BaseModel):
    """Optional steering for the story writer."""

    model_config = ConfigDict(extra="forbid", strict=True)

    topic: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_TOPIC_CHARS,
        json_schema_extra=NOT_BLANK,
        description="what to write about: one of the template writer's topics, or any "
        "subject for a language-model writer",
    )
    seed: int | None = Field(
        default=None,
        ge=SEED_RANGE[0],
        le=SEED_RANGE[1],
        description="the same seed gives the same story",
    )

    @field_validator("seed", mode="before")
    @classmethod
    def _integral(cls, value: object) -> object:
        """JSON's 7.0 is the integer 7 (JSON Schema agrees); true is not an integer."""
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value

    @field_validator("topic")
    @classmethod
    def _check_topic(cls, value: str | None) -> str | None:
        return None if value is None else _not_blank(_text(value))


class StoryOut(BaseModel):
    """A story, its portrait's state, and where its portrait is served."""

    id: str
    title: str
    body: str
    image_generation_prompt: str
    storage_id: str | None
    portrait_status: PortraitStatus
    portrait_error: str | None
    portrait_credits: int | None
    created_at: datetime
    updated_at: datetime
    image_url: str | None

    @classmethod
    def of(cls, story: Story) -> StoryOut:
        return cls(
            id=story.id,
            title=story.title,
            body=story.body,
            image_generation_prompt=story.image_generation_prompt,
            storage_id=story.storage_id,
            portrait_status=story.portrait_status,
            portrait_error=story.portrait_error,
            portrait_credits=story.portrait_credits,
            created_at=story.created_at,
            updated_at=story.updated_at,
            image_url=None if story.storage_id is None else file_url(story.storage_id),
        )


class StoryList(BaseModel):
    stories: list[StoryOut]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null on the last page"
    )


class ErrorOut(BaseModel):
    detail: str


class HoldOut(BaseModel):
    """Why new Recraft calls are held, for every instance, and until when (null: until an
    operator clears it with `vignette holds clear`)."""

    reason: str
    detail: str
    until: datetime | None

    @classmethod
    def of(cls, held: Held) -> HoldOut:
        return cls(reason=str(held.reason), detail=held.detail, until=held.until)


class PortraitSideOut(BaseModel):
    up: bool
    workers: int
    busy: int
    queued: int
    restarts: int
    held: list[HoldOut] = []

    @classmethod
    def of(cls, side: PortraitSideStatus) -> PortraitSideOut:
        return cls(
            up=side.up,
            workers=side.workers,
            busy=side.busy,
            queued=side.queued,
            restarts=side.restarts,
            held=[HoldOut.of(held) for held in side.held],
        )


class HealthOut(BaseModel):
    status: Literal["ok", "unavailable"]
    detail: str | None = None
    portraits: PortraitSideOut | None = None
