"""kill -9 of a daemon with portraits in flight, then a restart.

Nothing is lost, and no story is paid for twice.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import cast

from tests.conftest import API_KEY, stored_files
from tests.fakes.images import png_bytes
from tests.fakes.recraft_server import RecraftServer
from vignette.actors.document import DocumentActor, DocumentProxy
from vignette.config import Settings
from vignette.models import open_database
from vignette.records import PortraitStatus, StoryDraft
from vignette.system.facade import StorySystem

REPO = Path(__file__).resolve().parents[1]
STORIES = 40


def test_a_daemon_killed_mid_portraits_loses_no_story_and_calls_recraft_once_per_story(
    make_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
    tmp_path: Path,
) -> None:
    with RecraftServer() as recraft:
        recraft.fake.latency_s = 0.1
        recraft.fake.image = png_bytes(512, 512)
        recraft.fake.image_pause_s = 0.1
        overrides = {
            "recraft__base_url": recraft.base_url,
            "portraits__allow_insecure_urls": True,
            "portraits__concurrency": 4,
            # The killed daemon's heartbeat expires this long after its last tick.
            "portraits__lease_s": 5,
        }
        settings = make_settings(**overrides)
        ref = DocumentActor.start(open_database(settings.database.url))
        document = cast(DocumentProxy, ref.proxy())
        ids = [
            document.insert_story(StoryDraft(f"Story {n}", "Body.", f"portrait {n}"))
            .get(timeout=10)
            .id
            for n in range(STORIES)
        ]
        ref.stop()

        env = {k: v for k, v in os.environ.items() if not k.startswith("VIGNETTE_")}
        env |= {f"VIGNETTE_{k.upper()}": str(v).lower() for k, v in overrides.items()}
        env |= {
            "VIGNETTE_DATABASE__URL": settings.database.url,
            "VIGNETTE_STORAGE__PATH": settings.storage.path,
            "RECRAFT_API_KEY": API_KEY,
        }
        daemon = subprocess.Popen(
            [sys.executable, "runner.py", "serve"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert recraft.fake.wait_for_calls(10, timeout=60)
        finally:
            daemon.send_signal(signal.SIGKILL)
            daemon.wait(timeout=30)
        calls_before_restart = recraft.fake.call_count
        staged_at_kill = len(list((tmp_path / "files" / "tmp").rglob("*.part")))

        system = start_system(settings)
        stories = [system.wait_for_portrait(story_id, timeout=60) for story_id in ids]

    by_status = {status: 0 for status in PortraitStatus}
    for story in stories:
        by_status[story.portrait_status] += 1
    interrupted = [s for s in stories if (s.portrait_error or "").startswith("interrupted")]
    print(
        f"\nkill -9 run: {calls_before_restart} calls and {staged_at_kill} staging files "
        f"at the kill; after the restart {recraft.fake.call_count} calls, counts {by_status}"
    )
    assert len(stories) == STORIES
    assert by_status[PortraitStatus.STORED] + len(interrupted) == STORIES
    assert interrupted, "the kill should have caught portraits in flight"
    assert max(recraft.fake.calls_by_prompt.values()) == 1
    assert recraft.fake.call_count == len(recraft.fake.calls_by_prompt) <= STORIES
    root = tmp_path / "files"
    assert not [p for p in stored_files(root) if p.relative_to(root).parts[0] == "tmp"]
    if settings.database.url.startswith("sqlite"):
        with sqlite3.connect(tmp_path / "vignette.sqlite3") as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
