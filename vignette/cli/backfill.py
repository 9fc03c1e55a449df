"""`backfill`: make the portraits stories are still owed (and, if asked, retry failed or
stored ones), then wait for them."""

from __future__ import annotations

import argparse

from loguru import logger

from vignette.cli.output import console, plural, summarise, wait_for_portraits
from vignette.config import Settings
from vignette.errors import PortraitConflict, StoryNotFound
from vignette.records import PortraitStatus
from vignette.system.facade import StorySystem
from vignette.system.reads import read_counts, read_final, read_stories


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
        console.print(f"Nothing to backfill: {nothing_owed(settings, args)}", highlight=False)
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
        timed_out = wait_for_portraits(system, ids, args.timeout)
    final = read_final(settings, ids)
    return summarise(settings, final, program=args.program, timed_out=timed_out)


def nothing_owed(settings: Settings, args: argparse.Namespace) -> str:
    """Why there is nothing to do, and what else could be done: failed portraits are
    retried only with --include-failed, stored ones only with --force."""
    by_status, _, _ = read_counts(settings)
    failed = by_status[PortraitStatus.FAILED]
    if not args.include_failed and failed:
        return (
            f"no story is waiting for a portrait, but {plural(failed, 'portrait')} failed: "
            f"'{args.program} backfill --include-failed' makes "
            f"{'it' if failed == 1 else 'them'} again."
        )
    if args.include_failed and not args.force:
        return "no story is waiting for a portrait and none has failed."
    return "no story is waiting for a portrait."
