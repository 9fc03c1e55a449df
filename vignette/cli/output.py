"""What the commands show on the terminal: the stderr console for messages, a progress bar
while stories are written and portraits made, and the closing summary by state."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from vignette.config import Settings
from vignette.errors import StoryNotFound
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


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`1 portrait`, `2 portraits` (`many` when adding an s is not the plural)."""
    return f"{count} {noun if count == 1 else (many or noun + 's')}"


def wait_for_portraits(system: StorySystem, ids: Sequence[str], timeout: float) -> bool:
    """Show a bar while the portraits end; True if `timeout` passed before all had ended.

    When it has, say so at once: leaving the system then lets the portraits under way
    finish (within `portraits.shutdown_grace_s`), so the summary counts the states they
    have once it has stopped, not the ones they had when the wait gave up.
    """
    deadline = time.monotonic() + timeout
    ended = 0
    with progress() as bar:
        task = bar.add_task("making portraits", total=len(ids))
        for story_id in ids:
            try:
                system.wait_for_portrait(story_id, max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                continue
            except StoryNotFound:
                pass  # deleted meanwhile: it has ended too
            ended += 1
            bar.advance(task)
    if ended == len(ids):
        return False
    grace = system.settings.portraits.shutdown_grace_s
    console.print(
        f"[bold yellow]Timeout reached:[/] {ended} of {plural(len(ids), 'portrait')} ended "
        f"within --timeout {timeout:g} s. Stopping: portraits under way may take up to "
        f"portraits.shutdown_grace_s = {grace:g} s to finish; pending ones stay pending.",
        highlight=False,
    )
    return True


def summarise(
    settings: Settings, final: Sequence[Story | None], program: str, timed_out: bool = False
) -> int:
    """Print the portraits by the state they have now that Vignette has stopped, and by
    failure code; the exit code: 1 if any failed or did not end. `program` is how the user
    runs Vignette, for the advice to run it again."""
    stories = [story for story in final if story is not None]
    by_status = Counter(str(story.portrait_status) for story in stories)
    by_code = Counter(
        (story.portrait_error or "").partition(":")[0] for story in stories if story.portrait_error
    )
    unfinished = sum(1 for story in stories if not story.portrait_status.is_terminal)
    parts = [f"{count} {state}" for state, count in sorted(by_status.items())]
    if len(stories) < len(final):
        parts.append(f"{len(final) - len(stories)} deleted")
    codes = f" ({', '.join(f'{c}: {n}' for c, n in by_code.most_common())})" if by_code else ""
    after = " (after the timeout, as Vignette stopped)" if timed_out else ""
    console.print(
        f"{plural(len(final), 'portrait')}: {', '.join(parts) or 'none'}{codes}{after}",
        highlight=False,
    )
    if unfinished:
        console.print(
            f"{plural(unfinished, 'portrait')} did not end: '{program} backfill' makes "
            "pending ones (or 'serve', which also resumes them).",
            highlight=False,
        )
    missing = by_code.get("missing_api_key", 0)
    if settings.recraft_api_key is None and missing:
        console.print(
            f"[bold red]RECRAFT_API_KEY is not set[/]: {plural(missing, 'portrait')} "
            f"failed with missing_api_key. Set it, then run "
            f"'{program} backfill --include-failed'."
        )
    return 0 if not unfinished and not by_status.get("failed") else 1
