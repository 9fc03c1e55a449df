"""Writes the supervisor owes the database: a crashed worker's `failed: crashed`, a claim no
worker received. Each is tried at once; while the database is away it is kept and tried
again at every housekeeping tick, so a blip never leaves a story `generating` for nobody."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka
from loguru import logger

from vignette.actors.messages import ASK_TIMEOUT_S, write_deadline
from vignette.actors.retry import UNAVAILABLE
from vignette.errors import describe

# A write given its deadline; answers whether it changed the row.
OwedAsk = Callable[[float], pykka.Future[Any]]


@dataclass(frozen=True, slots=True)
class _Owed:
    what: str
    ask: OwedAsk
    on_done: Callable[[], None] | None


class OwedWrites:
    """The writes still owed, oldest first; plain state, used from one actor."""

    def __init__(self) -> None:
        self._owed: list[_Owed] = []

    def __len__(self) -> int:
        return len(self._owed)

    def add(self, what: str, ask: OwedAsk, on_done: Callable[[], None] | None = None) -> None:
        """Make the write now, or keep it for later if the database cannot take it.

        `on_done` runs once the write changed its row (a metric to count)."""
        owed = _Owed(what, ask, on_done)
        try:
            self._make(owed)
        except UNAVAILABLE as error:
            logger.bind(step="supervise", cause=describe(error)).warning(
                "could not {}: {}; trying again at the next housekeeping tick",
                what,
                describe(error),
            )
            self._owed.append(owed)

    def settle(self) -> None:
        """Make every owed write, oldest first; the first failure goes on, and it and the
        writes after it stay owed."""
        while self._owed:
            self._make(self._owed[0])
            self._owed.pop(0)

    @staticmethod
    def _make(owed: _Owed) -> None:
        if owed.ask(write_deadline()).get(timeout=ASK_TIMEOUT_S) and owed.on_done is not None:
            owed.on_done()
