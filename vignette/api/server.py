"""Serving the app with uvicorn, leaving signals to Vignette and naming the URL it listens on."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator

import uvicorn
from fastapi import FastAPI

# How long a stopping server lets open requests finish before closing them.
GRACEFUL_SHUTDOWN_S = 5


class VignetteServer(uvicorn.Server):
    """uvicorn that leaves signals to its caller and reports its URL once it listens.

    uvicorn would install its own SIGINT/SIGTERM handlers while it serves, and raise the
    signal again when it returns; the `serve` command handles both signals itself (the first
    stops uvicorn and then the actors, the second exits at once) and sets `should_exit`.
    """

    def __init__(
        self,
        app: FastAPI,
        host: str,
        port: int,
        on_started: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_config=None,  # its records go to loguru (vignette.config.logging)
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            )
        )
        self._on_started = on_started

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self._on_started is not None:
            self._on_started(self.url)

    @property
    def url(self) -> str:
        """The address it listens on (the real port when the configured one is 0)."""
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}"
