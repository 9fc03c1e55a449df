"""The root of the supervision tree: it restarts an actor that died, as OTP restarts a child.

Pykka has no supervisors. A child the root supervises tells it `ChildFailed` from its
`on_failure` (pykka runs that hook when a told message raises); the root logs the failure at
ERROR with its traceback and starts a new incarnation after a jittered backoff. More than
`portraits.max_restarts` failures within `portraits.restart_window_s` and it gives up: that
is logged as critical and shown by `/healthz` until the process is restarted. Peers reach a
child through its `Address`, which always names the current incarnation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar, cast

import pykka
from loguru import logger
from pykka.typing import ActorMemberMixin, proxy_method

from vignette import metrics
from vignette.actors.restarts import RestartPolicy
from vignette.actors.timers import DelayedTells
from vignette.config import PortraitSettings
from vignette.errors import describe

P = TypeVar("P", bound=pykka.ActorProxy[Any])


class Address(Generic[P]):
    """A restartable actor's stable address: the ref of whichever incarnation is running."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ref: pykka.ActorRef[Any] | None = None

    @property
    def ref(self) -> pykka.ActorRef[Any] | None:
        with self._lock:
            return self._ref

    def set(self, ref: pykka.ActorRef[Any] | None) -> None:
        with self._lock:
            self._ref = ref

    def is_alive(self) -> bool:
        ref = self.ref
        return ref is not None and ref.is_alive()

    def tell(self, message: object) -> None:
        """Tell the running incarnation; raises `pykka.ActorDeadError` when none runs."""
        ref = self.ref
        if ref is None:
            raise pykka.ActorDeadError("the actor is restarting")
        ref.tell(message)

    def proxy(self) -> P:
        """The running incarnation's proxy; raises `pykka.ActorDeadError` when none runs."""
        ref = self.ref
        if ref is None:
            raise pykka.ActorDeadError("the actor is restarting")
        return cast(P, ref.proxy())


@dataclass(frozen=True, slots=True)
class ChildFailed:
    """Told by a supervised child's `on_failure`: it died of `error`."""

    name: str
    ref: pykka.ActorRef[Any]
    error: BaseException | None
    traceback: TracebackType | None


@dataclass(frozen=True, slots=True)
class RestartChild:
    """The backoff after a failure has passed: start the child's next incarnation."""

    name: str


@dataclass(frozen=True, slots=True)
class RootStatus:
    restarts: int
    # Why the root gave up on a child (logged as critical), or None while it has not.
    gave_up: str | None


# Starts a child's next incarnation, given the root's ref.
StartChild = Callable[[pykka.ActorRef[Any]], pykka.ActorRef[Any]]


@dataclass(frozen=True, slots=True)
class Child:
    name: str
    start: StartChild
    address: Address[Any]


class Root(pykka.ThreadingActor):
    """Starts its children, and restarts each one that dies, within an intensity limit."""

    use_daemon_thread = True

    def __init__(self, children: list[Child], settings: PortraitSettings) -> None:
        super().__init__()
        self._children = {child.name: child for child in children}
        self._policy = RestartPolicy(settings)
        self._later = DelayedTells(self.actor_ref)
        self._gave_up: str | None = None

    def on_start(self) -> None:
        for child in self._children.values():
            child.address.set(child.start(self.actor_ref))

    def on_stop(self) -> None:
        self._later.cancel()

    def status(self) -> RootStatus:
        return RootStatus(self._policy.restarts, self._gave_up)

    def on_receive(self, message: Any) -> None:
        match message:
            case ChildFailed(name, ref, error, traceback):
                if self._children[name].address.ref is ref:  # not one replaced already
                    self._failed(name, error, traceback)
            case RestartChild(name):
                self._restart(name)
            case _:
                super().on_receive(message)

    def _failed(
        self, name: str, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._children[name].address.set(None)
        log = logger.bind(step="supervise", actor=name, cause=type(error).__name__)
        exc_info = (None if error is None else type(error), error, traceback)
        log.opt(exception=exc_info).error("{} died: {}", name, describe(error))
        delay = self._policy.restart_delay()
        if delay is None:
            self._gave_up = self._policy.giving_up(name)
            log.critical(self._gave_up)
            return
        metrics.ACTOR_RESTARTS.labels(name).inc()
        self._later.tell_later(delay, RestartChild(name))

    def _restart(self, name: str) -> None:
        child = self._children[name]
        try:
            child.address.set(child.start(self.actor_ref))
        except Exception as error:  # noqa: BLE001 - a failed start counts as one more failure
            self._failed(name, error, error.__traceback__)
            return
        logger.bind(step="supervise", actor=name).info("{} restarted", name)


class RootProxy(ActorMemberMixin, pykka.ActorProxy[Root]):
    status = proxy_method(Root.status)
