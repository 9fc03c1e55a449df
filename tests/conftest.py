"""Fixtures: settings on real files under tmp_path, systems that always stop, log capture."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pykka
import pytest
from loguru import logger

from actors import StorySystem
from config import Settings, load_settings

if TYPE_CHECKING:
    from loguru import Record

API_KEY = "rk-test-7f3a9c1e5b2d4068"


@pytest.fixture(autouse=True)
def _stop_every_actor() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all(timeout=10)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings on a SQLite file and a storage folder under tmp_path.

    Keyword arguments override keys, `section__key=value`; `api_key=None` unsets the key.
    """

    def make(api_key: str | None = API_KEY, **overrides: Any) -> Settings:
        env = {
            "VIGNETTE_DATABASE__URL": f"sqlite:///{tmp_path / 'vignette.sqlite3'}",
            "VIGNETTE_STORAGE__PATH": str(tmp_path / "files"),
        }
        for name, value in overrides.items():
            env[f"VIGNETTE_{name.upper()}"] = (
                str(value).lower() if isinstance(value, bool) else str(value)
            )
        if api_key is not None:
            env["RECRAFT_API_KEY"] = api_key
        return load_settings(env=env)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def start_system() -> Iterator[Callable[..., StorySystem]]:
    """Start a StorySystem; every one started is stopped at teardown."""
    started: list[StorySystem] = []

    def start(settings: Settings, **kwargs: Any) -> StorySystem:
        system = StorySystem.start(settings, **kwargs)
        started.append(system)
        return system

    yield start
    for system in started:
        system.stop(grace_s=5)


@pytest.fixture
def logs() -> Iterator[list[Record]]:
    """Every log record emitted during the test, as loguru's record dicts."""
    records: list[Record] = []
    sink_id = logger.add(lambda message: records.append(message.record), level="DEBUG")
    yield records
    logger.remove(sink_id)


def stored_files(root: Path) -> list[Path]:
    """Every file under a storage root, temporary ones included, lock files excluded."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".lock")
