"""The orphan sweep: files no row names and file rows no story refers to (a crash between
two steps leaves them) are removed once older than the grace period, and counted; what a
story still uses is never touched."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

from tests.actors.test_supervisor import submit
from tests.fakes.recraft_server import RecraftServer
from vignette import metrics
from vignette.config import Settings
from vignette.records import PortraitStatus
from vignette.storage.staging import file_path
from vignette.system.facade import StorySystem


def swept(kind: str) -> float:
    return metrics.REGISTRY.get_sample_value("vignette_orphans_swept_total", {"kind": kind}) or 0


def test_the_sweep_removes_orphans_older_than_the_grace_and_keeps_what_is_used(
    local_settings: Callable[..., Settings],
    start_system: Callable[..., StorySystem],
    recraft: RecraftServer,
) -> None:
    settings = local_settings()
    root = Path(settings.storage.path)
    system = start_system(settings)
    kept = system.wait_for_portrait(submit(system, "kept"), timeout=30)
    assert kept.portrait_status is PortraitStatus.STORED
    assert kept.storage_id is not None
    kept_info = system.file_info(kept.storage_id)
    assert kept_info is not None
    # A story deleted by a process that crashed before deleting its file: its row stays.
    recraft.fake.image = recraft.fake.image + b"\0"  # another content
    lost = system.wait_for_portrait(submit(system, "lost"), timeout=30)
    assert lost.storage_id is not None
    lost_info = system.file_info(lost.storage_id)
    assert lost_info is not None
    system._document.delete_story(lost.id).get(timeout=10)
    # A file moved into place by a process that crashed before recording it.
    stray = os.urandom(32)
    stray_path = file_path(root, hashlib.sha256(stray).hexdigest())
    stray_path.parent.mkdir(parents=True, exist_ok=True)
    stray_path.write_bytes(stray)
    an_hour_ago = time.time() - 3600
    os.utime(stray_path, (an_hour_ago, an_hour_ago))
    rows_before, files_before = swept("row"), swept("file")

    storage = system._storage
    assert storage.sweep_orphans(7200).get(timeout=10) == (0, 0)  # nothing that old
    assert storage.sweep_orphans(60).get(timeout=10) == (0, 1)  # the stray file only
    assert storage.sweep_orphans(0).get(timeout=10) == (1, 1)  # and now the lost row

    assert not stray_path.exists()
    assert not file_path(root, lost_info.sha256).exists()
    assert system.file_info(lost_info.id) is None
    assert file_path(root, kept_info.sha256).exists()
    assert system.file_info(kept_info.id) == kept_info
    assert swept("row") - rows_before == 1
    assert swept("file") - files_before == 2
