"""What the commands show on the terminal: the stderr console for messages, a progress bar
while stories are written and portraits made, and the closing summary by state."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from vignette.config import Settings
from vignette.records import Story
from vignette.system.facade import StorySystem

# soft_wrap: a message is one line however narrow the terminal, so it can be grepped.
console = Console(stderr=True, soft_wrap=True)


def progress() -> Progress:
    """A bar on stderr: what is being done, how far, and for how long."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def wait_for_portraits(system: StorySystem, ids: Sequence[str], timeout: float) -> list[Story]:
    """Show a bar while the portraits end; return the stories as they ended (or not)."""
    deadline = time.monotonic() + timeout
    finished: list[Story] = []
    with progress() as bar:
        task = bar.add_task("making portraits", total=len(ids))
        for story_id in ids:
            try:
                story = system.wait_for_portrait(story_id, max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                continue
            finished.append(story)
            bar.advance(task)
    return finished


def summarise(settings: Settings, finished: Iterable[Story], expected: int, program: str) -> int:
    """Print the portraits by state and failure code; the exit code: 1 if any failed or
    did not end. `program` is how the user runs Vignette, for the advice to run it again."""
    stories = list(finished)
    by_status = Counter(str(story.portrait_status) for story in stories)
    by_code = Counter(
        (story.portrait_error or "").partition(":")[0] for story in stories if story.portrait_error
    )
    unfinished = expected - len(stories)
    parts = [f"{count} {state}" for state, count in sorted(by_status.items())]
    if unfinished:
        parts.append(f"{unfinished} still in progress")
    codes = f" ({', '.join(f'{c}: {n}' for c, n in by_code.most_common())})" if by_code else ""
    console.print(f"{expected} portraits: {', '.join(parts)}{codes}")
    if settings.recraft_api_key is None and by_code.get("missing_api_key"):
        console.print(
            f"[bold red]RECRAFT_API_KEY is not set[/]: {by_code['missing_api_key']} portraits "
            "failed with missing_api_key. Set it, then run "
            f"'{program} backfill --include-failed'."
        )
    return 0 if not unfinished and not by_status.get("failed") else 1
