"""The one SSL context the process's HTTPS clients share."""

from __future__ import annotations

import ssl
import threading

from vignette.net.tls import shared_ssl_context


def test_every_caller_gets_the_same_verifying_context_even_from_many_threads_at_once() -> None:
    seen: list[ssl.SSLContext] = []
    threads = [threading.Thread(target=lambda: seen.append(shared_ssl_context())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert len(seen) == 8
    assert all(context is seen[0] for context in seen)
    assert seen[0].verify_mode is ssl.CERT_REQUIRED
    assert seen[0] is shared_ssl_context()
