"""The values actors exchange: story snapshots, drafts, portrait jobs, file descriptions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class PortraitStatus(StrEnum):
    PENDING = "pending"
    GENERATING = "generating"
    STORED = "stored"
    FAILED = "failed"
    SKIPPED = "skipped"

    @property
    def is_terminal(self) -> bool:
        return self in (PortraitStatus.STORED, PortraitStatus.FAILED, PortraitStatus.SKIPPED)


class PortraitErrorCode(StrEnum):
    MISSING_API_KEY = "missing_api_key"
    EMPTY_PROMPT = "empty_prompt"
    RATE_LIMITED = "rate_limited"
    API_ERROR = "api_error"
    BAD_RESPONSE = "bad_response"
    DOWNLOAD_ERROR = "download_error"
    INVALID_IMAGE = "invalid_image"
    TOO_LARGE = "too_large"
    INSECURE_URL = "insecure_url"
    STORAGE_ERROR = "storage_error"
    INTERRUPTED = "interrupted"
    CRASHED = "crashed"
    TIMEOUT = "timeout"


class Step(StrEnum):
    """The steps of the portrait pipeline, as log lines name them."""

    VALIDATE = "validate"
    REQUEST = "request"
    PARSE = "parse"
    DOWNLOAD = "download"
    STORE = "store"
    UPDATE = "update"


@dataclass(frozen=True, slots=True)
class Story:
    """An immutable snapshot of a story and its portrait's state."""

    id: str
    title: str
    body: str
    image_generation_prompt: str
    storage_id: str | None
    portrait_status: PortraitStatus
    portrait_error: str | None
    created_at: datetime
    updated_at: datetime
    # What the stored portrait cost in Recraft credits, when Recraft's answer said.
    portrait_credits: int | None = None


# The longest title and body a story may have (the prompt's limit depends on the model).
MAX_TITLE_CHARS = 200
MAX_BODY_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class StoryDraft:
    """A story not yet stored: what a writer produces or a caller submits."""

    title: str
    body: str
    image_generation_prompt: str


@dataclass(frozen=True, slots=True)
class PortraitJob:
    """A claimed portrait: the story, its prompt, and which attempt this is."""

    story_id: str
    prompt: str
    attempt: int
    # The stored portrait this one replaces (a forced regeneration), removed once it lands.
    replaces: str | None = None
    # What Recraft's answer said the portrait cost, once it answered.
    credits: int | None = None


@dataclass(frozen=True, slots=True)
class FileInfo:
    """A stored file's row (Convex's `_storage`)."""

    id: str
    sha256: str
    size: int
    content_type: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StagedFile:
    """A fully written, fsynced temporary file waiting to be stored."""

    path: str
    sha256: str
    size: int
    content_type: str
