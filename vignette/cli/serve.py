"""`serve`: the daemon. The HTTP API and gallery under uvicorn in the main thread, until
SIGINT or SIGTERM; a second signal stops it at once."""

from __future__ import annotations

import argparse
import os
import signal
import threading
from types import FrameType

from loguru import logger

from vignette.api import create_app
from vignette.api.guards import is_loopback
from vignette.api.server import VignetteServer
from vignette.cli.output import console, plural
from vignette.config import Settings
from vignette.config.logging import route_uvicorn_logs
from vignette.system.facade import StorySystem
from vignette.system.tokens import ApiTokens


def exposure_refused(settings: Settings, program: str) -> str | None:
    """Why the daemon must not start on `server.host`, or None: an address other machines
    reach needs an API token first."""
    host = settings.server.host
    if is_loopback(host) or ApiTokens(settings.database.url).exist():
        return None
    return (
        f"server.host = {host!r} is not a loopback address and no API token exists, so "
        "anyone who reaches it could make paid Recraft calls: run "
        f"'{program} token create --name NAME' first, or set server.host = '127.0.0.1'"
    )


def budget_line(settings: Settings) -> str:
    """The Recraft budget cap in force, said once at start."""
    cap = settings.portraits.max_calls_per_hour
    if cap == 0:
        return (
            "Recraft budget: no cap on calls per hour (portraits.max_calls_per_hour = 0); "
            "each portrait is one paid call"
        )
    return (
        f"Recraft budget: at most {plural(cap, 'call')} per hour, by every instance on the "
        "database (portraits.max_calls_per_hour)"
    )


def serve(settings: Settings, args: argparse.Namespace) -> int:
    """Serve the HTTP API and gallery until SIGINT or SIGTERM; a second signal stops at once."""
    refusal = exposure_refused(settings, args.program)
    if refusal is not None:
        console.print(f"[bold red]refusing to start:[/] {refusal}", highlight=False)
        return 2
    logger.info(budget_line(settings))
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
            settings.storage.path
            if settings.storage.backend == "local"
            else f"bucket {settings.storage.s3.bucket}",
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
