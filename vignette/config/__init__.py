"""Vignette's settings: `load_settings()` and the types it returns."""

from vignette.config.loading import ConfigError
from vignette.config.settings import (
    DatabaseSettings,
    LoggingSettings,
    PortraitSettings,
    RecraftSettings,
    ServerSettings,
    Settings,
    StorageSettings,
    StorySettings,
    load_settings,
)
from vignette.config.webhooks import WebhookSettings

__all__ = [
    "ConfigError",
    "DatabaseSettings",
    "LoggingSettings",
    "PortraitSettings",
    "RecraftSettings",
    "ServerSettings",
    "Settings",
    "StorageSettings",
    "StorySettings",
    "WebhookSettings",
    "load_settings",
]
