"""Logging set-up for the daemon and the command line: loguru's sink, and the standard
library loggers Vignette's libraries write to (pykka quieted, uvicorn routed to loguru).

The library itself adds no sink; `vignette.cli` calls these before it starts a system.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

from loguru import logger

if TYPE_CHECKING:
    from loguru import Message

    from vignette.config import LoggingSettings

# The extra fields a human log line shows after its message, in this order.
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


class _ToLoguru(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(exception=record.exc_info).log(level, "{}", record.getMessage())


def route_uvicorn_logs(level: int = logging.WARNING) -> None:
    """Send uvicorn's warnings and errors (a port in use, an app exception) to loguru."""
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        log = logging.getLogger(name)
        log.handlers = [_ToLoguru()]
        log.setLevel(level)
        log.propagate = False
