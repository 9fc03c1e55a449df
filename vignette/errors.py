"""Vignette's exceptions, under one root.

    VignetteError
    ├── StoryNotFound          (also a LookupError)  no story has that id
    ├── StoredFileNotFound     (also a LookupError)  no stored file has that id
    ├── InvalidStory           (also a ValueError)   a submitted story breaks a limit
    ├── StoryGenerationError                         the story writer failed; nothing stored
    ├── PortraitConflict                             the portrait is stored or under way
    ├── SystemAlreadyRunning   (also a RuntimeError) a second StorySystem in one process
    ├── DeadlineExpired                              a write came after its caller gave up
    └── PortraitFailure                              one step of a portrait failed (internal)

`PortraitFailure` never leaves a portrait worker: it becomes the story's `failed` or
`skipped` state and one log line.
"""

from __future__ import annotations

import re

from vignette.records import PortraitErrorCode, PortraitStatus, Step

# A quoted absolute file path, as Python's OSError and Pillow write one, with the ": " or
# space before it: "File exists: '/srv/files/80'".
_QUOTED_PATH = re.compile(r"""(:\s*|\s+)?(['"])(/|[A-Za-z]:[\\/])[^'"]*\2""")


def without_paths(text: str) -> str:
    """`text` without the file paths quoted in it: a message for people, not operators."""
    return _QUOTED_PATH.sub("", text)


class VignetteError(Exception):
    """The root of every error Vignette raises on purpose."""


class StoryNotFound(VignetteError, LookupError):
    def __init__(self, story_id: str) -> None:
        super().__init__(f"no story has id {story_id!r}")
        self.story_id = story_id


class StoredFileNotFound(VignetteError, LookupError):
    def __init__(self, storage_id: str) -> None:
        super().__init__(f"no stored file has id {storage_id!r}")
        self.storage_id = storage_id


class StorageUnavailable(VignetteError, OSError):
    """The file store (a bucket) could not be reached or refused a request; the message
    says why, and never carries a credential. `passing`: whether trying again later may
    work (no connection, a 5xx, throttling), or not (no such bucket, access denied)."""

    def __init__(self, message: str, *, passing: bool = True) -> None:
        super().__init__(message)
        self.passing = passing


class InvalidStory(VignetteError, ValueError):
    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field


class StoryGenerationError(VignetteError):
    """The story writer could not produce a story; nothing was stored."""


class DeadlineExpired(VignetteError):
    """A request reached the database after its caller had stopped waiting: nothing was done."""


class PortraitConflict(VignetteError):
    """A portrait cannot be scheduled again in its present state."""


class SystemAlreadyRunning(VignetteError, RuntimeError):
    """A StorySystem is already running in this process: stop it before starting another."""


class PortraitFailure(VignetteError):
    """One step of the portrait pipeline failed, with the contract's code."""

    def __init__(
        self,
        step: Step,
        code: PortraitErrorCode,
        message: str,
        status: PortraitStatus = PortraitStatus.FAILED,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.step = step
        self.code = code
        self.status = status
        # Recraft's Retry-After: how long no new call should start (this one is not retried).
        self.retry_after_s = retry_after_s

    @property
    def portrait_error(self) -> str:
        """The story's `portrait_error`: the code, `: `, a human message, without the file
        paths the message may name (`str(self)` keeps them, for the log)."""
        return without_paths(str(self))


# What may follow these words in a message is a credential: it is never shown.
_CREDENTIAL = re.compile(
    r"(?i)\b(bearer|authorization|api[_-]?key|token)\b([\s:='\"]+)(?:bearer\s+)?\S+"
)
DESCRIBE_LIMIT = 300


def describe(error: BaseException | None) -> str:
    """An exception for a log line or a stored error: its type and a scrubbed message.

    Never its repr, which for some errors (`UnicodeEncodeError` on a header) holds the whole
    value being processed; words after `Bearer`, `Authorization` and the like are hidden.
    """
    if error is None:
        return "no exception"
    message = _CREDENTIAL.sub(r"\1\2[hidden]", str(error))
    if len(message) > DESCRIBE_LIMIT:
        message = message[:DESCRIBE_LIMIT] + "..."
    name = type(error).__name__
    return f"{name}: {message}" if message else name
