"""`generate`: write N stories with the configured writer, then wait for their portraits."""

from __future__ import annotations

import argparse

from vignette.cli.output import console, progress, summarise, wait_for_portraits
from vignette.config import Settings
from vignette.system.facade import StorySystem
from vignette.system.reads import read_final
from vignette.writers.template import TOPICS


def generate(settings: Settings, args: argparse.Namespace) -> int:
    """Write N stories, then show progress until every portrait has ended."""
    if settings.stories.writer == "template" and args.topic not in (None, *TOPICS):
        # The language-model writer takes any topic; the template writer knows a few.
        console.print(
            f"[bold red]error:[/] --topic {args.topic!r} is not one of {', '.join(TOPICS)} "
            "(the template writer's topics; stories.writer = 'openai' takes any topic)",
            highlight=False,
        )
        return 2
    with StorySystem.start(settings) as system:
        with progress() as bar:
            task = bar.add_task("writing stories", total=args.n)
            stories = []
            for index in range(args.n):
                seed = None if args.seed is None else args.seed + index
                stories.append(system.generate_story(seed=seed, topic=args.topic))
                bar.advance(task)
        timed_out = wait_for_portraits(system, [s.id for s in stories], args.timeout)
    # Counted once the system has stopped: portraits under way finished (or not) meanwhile.
    final = read_final(settings, [s.id for s in stories])
    return summarise(settings, final, program=args.program, timed_out=timed_out)
