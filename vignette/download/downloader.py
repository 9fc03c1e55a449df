"""The image download: the bytes a Recraft answer points to, streamed into a staging file.

`ImageDownloader` owns the HTTP client that talks to image hosts, one per worker. Its
connections go through the URL guard (`download/guard.py`) unless `allow_insecure_urls`
lifts it; redirects are followed here, at most `MAX_REDIRECTS`, each hop checked like the
first URL, and a refused hop is never requested. The bytes go into a `StagingFile` (which
keeps the running sha256 and size) as the socket reads come, and reading stops at
`max_file_bytes`. Every failure leaves as a `PortraitFailure` at the download step
(`download_error`, `too_large`, `insecure_url`); httpx's own exceptions never escape.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import httpcore
import httpx
from pydantic import SecretStr

from vignette.download.guard import (
    MAX_REDIRECTS,
    REDIRECT_STATUSES,
    GuardedBackend,
    Resolver,
    UnsafeURL,
    check_url,
    system_resolve,
)
from vignette.errors import PortraitFailure
from vignette.net.messages import scrub
from vignette.net.tls import shared_ssl_context
from vignette.net.transport import PooledTransport
from vignette.records import PortraitErrorCode, Step
from vignette.storage.staging import StagingFile

Fail = Callable[[PortraitErrorCode, str], PortraitFailure]


class ImageDownloader:
    """Downloads images into staging files; one instance per worker thread.

    `resolve` and `network_backend` exist for tests, which must do no real DNS (see
    `RecraftClient`); `transport` replaces the HTTP layer altogether. `key` (the Recraft
    API key) is scrubbed from every message, should an image URL ever carry it.
    """

    def __init__(
        self,
        *,
        timeout_s: float,
        max_file_bytes: int,
        allow_insecure_urls: bool = False,
        transport: httpx.BaseTransport | None = None,
        resolve: Resolver = system_resolve,
        network_backend: httpcore.NetworkBackend | None = None,
        key: SecretStr | None = None,
    ) -> None:
        self._timeout_s = timeout_s
        self._max_file_bytes = max_file_bytes
        self._allow_insecure_urls = allow_insecure_urls
        self._key = key
        context = shared_ssl_context()
        if transport is None:
            if not allow_insecure_urls:
                transport = PooledTransport(context, GuardedBackend(resolve, inner=network_backend))
            elif network_backend is not None:
                transport = PooledTransport(context, network_backend)
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            verify=context,
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def download(self, image_url: str, sink: StagingFile) -> str:
        """Stream the image into `sink`, enforcing the size cap; return its Content-Type."""

        def fail(code: PortraitErrorCode, problem: str) -> PortraitFailure:
            message = scrub(f"{problem} (url: {image_url})", self._key)
            return PortraitFailure(Step.DOWNLOAD, code, message)

        deadline = time.monotonic() + self._timeout_s
        hop_url = image_url
        for redirects in range(MAX_REDIRECTS + 1):
            hop = "image URL" if redirects == 0 else f"redirect {redirects} to {hop_url}"
            try:
                url = httpx.URL(hop_url)
                check_url(url, allow_insecure=self._allow_insecure_urls)
            except (httpx.InvalidURL, ValueError) as error:
                problem = "invalid image URL" if redirects == 0 else f"{hop} is invalid"
                detail = f": {error}" if isinstance(error, httpx.InvalidURL) else ""
                raise fail(PortraitErrorCode.DOWNLOAD_ERROR, problem + detail) from None
            except UnsafeURL as error:
                problem = str(error) if redirects == 0 else f"{hop} refused: {error}"
                raise fail(PortraitErrorCode.INSECURE_URL, problem) from None
            try:
                with self._download_errors(fail):
                    response = self._http.send(self._http.build_request("GET", url), stream=True)
            except UnsafeURL as error:
                problem = str(error) if redirects == 0 else f"{hop} refused: {error}"
                raise fail(PortraitErrorCode.INSECURE_URL, problem) from None
            try:
                if response.status_code not in REDIRECT_STATUSES:
                    return self._read_image(response, sink, deadline, fail)
                location = response.headers.get("location", "").strip()
            finally:
                response.close()
            if not location:
                raise fail(
                    PortraitErrorCode.DOWNLOAD_ERROR,
                    f"image host answered {response.status_code} without a Location",
                )
            try:
                hop_url = str(url.join(location))
            except httpx.InvalidURL as error:
                raise fail(
                    PortraitErrorCode.DOWNLOAD_ERROR, f"invalid redirect {location!r}: {error}"
                ) from None
        raise fail(
            PortraitErrorCode.DOWNLOAD_ERROR,
            f"more than {MAX_REDIRECTS} redirects (the last to {hop_url})",
        )

    def _read_image(
        self, response: httpx.Response, sink: StagingFile, deadline: float, fail: Fail
    ) -> str:
        if not response.is_success:
            raise fail(
                PortraitErrorCode.DOWNLOAD_ERROR, f"image download answered {response.status_code}"
            )
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self._max_file_bytes:
            raise fail(PortraitErrorCode.TOO_LARGE, self._too_large(int(declared)))
        with self._download_errors(fail):
            # As the socket reads come (at most 64 KB each): re-chunking them costs CPU.
            for chunk in response.iter_bytes():
                if sink.size + len(chunk) > self._max_file_bytes:
                    raise fail(PortraitErrorCode.TOO_LARGE, self._too_large(None))
                sink.write(chunk)
                if time.monotonic() > deadline:
                    raise fail(
                        PortraitErrorCode.DOWNLOAD_ERROR,
                        f"download took longer than {self._timeout_s:g} s",
                    )
        served_type: str = response.headers.get("content-type", "")
        return served_type

    @contextlib.contextmanager
    def _download_errors(self, fail: Fail) -> Iterator[None]:
        """Translate httpx's errors while talking to the image host into `download_error`."""
        try:
            yield
        except httpx.TimeoutException:
            raise fail(
                PortraitErrorCode.DOWNLOAD_ERROR,
                f"image host did not answer within {self._timeout_s:g} s",
            ) from None
        except httpx.HTTPError as error:
            raise fail(
                PortraitErrorCode.DOWNLOAD_ERROR, f"{type(error).__name__}: {error}"
            ) from None

    def _too_large(self, size: int | None) -> str:
        actual = f"{size:,} bytes" if size is not None else "more"
        return f"image is {actual}; the limit is storage.max_file_bytes = {self._max_file_bytes:,}"
