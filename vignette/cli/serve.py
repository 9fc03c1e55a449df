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
from vignette.api.server import VignetteServer
from vignette.config import Settings
from vignette.config.logging import route_uvicorn_logs
from vignette.system.facade import StorySystem


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
