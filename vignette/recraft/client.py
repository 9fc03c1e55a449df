"""The Recraft protocol: one image generation request, and the download of its answer.

A plain class owned by a portrait worker (the worker is the concurrency, this is the
protocol). Every failure leaves as a `PortraitFailure` carrying its step and the
contract's code; httpx's own exceptions never escape. The API key is sent only in the
Authorization header and scrubbed from every message this module writes.

Hardening (issue 7):

- The image URL an answer hands us goes through the SSRF guard of `actors.url_guard`:
  https only, public addresses only (checked on the address actually connected), at most
  `MAX_REDIRECTS` redirects, each hop checked again. `allow_insecure_urls` lifts it.
- Error answers, text/plain or JSON `{code, message}`, become a clear headline
  (`not_enough_credits` -> `not enough credits`) followed by what Recraft said.
- Retries are opt-in (`max_attempts`, 1 by default: no retry). Only answers and errors that
  cannot have been billed are retried: 429, 5xx, and connection errors raised before the
  request was sent. A read timeout or a dropped connection after sending is never retried.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import random as _random
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpcore
import httpx
from loguru import logger
from pydantic import SecretStr

from vignette.config import RecraftSettings
from vignette.download.guard import (
    MAX_REDIRECTS,
    REDIRECT_STATUSES,
    GuardedBackend,
    PooledTransport,
    Resolver,
    UnsafeURL,
    check_url,
    is_local_host,
    system_resolve,
)
from vignette.errors import PortraitFailure
from vignette.records import PortraitErrorCode, Step
from vignette.storage.staging import StagingFile

if TYPE_CHECKING:
    from loguru import Logger

__all__ = [
    "RETRY_BASE_S",
    "RETRY_CAP_S",
    "RecraftClient",
    "describe_error_body",
    "is_local_host",
    "parse_retry_after",
    "shared_ssl_context",
]

BODY_EXCERPT_CHARS = 300
# Full-jitter exponential backoff between attempts: a random wait up to
# min(RETRY_CAP_S, RETRY_BASE_S * 2 ** (attempt - 1)), and never less than a Retry-After.
RETRY_BASE_S = 1.0
# The longest wait between two attempts. A Retry-After longer than this is not waited out
# inside the worker: the portrait fails `rate_limited` and the supervisor holds new calls.
RETRY_CAP_S = 30.0

# Recraft's JSON error codes we know, in plain words; other codes are shown with their
# underscores turned into spaces.
KNOWN_ERROR_CODES = {
    "not_enough_credits": "not enough credits",
    "unauthorized": "the API key was refused",
    "invalid_api_key": "the API key was refused",
}
# A headline for an answer that carries no code (Recraft's 401 is text/plain).
STATUS_HEADLINES = {
    400: "Recraft refused the request",
    401: "the API key was refused",
    402: "not enough credits",
    403: "access denied",
    404: "no such endpoint (check recraft.base_url)",
    413: "the request is too large",
    422: "Recraft refused the request",
}

_ssl_context: ssl.SSLContext | None = None
_ssl_lock = threading.Lock()


def shared_ssl_context() -> ssl.SSLContext:
    """One SSL context for every worker: building one costs about 20 ms."""
    global _ssl_context
    with _ssl_lock:
        if _ssl_context is None:
            _ssl_context = ssl.create_default_context()
        return _ssl_context


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= BODY_EXCERPT_CHARS else text[:BODY_EXCERPT_CHARS] + "..."


def _is_json(response: httpx.Response) -> bool:
    content_type: str = response.headers.get("content-type", "")
    return content_type.split(";")[0].strip().lower().endswith(("/json", "+json"))


def _error_code(response: httpx.Response) -> str | None:
    """The `code` of a JSON error answer, if it has one."""
    if not _is_json(response):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code.strip() if isinstance(code, str) and code.strip() else None


def describe_error_body(response: httpx.Response) -> str:
    """A short human reading of an error answer, JSON `{code, message}` or plain text."""
    if _is_json(response):
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            parts = [str(body[k]) for k in ("code", "message", "error") if body.get(k)]
            if parts:
                return _excerpt(": ".join(parts))
    return _excerpt(response.text) or "(empty body)"


def error_headline(response: httpx.Response) -> str:
    """What an error answer means, in a few plain words: from its JSON code, else its status."""
    code = _error_code(response)
    if code is not None:
        return KNOWN_ERROR_CODES.get(code.lower(), code.replace("_", " "))
    if response.status_code >= 500:
        return "Recraft failed on its side"
    return STATUS_HEADLINES.get(response.status_code, "Recraft refused the request")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


class _Retryable(Exception):
    """A failed attempt that cannot have been billed, so another attempt may follow."""

    def __init__(self, failure: PortraitFailure) -> None:
        super().__init__(str(failure))
        self.failure = failure


class RecraftClient:
    """Generates one image and downloads it; one instance per worker thread.

    `resolve` (host, port -> addresses; `socket.getaddrinfo` by default) and
    `network_backend` (the httpcore backend under both connection pools; the real sockets
    by default) exist for tests, which must do no real DNS; `sleep` and `random` let them
    check retry waits without waiting. `transport` replaces the HTTP layer altogether
    (then the address check of the SSRF guard is not reached; the URL checks still are).
    """

    def __init__(
        self,
        settings: RecraftSettings,
        api_key: SecretStr,
        *,
        max_file_bytes: int,
        allow_insecure_urls: bool = False,
        max_attempts: int = 1,
        transport: httpx.BaseTransport | None = None,
        resolve: Resolver = system_resolve,
        network_backend: httpcore.NetworkBackend | None = None,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
        self._settings = settings
        self._api_key = api_key
        self._max_file_bytes = max_file_bytes
        self._allow_insecure_urls = allow_insecure_urls
        self._max_attempts = max_attempts
        # Generation requests sent, retries included: each may be billed.
        self.requests_sent = 0
        self._sleep = sleep
        self._random = random
        context = shared_ssl_context()
        api_transport = transport
        image_transport = transport
        if transport is None:
            if network_backend is not None:
                api_transport = PooledTransport(context, network_backend)
            if not allow_insecure_urls:
                image_transport = PooledTransport(
                    context, GuardedBackend(resolve, inner=network_backend)
                )
            elif network_backend is not None:
                image_transport = PooledTransport(context, network_backend)
        timeout = httpx.Timeout(settings.timeout_s)
        self._http = httpx.Client(
            timeout=timeout, verify=context, transport=api_transport, follow_redirects=False
        )
        # Image hosts get a client of their own: its connections go through the guard.
        self._images = httpx.Client(
            timeout=timeout, verify=context, transport=image_transport, follow_redirects=False
        )

    def close(self) -> None:
        self._http.close()
        self._images.close()

    def _fail(
        self, step: Step, code: PortraitErrorCode, message: str, retry_after_s: float | None = None
    ) -> PortraitFailure:
        return PortraitFailure(
            step,
            code,
            message.replace(self._api_key.get_secret_value(), "[redacted]"),
            retry_after_s=retry_after_s,
        )

    # Request ------------------------------------------------------------------------------

    def request_body(self, prompt: str) -> dict[str, Any]:
        """The seed's body: prompt, style, model, size.

        recraftv4 models take no style (Recraft rejects it; their look comes from the prompt),
        so for them the body is prompt, model and size only.
        """
        body: dict[str, Any] = {"prompt": prompt}
        if self._settings.takes_style:
            body["style"] = self._settings.style
        body["model"] = self._settings.model
        body["size"] = self._settings.size
        return body

    def generate_image_url(self, prompt: str, log: Logger | None = None) -> str:
        """POST the prompt to Recraft and return the URL of the generated image.

        With `max_attempts` above 1, a 429, a 5xx or a connection that could not be made is
        tried again after a full-jitter exponential backoff that honours Retry-After; each
        retry is logged as a warning on `log` (bind the story id to it).
        """
        limit = self._settings.prompt_limit
        if len(prompt) > limit:
            raise self._fail(
                Step.VALIDATE,
                PortraitErrorCode.API_ERROR,
                f"the prompt is {len(prompt):,} characters; {self._settings.model} takes at "
                f"most {limit:,}, so it was not sent",
            )
        attempt = 1
        while True:
            try:
                return self._generate_once(prompt)
            except _Retryable as retryable:
                failure = retryable.failure
                delay = self._retry_delay(attempt, failure.retry_after_s)
                if attempt >= self._max_attempts or delay is None:
                    if attempt > 1:
                        failure = self._fail(
                            failure.step,
                            failure.code,
                            f"{str(failure).partition(': ')[2]} (after {attempt} attempts)",
                            failure.retry_after_s,
                        )
                    raise failure from None
                (log or logger.bind(step=Step.REQUEST)).warning(
                    "Recraft attempt {} of {} failed, trying again in {:.1f} s: {}",
                    attempt,
                    self._max_attempts,
                    delay,
                    failure.portrait_error,
                )
                self._sleep(delay)
                attempt += 1

    def _retry_delay(self, attempt: int, retry_after_s: float | None) -> float | None:
        """The wait before attempt `attempt + 1`, or None when Recraft asks for longer than
        `RETRY_CAP_S` (the worker does not wait that out)."""
        if retry_after_s is not None and retry_after_s > RETRY_CAP_S:
            return None
        ceiling = min(RETRY_CAP_S, RETRY_BASE_S * 2.0 ** (attempt - 1))
        backoff: float = self._random() * ceiling
        return max(backoff, retry_after_s or 0.0)

    def _generate_once(self, prompt: str) -> str:
        url = self._settings.base_url.rstrip("/") + "/images/generations"
        self.requests_sent += 1
        try:
            response = self._http.post(
                url,
                json=self.request_body(prompt),
                headers={"Authorization": f"Bearer {self._api_key.get_secret_value()}"},
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            # Raised before a byte of the request left: it cannot have been billed.
            raise _Retryable(
                self._fail(
                    Step.REQUEST,
                    PortraitErrorCode.API_ERROR,
                    f"could not reach Recraft at {url}: {type(error).__name__}: {error}",
                )
            ) from None
        except httpx.TimeoutException:
            raise self._fail(
                Step.REQUEST,
                PortraitErrorCode.API_ERROR,
                f"Recraft did not answer within {self._settings.timeout_s:g} s",
            ) from None
        except httpx.HTTPError as error:
            raise self._fail(
                Step.REQUEST,
                PortraitErrorCode.API_ERROR,
                f"the request to Recraft at {url} failed: {type(error).__name__}: {error}",
            ) from None
        if response.status_code == 429:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            detail = f" (Retry-After: {retry_after:g} s)" if retry_after is not None else ""
            raise _Retryable(
                self._fail(
                    Step.REQUEST,
                    PortraitErrorCode.RATE_LIMITED,
                    f"Recraft answered 429 Too Many Requests{detail}: "
                    f"{describe_error_body(response)}",
                    retry_after,
                )
            )
        if not response.is_success:
            failure = self._fail(
                Step.REQUEST,
                PortraitErrorCode.API_ERROR,
                f"{error_headline(response)} (Recraft answered {response.status_code}: "
                f"{describe_error_body(response)})",
                parse_retry_after(response.headers.get("retry-after")),
            )
            if response.status_code >= 500:
                raise _Retryable(failure)
            raise failure
        return self._parse_image_url(response)

    def _parse_image_url(self, response: httpx.Response) -> str:
        def bad(problem: str) -> PortraitFailure:
            return self._fail(Step.PARSE, PortraitErrorCode.BAD_RESPONSE, problem)

        if not _is_json(response):
            content_type = response.headers.get("content-type", "no content type")
            raise bad(f"answer is {content_type}, not JSON: {_excerpt(response.text)}")
        try:
            body = response.json()
        except (ValueError, json.JSONDecodeError):
            raise bad(f"answer is not valid JSON: {_excerpt(response.text)}") from None
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or not data:
            raise bad(f"answer has no data list: {_excerpt(response.text)}")
        first = data[0]
        image_url = first.get("url") if isinstance(first, dict) else None
        if not isinstance(image_url, str) or not image_url.strip():
            raise bad(f"answer has no data[0].url: {_excerpt(response.text)}")
        return image_url.strip()

    # Download -----------------------------------------------------------------------------

    def download(self, image_url: str, sink: StagingFile) -> str:
        """Stream the image into `sink`, enforcing the size cap; return its Content-Type.

        Redirects are followed here, at most `MAX_REDIRECTS`, each hop checked like the
        first URL; a refused hop is never requested.
        """

        def fail(code: PortraitErrorCode, problem: str) -> PortraitFailure:
            return self._fail(Step.DOWNLOAD, code, f"{problem} (url: {image_url})")

        deadline = time.monotonic() + self._settings.timeout_s
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
                    response = self._images.send(
                        self._images.build_request("GET", url), stream=True
                    )
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
        self,
        response: httpx.Response,
        sink: StagingFile,
        deadline: float,
        fail: Callable[[PortraitErrorCode, str], PortraitFailure],
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
                        f"download took longer than {self._settings.timeout_s:g} s",
                    )
        served_type: str = response.headers.get("content-type", "")
        return served_type

    @contextlib.contextmanager
    def _download_errors(
        self, fail: Callable[[PortraitErrorCode, str], PortraitFailure]
    ) -> Iterator[None]:
        """Translate httpx's errors while talking to the image host into `download_error`."""
        try:
            yield
        except httpx.TimeoutException:
            raise fail(
                PortraitErrorCode.DOWNLOAD_ERROR,
                f"image host did not answer within {self._settings.timeout_s:g} s",
            ) from None
        except httpx.HTTPError as error:
            raise fail(
                PortraitErrorCode.DOWNLOAD_ERROR, f"{type(error).__name__}: {error}"
            ) from None

    def _too_large(self, size: int | None) -> str:
        actual = f"{size:,} bytes" if size is not None else "more"
        return f"image is {actual}; the limit is storage.max_file_bytes = {self._max_file_bytes:,}"
