"""Helpers the settings tests share: a TOML file in tmp_path, and the one-line ConfigError."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from vignette.config import ConfigError, load_settings

SECRET_VALUE = "rk-live-do-not-print-4c1d9e"


def write_toml(tmp_path: Path, text: str, name: str = "vignette.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(
    path: Path | None = None,
    env: dict[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> str:
    """The message of the ConfigError that loading raises; it must be a single line."""
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={} if env is None else env, overrides=overrides)
    message = str(caught.value)
    assert message.strip()
    assert "\n" not in message
    assert "\r" not in message
    return message
