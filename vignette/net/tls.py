"""The one SSL context every HTTPS client of the process uses."""

from __future__ import annotations

import ssl
import threading

_ssl_context: ssl.SSLContext | None = None
_ssl_lock = threading.Lock()


def shared_ssl_context() -> ssl.SSLContext:
    """One SSL context for every worker and writer: building one costs about 20 ms."""
    global _ssl_context
    with _ssl_lock:
        if _ssl_context is None:
            _ssl_context = ssl.create_default_context()
        return _ssl_context
