"""What the browser tests share: Debian's Chromium (skipped without it, except in CI) and a
live gallery served by uvicorn with stories in every settled state, their portraits made
by the fake Recraft server over real HTTP. The fixtures are registered in conftest.py."""

from __future__ import annotations

import io
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFilter

from tests.fakes.recraft_server import RecraftServer
from vignette.api import create_app
from vignette.api.server import VignetteServer
from vignette.config import Settings
from vignette.system.facade import StorySystem

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO_ROOT = Path(__file__).resolve().parents[2]
# Playwright's own waits, in milliseconds.
WAIT_MS = 20_000


def keep(screenshot: Path) -> None:
    """Copy a screenshot over the README's, in docs/, when VIGNETTE_UPDATE_SCREENSHOT=1."""
    if os.environ.get("VIGNETTE_UPDATE_SCREENSHOT") == "1":
        (REPO_ROOT / "docs").mkdir(exist_ok=True)
        shutil.copyfile(screenshot, REPO_ROOT / "docs" / screenshot.name)


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is required in CI (.ci/run installs Debian's chromium)")
        pytest.skip(f"no {CHROMIUM}: apt-get install chromium")
    return CHROMIUM


def portrait_png(hue: int) -> bytes:
    """A soft, abstract head-and-shoulders picture: something to look at, not a person."""
    size = 512
    background = Image.linear_gradient("L").resize((size, size))
    image = Image.merge(
        "HSV",
        (
            Image.new("L", (size, size), hue),
            Image.new("L", (size, size), 70),
            background.point(lambda v: 235 - v // 5),
        ),
    ).convert("RGB")
    draw = ImageDraw.Draw(image)
    figure = (
        Image.merge(
            "HSV",
            (
                Image.new("L", (1, 1), (hue + 128) % 256),
                Image.new("L", (1, 1), 60),
                Image.new("L", (1, 1), 120),
            ),
        )
        .convert("RGB")
        .getpixel((0, 0))
    )
    draw.ellipse((186, 120, 326, 280), fill=figure)
    draw.ellipse((96, 300, 416, 640), fill=figure)
    image = image.filter(ImageFilter.GaussianBlur(2))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def live_gallery(
    make_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
) -> Iterator[tuple[str, StorySystem, RecraftServer]]:
    """A system with a few stories in every settled state, served by uvicorn on a free port."""
    with RecraftServer() as recraft:
        system = start_system(
            make_settings(recraft__base_url=recraft.base_url, portraits__allow_insecure_urls=True)
        )
        for seed, hue in ((11, 20), (12, 140), (13, 95), (14, 190)):
            recraft.fake.image = portrait_png(hue)
            story = system.generate_story(seed=seed)
            assert system.wait_for_portrait(story.id, timeout=30).portrait_status == "stored"
        recraft.fake.error = (503, "text/plain", b"service unavailable")
        failed = system.generate_story(seed=15)
        assert system.wait_for_portrait(failed.id, timeout=30).portrait_status == "failed"
        recraft.fake.error = None
        skipped = system.submit_story(
            title="Mr D, 58: a story told without a portrait",
            body="Mr D, 58, asked that no picture accompany his story. " * 3,
            image_generation_prompt="",
        )
        system.wait_for_portrait(skipped.id, timeout=30)

        with served(system) as url:
            yield url, system, recraft


@contextmanager
def served(system: StorySystem) -> Iterator[str]:
    """The system's app served by uvicorn on a free port, until the block ends: its URL."""
    started = threading.Event()
    server = VignetteServer(create_app(system), "127.0.0.1", 0, on_started=lambda _: started.set())
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        assert started.wait(30), "uvicorn did not start"
        yield server.url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    assert not thread.is_alive()
