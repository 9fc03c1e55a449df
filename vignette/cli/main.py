"""Vignette's command line and daemon: the composition root.

Reads settings, configures logging, starts the system, and waits: for a signal (serve)
or for the portraits it asked for (generate, backfill). No business logic lives here.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

from loguru import logger
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from vignette.api import create_app
from vignette.api.server import VignetteServer, route_uvicorn_logs
from vignette.config import ConfigError, LoggingSettings, Settings, load_settings
from vignette.errors import PortraitConflict, StoryNotFound, VignetteError
from vignette.records import PortraitStatus, Story
from vignette.system.facade import StorySystem, read_counts, read_stories
from vignette.writers.template import TOPICS

if TYPE_CHECKING:
    from loguru import Message

# soft_wrap: a message is one line however narrow the terminal, so it can be grepped.
console = Console(stderr=True, soft_wrap=True)
EXTRA_SHOWN = ("story_id", "step", "code", "slot", "storage_id")


def configure_logging(settings: LoggingSettings) -> None:
    """One stderr sink: human lines with their context, or JSON lines."""
    logger.remove()
    # A worker's crash is logged once, by the supervisor, with its story and traceback;
    # pykka's own report of the same exception would only repeat it.
    logging.getLogger("pykka").setLevel(logging.CRITICAL)

    # Write through sys.stderr as it is at each call, so progress bars can redirect it.
    def sink(message: Message) -> None:
        sys.stderr.write(message)

    if settings.json:
        logger.add(sink, level=settings.level, serialize=True, diagnose=False)
        return

    def line(record: Any) -> str:
        context = " ".join(
            f"{key}={record['extra'][key]}" for key in EXTRA_SHOWN if key in record["extra"]
        )
        context = f" <dim>[{context}]</dim>" if context else ""
        return (
            "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> <level>{level: <8}</level> "
            "{message}" + context.replace("{", "{{").replace("}", "}}") + "\n{exception}"
        )

    # diagnose=False: tracebacks never print variable values, where a secret could be.
    logger.add(
        sink, level=settings.level, format=line, colorize=sys.stderr.isatty(), diagnose=False
    )


# Commands ---------------------------------------------------------------------------------


def serve(settings: Settings, _: argparse.Namespace) -> int:
    """Serve the HTTP API and gallery until SIGINT or SIGTERM; a second signal stops at once."""
    stop = threading.Event()
    hurry = threading.Event()
    received: list[signal.Signals] = []
    servers: list[VignetteServer] = []

    # The handler only records the signal (and asks uvicorn to stop): it runs on the main
    # thread between two bytecodes, possibly inside a log call, and loguru refuses a
    # re-entrant one.
    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signal.Signals(signum))
        (hurry if stop.is_set() else stop).set()
        for server in servers:
            server.should_exit = True

    def exit_at_once() -> None:
        hurry.wait()
        logger.warning("second {}: stopping now", received[-1].name)
        os._exit(128 + received[-1])

    threading.Thread(target=exit_at_once, name="second-signal", daemon=True).start()
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    route_uvicorn_logs()

    def running(url: str) -> None:
        logger.info(
            "Vignette is running at {} (API docs at {}/docs): database {}, files in {}; "
            "Ctrl-C stops it",
            url,
            url,
            settings.database.url,
            settings.storage.path,
        )

    code = 0
    with StorySystem.start(settings) as system:
        host, port = settings.server.host, settings.server.port
        servers.append(VignetteServer(create_app(system), host, port, on_started=running))
        if not stop.is_set():  # else a signal came while the actors started
            try:
                servers[0].run()  # in this thread, until on_signal sets should_exit
            except SystemExit:
                logger.error("could not serve HTTP on {}:{} (server.host, server.port)", host, port)
                code = 1
        cause = f"{received[0].name}: stopping" if received else "stopping"
        logger.info("{} after in-flight portraits", cause)
    logger.info("stopped")
    return code


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
        with _progress() as progress:
            task = progress.add_task("writing stories", total=args.n)
            stories = []
            for index in range(args.n):
                seed = None if args.seed is None else args.seed + index
                stories.append(system.generate_story(seed=seed, topic=args.topic))
                progress.advance(task)
        finished = _wait_for_portraits(system, [s.id for s in stories], args.timeout)
    return _summarise(settings, finished, expected=len(stories))


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
        finished = _wait_for_portraits(system, ids, args.timeout)
    return _summarise(settings, finished, expected=len(ids))


def status(settings: Settings, _: argparse.Namespace) -> int:
    """Print how many stories are in each portrait state, and why portraits failed."""
    by_status, by_code = read_counts(settings)
    table = Table(title="Stories by portrait state")
    table.add_column("state")
    table.add_column("stories", justify="right")
    for state, count in by_status.items():
        table.add_row(str(state), str(count))
    table.add_row("total", str(sum(by_status.values())), style="bold")
    Console().print(table)
    if by_code:
        codes = Table(title="Failed and skipped portraits by code")
        codes.add_column("code")
        codes.add_column("stories", justify="right")
        for code, count in sorted(by_code.items(), key=lambda item: -item[1]):
            codes.add_row(code, str(count))
        Console().print(codes)
    return 0


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _wait_for_portraits(system: StorySystem, ids: Sequence[str], timeout: float) -> list[Story]:
    """Show a bar while the portraits end; return the stories as they ended (or not)."""
    deadline = time.monotonic() + timeout
    finished: list[Story] = []
    with _progress() as progress:
        task = progress.add_task("making portraits", total=len(ids))
        for story_id in ids:
            try:
                story = system.wait_for_portrait(story_id, max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                continue
            finished.append(story)
            progress.advance(task)
    return finished


def _summarise(settings: Settings, finished: Iterable[Story], expected: int) -> int:
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
            "'python runner.py backfill --include-failed'."
        )
    return 0 if not unfinished and not by_status.get("failed") else 1


# Parsing ----------------------------------------------------------------------------------


def _topic(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be blank")
    return text.strip()


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Vignette: patient stories with portraits generated by Recraft.",
    )
    config_help = (
        "a TOML file overlaying vignette/config/default.toml; VIGNETTE_<SECTION>__<KEY> "
        "environment variables override single keys"
    )
    # Accepted before the command too ('runner.py --config FILE' runs serve). SUPPRESS
    # keeps a command's parser from resetting a value given before the command to None.
    parser.add_argument("--config", metavar="FILE", help=config_help)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help=config_help)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    commands.add_parser(
        "serve",
        parents=[common],
        help="run the daemon (the default): HTTP API and gallery, resumes pending portraits",
        description="Run the daemon until SIGINT or SIGTERM: the HTTP API, the gallery at / "
        "and the API docs at /docs, on server.host and server.port (0: any free port; the "
        "log names the URL). Pending portraits are resumed. On a signal the server stops, "
        "then in-flight portraits get portraits.shutdown_grace_s to finish; a second "
        "signal stops at once.",
    )
    gen = commands.add_parser(
        "generate",
        parents=[common],
        help="write N stories and wait for their portraits",
        description="Write N stories with the configured writer, show progress until "
        "their portraits end, and print a summary by state. Exits 1 if any portrait failed.",
    )
    gen.add_argument("-n", type=_positive, default=1, metavar="N", help="stories to write (1)")
    gen.add_argument("--seed", type=int, help="first seed, for repeatable template stories")
    gen.add_argument(
        "--topic",
        type=_topic,
        help="what to write about: with the template writer one of "
        f"{', '.join(TOPICS)}; with stories.writer = 'openai', any subject",
    )
    gen.add_argument(
        "--timeout", type=float, default=600.0, help="seconds to wait for portraits (600)"
    )
    back = commands.add_parser(
        "backfill",
        parents=[common],
        help="make the portraits stories are still owed, and wait for them",
        description="Make portraits for stories whose portrait is pending; with "
        "--include-failed, also retry failed ones. A stored portrait is never requested "
        "again unless --force is given.",
    )
    back.add_argument("--include-failed", action="store_true", help="retry failed portraits")
    back.add_argument("--force", action="store_true", help="regenerate stored portraits too")
    back.add_argument("--limit", type=_positive, default=1000, help="at most this many (1000)")
    back.add_argument(
        "--timeout", type=float, default=600.0, help="seconds to wait for portraits (600)"
    )
    commands.add_parser(
        "status",
        parents=[common],
        help="count stories by portrait state",
        description="Print how many stories are in each portrait state, and the codes of "
        "failed and skipped portraits. Starts no portrait work.",
    )
    parser.set_defaults(command="serve", config=None)
    return parser


COMMANDS = {"serve": serve, "generate": generate, "backfill": backfill, "status": status}


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run one command; `prog` names the program in usage lines (default: argv[0])."""
    args = build_parser(prog).parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as error:
        console.print(f"[bold red]configuration error:[/] {error}", highlight=False)
        return 2
    configure_logging(settings.logging)
    try:
        return COMMANDS[args.command](settings, args)
    except VignetteError as error:
        console.print(f"[bold red]error:[/] {error}", highlight=False)
        return 1
