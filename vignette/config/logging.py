"""Logging set-up: the daemon's and command line's loguru sink, the standard library
loggers Vignette's libraries write to (pykka quieted, uvicorn routed to loguru), and the
bridge an embedding app uses to receive Vignette's records through standard `logging`.

The library adds no sink and its loguru logger is disabled on import (`vignette/__init__.py`),
so a host sees nothing it did not ask for; `vignette.cli` calls `configure_logging`, which
enables it, before it starts a system.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import TYPE_CHECKING, Any

from loguru import logger

if TYPE_CHECKING:
    from loguru import Message, Record

    from vignette.config import LoggingSettings

# The extra fields a human log line shows after its message, in this order.
EXTRA_SHOWN = ("story_id", "step", "code", "slot", "storage_id")


def configure_logging(settings: LoggingSettings) -> None:
    """One stderr sink: human lines with their context, or JSON lines."""
    logger.remove()
    logger.enable("vignette")
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


# The attributes every stdlib LogRecord has: loguru extras with these names are left out.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
}
_bridge_lock = threading.Lock()
_bridge_sink: int | None = None


def _to_stdlib(message: Message) -> None:
    """Hand one loguru record to the stdlib logger named after its module."""
    record = message.record
    std = logging.getLogger(record["name"] or "vignette")
    level = record["level"].no
    if not std.isEnabledFor(level):
        return
    error = record["exception"]
    exc_info = None if error is None else (error.type, error.value, error.traceback)
    extra = {"story_id": None, "step": None}
    extra |= {k: v for k, v in record["extra"].items() if k not in _RECORD_ATTRIBUTES}
    std_record = std.makeRecord(
        std.name,
        level,
        record["file"].path,
        record["line"],
        record["message"],
        (),
        exc_info,  # type: ignore[arg-type]
        func=record["function"],
        extra=extra,
    )
    std_record.created = record["time"].timestamp()
    std.handle(std_record)


def _not_vignette(record: Record) -> bool:
    return not (record["name"] or "").startswith("vignette")


def use_stdlib_logging(level: str | int = "DEBUG") -> None:
    """Send Vignette's log records to standard `logging`, and enable them.

    Each record goes to the stdlib logger named after the module that wrote it, so under
    `vignette` (`vignette.actors.portrait`, ...): a `LOGGING` entry for `vignette` (Django,
    uvicorn's `log_config`, `logging.basicConfig`) picks them up. Every record carries
    `story_id` and `step` as attributes (None when a line is about no portrait), and the
    other context fields (`code`, `slot`, `storage_id`) when it has them.

    loguru's own stderr sink, when nobody has removed it, is replaced by the same sink
    without Vignette's records, so they are not printed twice. Calling this again only
    changes `level`, the least severe loguru level sent on.
    """
    global _bridge_sink
    with _bridge_lock:
        if _bridge_sink is None:
            try:
                logger.remove(0)  # loguru's default sink, unless the host removed it
            except ValueError:
                pass
            else:
                default_level = os.environ.get("LOGURU_LEVEL", "DEBUG")
                logger.add(sys.stderr, level=default_level, filter=_not_vignette)
        else:
            logger.remove(_bridge_sink)
        _bridge_sink = logger.add(_to_stdlib, level=level, filter="vignette", format="{message}")
        logger.enable("vignette")
