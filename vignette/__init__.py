"""Vignette: patient stories with portraits from the Recraft image API, as a Pykka actor system.

The public API is what `__all__` lists; every other module is private.

    from vignette import StorySystem, load_settings

    with StorySystem.start(load_settings()) as system:
        story = system.generate_story()

A library is a guest in its host's process: its loguru logger is disabled here, on import,
and the stdlib logger `vignette` has only a NullHandler. The daemon and the command line
enable it; an embedding app calls `use_stdlib_logging()` or `logger.enable("vignette")`.
"""

import logging

from loguru import logger

from vignette.config import ConfigError, Settings, load_settings
from vignette.config.logging import use_stdlib_logging
from vignette.errors import (
    InvalidStory,
    PortraitConflict,
    StorageUnavailable,
    StoredFileNotFound,
    StoryGenerationError,
    StoryNotFound,
    SystemAlreadyRunning,
    VignetteError,
)
from vignette.paging import InvalidCursor, StoryPage
from vignette.records import PortraitErrorCode, PortraitStatus, Story
from vignette.system.facade import StorySystem

logger.disable("vignette")
logging.getLogger("vignette").addHandler(logging.NullHandler())

__all__ = [
    "ConfigError",
    "InvalidCursor",
    "InvalidStory",
    "PortraitConflict",
    "PortraitErrorCode",
    "PortraitStatus",
    "Settings",
    "StorageUnavailable",
    "StoredFileNotFound",
    "Story",
    "StoryGenerationError",
    "StoryNotFound",
    "StoryPage",
    "StorySystem",
    "SystemAlreadyRunning",
    "VignetteError",
    "load_settings",
    "use_stdlib_logging",
]
