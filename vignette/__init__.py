"""Vignette: patient stories with portraits from the Recraft image API, as a Pykka actor system.

The public API is what `__all__` lists; every other module is private.

    from vignette import StorySystem, load_settings

    with StorySystem.start(load_settings()) as system:
        story = system.generate_story()
"""

from vignette.config import ConfigError, Settings, load_settings
from vignette.errors import (
    InvalidStory,
    PortraitConflict,
    StoredFileNotFound,
    StoryGenerationError,
    StoryNotFound,
    VignetteError,
)
from vignette.records import PortraitErrorCode, PortraitStatus, Story
from vignette.system.facade import StorySystem

__all__ = [
    "ConfigError",
    "InvalidStory",
    "PortraitConflict",
    "PortraitErrorCode",
    "PortraitStatus",
    "Settings",
    "StoredFileNotFound",
    "Story",
    "StoryGenerationError",
    "StoryNotFound",
    "StorySystem",
    "VignetteError",
    "load_settings",
]
