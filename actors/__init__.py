"""Vignette's actors and the `StorySystem` facade that embedding apps use."""

from actors.errors import (
    InvalidStory,
    PortraitConflict,
    StoredFileNotFound,
    StoryGenerationError,
    StoryNotFound,
    VignetteError,
)
from actors.openai_writer import OpenAIWriter
from actors.records import PortraitErrorCode, PortraitStatus, Story, StoryDraft
from actors.supervisor import PortraitSideStatus
from actors.system import StorySystem
from actors.writer import StoryWriter, TemplateWriter

__all__ = [
    "InvalidStory",
    "OpenAIWriter",
    "PortraitConflict",
    "PortraitErrorCode",
    "PortraitSideStatus",
    "PortraitStatus",
    "StoredFileNotFound",
    "Story",
    "StoryDraft",
    "StoryGenerationError",
    "StoryNotFound",
    "StorySystem",
    "StoryWriter",
    "TemplateWriter",
    "VignetteError",
]
