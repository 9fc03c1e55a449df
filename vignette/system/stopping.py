"""Stopping a running system, whatever the database does: within the grace period and a few
seconds, and leaving no thread behind that keeps the process alive."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import pykka
from loguru import logger

from vignette.actors.leases import INTERRUPT_DEADLINE_S
from vignette.errors import describe
from vignette.models import release_connections
from vignette.system.wiring import Actors

# How long stop() waits for the supervisor to answer: it may be in the middle of a claim
# the database is slow to answer.
SUPERVISOR_ANSWER_S = 3.0
# How long stop() waits for the portraits still in flight after the grace period to be
# recorded interrupted (a locked SQLite waits busy_timeout; a gone server fails at once).
INTERRUPT_ANSWER_S = INTERRUPT_DEADLINE_S + 3.0
# How long stop() waits, all told, for the actors to stop once the grace period is over.
ACTORS_STOP_S = 3.0


def stop_actors(actors: Actors, grace_s: float) -> None:
    """Take no new portrait, let in-flight ones finish within `grace_s`, stop every actor.

    Takes at most `grace_s` plus 14 s (`stop_bound_s`), even when the database is gone:
    every wait is bounded, a failure in one step does not skip the next, and every actor
    runs on a daemon thread, so an actor stuck in a call cannot keep the process alive.
    """
    if actors.listener is not None:
        actors.listener.stop()  # no more nudges; it ends, closing its connection, within 0.5 s
    with contextlib.suppress(pykka.ActorDeadError, pykka.Timeout):
        actors.root.stop().get(timeout=SUPERVISOR_ANSWER_S)  # no restarts while stopping
    try:
        _wind_down_portraits(actors, grace_s)
    except Exception as error:  # noqa: BLE001 - stopping goes on, whatever failed
        logger.bind(step="shutdown", cause=describe(error)).warning(
            "portraits in flight could not be wound down: {}", describe(error)
        )
    refs: list[pykka.ActorRef[Any]] = [ref for ref in actors.refs if ref.is_alive()]
    for child in (actors.webhooks.ref, actors.supervisor.ref):
        if child is not None:  # after the document and storage actors, as they started
            refs.insert(2, child)
    deadline = time.monotonic() + ACTORS_STOP_S
    for ref in reversed(refs):
        with contextlib.suppress(pykka.Timeout, pykka.ActorDeadError):
            ref.stop(block=False).get(timeout=max(0.0, deadline - time.monotonic()))
    actors.staging.close()
    try:
        release_connections(actors.db)
    except Exception as error:  # noqa: BLE001 - a pool that cannot close is left to exit
        logger.bind(step="shutdown").warning("idle connections not closed: {}", describe(error))


def stop_bound_s(grace_s: float) -> float:
    """The longest `stop_actors` takes."""
    return grace_s + 2 * SUPERVISOR_ANSWER_S + INTERRUPT_ANSWER_S + ACTORS_STOP_S


def _wind_down_portraits(actors: Actors, grace_s: float) -> None:
    try:
        supervisor = actors.supervisor.proxy()
        idle = supervisor.stop_accepting().get(timeout=SUPERVISOR_ANSWER_S)
    except (pykka.ActorDeadError, pykka.Timeout):
        return  # the portrait side is gone or stuck; leases settle what it held
    if not idle.wait(grace_s):
        supervisor.interrupt_in_flight().get(timeout=INTERRUPT_ANSWER_S)
