"""An httpx transport over a chosen httpcore network backend: the URL guard's, or a test's."""

from __future__ import annotations

import ssl

import httpcore
import httpx


class PooledTransport(httpx.HTTPTransport):
    """httpx's own transport over a chosen httpcore network backend.

    Subclassing `httpx.HTTPTransport` (rather than wrapping httpcore directly) keeps
    pytest-httpx able to stand in for it: it patches `HTTPTransport.handle_request`.
    """

    def __init__(self, ssl_context: ssl.SSLContext, network_backend: httpcore.NetworkBackend):
        super().__init__(verify=ssl_context)
        limits = httpx.Limits()
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=network_backend,
        )
