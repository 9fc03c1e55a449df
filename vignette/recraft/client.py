"""The Recraft request: one image generation call, its retries, and the image URL it answers.

A plain class owned by a portrait worker (the worker is the concurrency, this is the
protocol). Every failure leaves as a `PortraitFailure` carrying its step and the
contract's code; httpx's own exceptions never escape. The API key is sent only in the
Authorization header and scrubbed from every message this module writes. Error answers are
put in plain words by `recraft/errors.py`; the image the answer points to is fetched by the
download package (`download/downloader.py`), through `RecraftClient.download`, so a worker
has this one client for everything Recraft hands it.

Retries are opt-in (`max_attempts`, 1 by default: no retry). Only answers and errors that
cannot have been billed are retried: 429, 5xx, and connection errors raised before the
request was sent. A read timeout or a dropped connection after sending is never retried.
"""

from __future__ import annotations

import json
import random as _random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpcore
import httpx
from loguru import logger
from pydantic import SecretStr

from vignette.config import RecraftSettings
from vignette.download.downloader import ImageDownloader
from vignette.download.guard import Resolver, system_resolve
from vignette.errors import PortraitFailure
from vignette.net.messages import excerpt, scrub
from vignette.net.tls import shared_ssl_context
from vignette.net.transport import PooledTransport
from vignette.records import PortraitErrorCode, Step
from vignette.recraft.errors import error_headline, is_json, read_error_answer
from vignette.recraft.gate import CallGate, CallOutcome, answer_credits
from vignette.storage.staging import StagingFile

if TYPE_CHECKING:
    from loguru import Logger

# Full-jitter exponential backoff between attempts: a random wait up to
# min(RETRY_CAP_S, RETRY_BASE_S * 2 ** (attempt - 1)), and never less than a Retry-After.
RETRY_BASE_S = 1.0
# The longest wait between two attempts. A Retry-After longer than this is not waited out
# inside the worker: the portrait fails `rate_limited` and the supervisor holds new calls.
RETRY_CAP_S = 30.0
NO_CREDITS = "not enough credits"  # the headline of a 402 or a `not_enough_credits` answer


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
    (then the address check of the URL guard is not reached; the URL checks still are).
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
        self._max_attempts = max_attempts
        # Generation requests sent, retries included: each may be billed.
        self.requests_sent = 0
        # What the last successful answer said the image cost, when it said.
        self.credits: int | None = None
        self._sleep = sleep
        self._random = random
        context = shared_ssl_context()
        api_transport = transport
        if transport is None and network_backend is not None:
            api_transport = PooledTransport(context, network_backend)
        self._http = httpx.Client(
            timeout=httpx.Timeout(settings.timeout_s),
            verify=context,
            transport=api_transport,
            follow_redirects=False,
        )
        # Image hosts get a client of their own: its connections go through the guard.
        self._downloader = ImageDownloader(
            timeout_s=settings.timeout_s,
            max_file_bytes=max_file_bytes,
            allow_insecure_urls=allow_insecure_urls,
            transport=transport,
            resolve=resolve,
            network_backend=network_backend,
            key=api_key,
        )

    def close(self) -> None:
        self._http.close()
        self._downloader.close()

    def download(self, image_url: str, sink: StagingFile) -> str:
        """Stream the image an answer points to into `sink`; return its Content-Type.

        See `ImageDownloader.download`: the URL guard, at most `MAX_REDIRECTS` redirects, the
        size cap, and failures at the download step.
        """
        return self._downloader.download(image_url, sink)

    def _fail(
        self, step: Step, code: PortraitErrorCode, message: str, retry_after_s: float | None = None
    ) -> PortraitFailure:
        return PortraitFailure(
            step, code, scrub(message, self._api_key), retry_after_s=retry_after_s
        )

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

    def generate_image_url(
        self, prompt: str, log: Logger | None = None, gate: CallGate | None = None
    ) -> str:
        """POST the prompt to Recraft and return the URL of the generated image.

        With `max_attempts` above 1, a 429, a 5xx or a connection that could not be made is
        tried again after a full-jitter exponential backoff that honours Retry-After; each
        retry is logged as a warning on `log` (bind the story id to it). `gate` records each
        retry before it is sent (or refuses it) and hears how every call ended.
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
        self.credits = None
        while True:
            try:
                return self._generate_once(prompt, attempt, gate)
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
                # The retry is recorded in the call ledger before it is sent, or not sent.
                refused = None if gate is None else gate.admit(attempt + 1)
                if refused is not None:
                    message = str(failure).partition(": ")[2]
                    raise self._fail(
                        failure.step,
                        failure.code,
                        f"{message} (after {attempt} attempts; retry not sent: {refused})",
                        failure.retry_after_s,
                    ) from None
                attempt += 1

    def _retry_delay(self, attempt: int, retry_after_s: float | None) -> float | None:
        """The wait before attempt `attempt + 1`, or None when Recraft asks for longer than
        `RETRY_CAP_S` (the worker does not wait that out)."""
        if retry_after_s is not None and retry_after_s > RETRY_CAP_S:
            return None
        ceiling = min(RETRY_CAP_S, RETRY_BASE_S * 2.0 ** (attempt - 1))
        backoff: float = self._random() * ceiling
        return max(backoff, retry_after_s or 0.0)

    def _generate_once(self, prompt: str, call: int = 1, gate: CallGate | None = None) -> str:
        url = self._settings.base_url.rstrip("/") + "/images/generations"
        self.requests_sent += 1
        self._answer: tuple[int | None, bool] = (None, False)  # an error answer's status
        try:
            image_url = self._post(url, prompt)
        except _Retryable as retryable:
            self._tell(gate, call, retryable.failure)
            raise
        except PortraitFailure as failure:
            self._tell(gate, call, failure)
            raise
        if gate is not None:
            gate.answered(CallOutcome(call, "ok", self.credits))
        return image_url

    def _tell(self, gate: CallGate | None, call: int, failure: PortraitFailure) -> None:
        if gate is not None:
            status, no_credits = self._answer
            outcome = "error" if status is None else f"http_{status}"
            detail = failure.portrait_error
            gate.answered(
                CallOutcome(call, outcome, None, failure.retry_after_s, no_credits, detail)
            )

    def _post(self, url: str, prompt: str) -> str:
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
        if not response.is_success:
            answer = read_error_answer(response)
            failure = self._fail(Step.REQUEST, answer.code, answer.message, answer.retry_after_s)
            self._answer = (response.status_code, error_headline(response) == NO_CREDITS)
            raise _Retryable(failure) if answer.retryable else failure
        image_url, self.credits = _image_url(response, self._fail)
        return image_url


def _image_url(
    response: httpx.Response, fail: Callable[[Step, PortraitErrorCode, str], PortraitFailure]
) -> tuple[str, int | None]:
    """`data[0].url` and `credits` of a successful answer, or a `bad_response` failure at
    the parse step."""

    def bad(problem: str) -> PortraitFailure:
        return fail(Step.PARSE, PortraitErrorCode.BAD_RESPONSE, problem)

    if not is_json(response):
        content_type = response.headers.get("content-type", "no content type")
        raise bad(f"answer is {content_type}, not JSON: {excerpt(response.text)}")
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        raise bad(f"answer is not valid JSON: {excerpt(response.text)}") from None
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or not data:
        raise bad(f"answer has no data list: {excerpt(response.text)}")
    first = data[0]
    image_url = first.get("url") if isinstance(first, dict) else None
    if not isinstance(image_url, str) or not image_url.strip():
        raise bad(f"answer has no data[0].url: {excerpt(response.text)}")
    return image_url.strip(), answer_credits(body)
