"""Relative paths made absolute against the base folder an embedding app names."""

from __future__ import annotations

from pathlib import Path

import pytest

from vignette.config import load_settings
from vignette.system.facade import StorySystem


def test_relative_paths_are_made_absolute_against_base_dir(tmp_path: Path) -> None:
    settings = load_settings(env={}, base_dir=tmp_path)

    assert settings.database.url == f"sqlite:///{tmp_path}/data/vignette.sqlite3"
    assert settings.storage.path == str(tmp_path / "data" / "files")


@pytest.mark.parametrize(
    "url",
    ["sqlite:////srv/app/v.sqlite3", "sqlite:///:memory:", "postgresql://app@db:5432/app"],
)
def test_absolute_paths_and_other_urls_are_left_as_they_are(tmp_path: Path, url: str) -> None:
    settings = load_settings(
        env={}, overrides={"database.url": url, "storage.path": "/srv/files"}, base_dir=tmp_path
    )

    assert settings.database.url == url
    assert settings.storage.path == "/srv/files"


def test_without_base_dir_relative_paths_stay_relative() -> None:
    settings = load_settings(env={})

    assert settings.database.url == "sqlite:///data/vignette.sqlite3"
    assert settings.storage.path == "data/files"


def test_a_system_keeps_its_data_under_base_dir_whatever_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, elsewhere = tmp_path / "app", tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    with StorySystem.start(load_settings(env={}, base_dir=app)) as system:
        story = system.submit_story(title="t", body="b", image_generation_prompt="")
        system.wait_for_portrait(story.id, timeout=30)

    assert (app / "data" / "vignette.sqlite3").is_file()
    assert (app / "data" / "files").is_dir()
    assert list(elsewhere.iterdir()) == []
