"""The POST of one webhook attempt and what its answer means.

The target passes the same SSRF guard as image downloads (`vignette.download.guard`):
https only and no loopback, private or link-local host, checked on the URL at start and
again on every connection's resolved address, unless `webhooks.allow_insecure_urls`.
Redirects are not followed (a 3xx is a failed attempt). The secret travels only inside
the signature.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import httpcore
import httpx

from vignette.config import ConfigError
from vignette.download.guard import (
    GuardedBackend,
    Resolver,
    UnsafeURL,
    is_local_host,
    system_resolve,
)
from vignette.net.tls import shared_ssl_context
from vignette.net.transport import PooledTransport
from vignette.webhooks.schedule import RETRY_AFTER_STATUSES, retry_after_s
from vignette.webhooks.signing import Signer

# The whole attempt, connect to last byte of the answer.
DELIVERY_TIMEOUT_S = 15.0
# How much of an error answer's body is kept with the event.
ERROR_EXCERPT_CHARS = 200


def check_target(url: str, *, allow_insecure: bool) -> None:
    """Refuse a webhook URL that is not https, or names a local host, unless allowed:
    `ConfigError`, one line."""
    parsed = httpx.URL(url)
    if allow_insecure:
        return
    why = None
    if parsed.scheme != "https":
        why = "it is not https"
    elif is_local_host(parsed.host):
        why = "its host is a loopback, private or link-local address"
    if why is not None:
        raise ConfigError(
            f"webhooks.url = {url!r} is not allowed: {why} (webhooks.allow_insecure_urls = "
            "true permits it, for local testing only)"
        )


@dataclass(frozen=True, slots=True)
class Answer:
    """What one attempt got: a status code, or an error before any answer."""

    status_code: int | None = None
    error: str | None = None
    # Seconds the receiver's Retry-After asked for, on 429/502/503/504.
    retry_after_s: float | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        """410 Gone: the receiver wants no more events; the endpoint is disabled."""
        return self.status_code == 410


class WebhookSender:
    """POSTs signed events to one URL; one instance per dispatcher (one httpx client)."""

    def __init__(
        self,
        url: str,
        secrets: Sequence[str],
        *,
        allow_insecure_urls: bool = False,
        resolve: Resolver = system_resolve,
        network_backend: httpcore.NetworkBackend | None = None,
        timeout_s: float = DELIVERY_TIMEOUT_S,
    ) -> None:
        check_target(url, allow_insecure=allow_insecure_urls)
        self.url = url
        self._signer = Signer(secrets)
        context = shared_ssl_context()
        transport: httpx.BaseTransport | None = None
        if not allow_insecure_urls:
            transport = PooledTransport(context, GuardedBackend(resolve, inner=network_backend))
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            verify=context,
            transport=transport,
            follow_redirects=False,
            trust_env=False,
        )

    def close(self) -> None:
        self._http.close()

    def send(self, event_id: str, body: str) -> Answer:
        """One attempt: POST the body with fresh signature headers; never raises for the
        network or the receiver's answer."""
        headers = self._signer.headers(event_id, body)
        try:
            response = self._http.post(self.url, content=body.encode(), headers=headers)
        except UnsafeURL as error:
            return Answer(error=f"insecure_url: {str(error).replace('image host', 'host')}")
        except httpx.HTTPError as error:
            return Answer(error=f"{type(error).__name__}: {error}"[:ERROR_EXCERPT_CHARS])
        code = response.status_code
        wait = None
        if code in RETRY_AFTER_STATUSES:
            wait = retry_after_s(response.headers.get("retry-after"))
        problem = None
        if not 200 <= code < 300:
            problem = f"HTTP {code}: {response.text.strip()[:ERROR_EXCERPT_CHARS]}".rstrip(": ")
        return Answer(status_code=code, error=problem, retry_after_s=wait)
