"""`backfill`: make the portraits stories are still owed (and, if asked, retry failed or
stored ones), then wait for them."""

from __future__ import annotations

import argparse

from loguru import logger

from vignette.cli.output import console, summarise, wait_for_portraits
from vignette.config import Settings
from vignette.errors import PortraitConflict, StoryNotFound
from vignette.records import PortraitStatus
from vignette.system.facade import StorySystem
from vignette.system.reads import read_stories


def backfill(settings: Settings, args: argparse.Namespace) -> int:
    """Schedule portraits that are owed or, if asked, failed; wait for them to end."""
    wanted = [PortraitStatus.PENDING]
    if args.include_failed:
        wanted.append(PortraitStatus.FAILED)
    if args.force:
        wanted.append(PortraitStatus.STORED)
    # Read before the system starts: starting resumes (claims) pending portraits at once,
    # so a list taken afterwards would miss them.
    candidates = read_stories(settings, wanted, args.limit)
    if not candidates:
        console.print("Nothing to backfill: no story is waiting for a portrait.")
        return 0
    with StorySystem.start(settings) as system:
        ids = []
        for story in candidates:
            if story.portrait_status is not PortraitStatus.PENDING:
                try:
                    system.regenerate_portrait(story.id, force=args.force)
                except (PortraitConflict, StoryNotFound) as error:
                    logger.bind(story_id=story.id).warning("not backfilled: {}", error)
                    continue
            ids.append(story.id)
        finished = wait_for_portraits(system, ids, args.timeout)
    return summarise(settings, finished, expected=len(ids), program=args.program)
