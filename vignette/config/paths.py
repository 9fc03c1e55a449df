"""Relative paths in settings, made absolute against a base folder the embedding app names
(`load_settings(base_dir=...)`), rather than against whatever the working directory is."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vignette.config.settings import Settings

_SQLITE = "sqlite:///"


def _absolute(path: str, base: Path) -> str:
    return path if Path(path).is_absolute() else str(base / path)


def resolve_paths(settings: Settings, base_dir: str | Path) -> Settings:
    """`storage.path` and a SQLite `database.url`'s file, made absolute against `base_dir`
    when relative; absolute ones, PostgreSQL URLs and `:memory:` are left as they are."""
    base = Path(base_dir).absolute()
    storage = settings.storage.model_copy(update={"path": _absolute(settings.storage.path, base)})
    url = settings.database.url
    if url.startswith(_SQLITE) and url != f"{_SQLITE}:memory:":
        url = _SQLITE + _absolute(url.removeprefix(_SQLITE), base)
    database = settings.database.model_copy(update={"url": url})
    return settings.model_copy(update={"storage": storage, "database": database})
