"""The Recraft protocol: one image generation request, and the download of its answer.

A plain class owned by a portrait worker (the worker is the concurrency, this is the
protocol). Every failure leaves as a `PortraitFailure` carrying its step and the
contract's code; httpx's own exceptions never escape. The API key is sent only in the
Authorization header and scrubbed from every message this module writes.
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import socket
import ssl
import threading
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from actors.errors import PortraitFailure
from actors.records import PortraitErrorCode, Step
from actors.storage import StagingFile
from config import RecraftSettings, Secret

CHUNK_BYTES = 64 * 1024
BODY_EXCERPT_CHARS = 300

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


def is_local_host(host: str) -> bool:
    """True for `localhost` names and for addresses that are not global (loopback, private,
    link-local...), legacy numeric forms such as `2130706433` or `127.1` included."""
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(name))
        except OSError:
            return False  # a domain name
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global


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


class RecraftClient:
    """Generates one image and downloads it; one instance per worker thread."""

    def __init__(
        self,
        settings: RecraftSettings,
        api_key: Secret,
        *,
        max_file_bytes: int,
        allow_insecure_urls: bool = False,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._api_key = api_key
        self._max_file_bytes = max_file_bytes
        self._allow_insecure_urls = allow_insecure_urls
        self._http = httpx.Client(
            timeout=httpx.Timeout(settings.timeout_s),
            verify=shared_ssl_context(),
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def _fail(self, step: Step, code: PortraitErrorCode, message: str) -> PortraitFailure:
        return PortraitFailure(step, code, message.replace(self._api_key.reveal(), "[redacted]"))

    def request_body(self, prompt: str) -> dict[str, Any]:
        """Exactly the seed's body: prompt, style, model, size."""
        return {
            "prompt": prompt,
            "style": self._settings.style,
            "model": self._settings.model,
            "size": self._settings.size,
        }

    def generate_image_url(self, prompt: str) -> str:
        """POST the prompt to Recraft and return the URL of the generated image."""
        url = self._settings.base_url.rstrip("/") + "/images/generations"
        try:
            response = self._http.post(
                url,
                json=self.request_body(prompt),
                headers={"Authorization": f"Bearer {self._api_key.reveal()}"},
            )
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
                f"could not reach Recraft at {url}: {type(error).__name__}: {error}",
            ) from None
        if response.status_code == 429:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            detail = f" (Retry-After: {retry_after:g} s)" if retry_after is not None else ""
            failure = self._fail(
                Step.REQUEST,
                PortraitErrorCode.RATE_LIMITED,
                f"Recraft answered 429 Too Many Requests{detail}: {describe_error_body(response)}",
            )
            failure.retry_after_s = retry_after
            raise failure
        if not response.is_success:
            raise self._fail(
                Step.REQUEST,
                PortraitErrorCode.API_ERROR,
                f"Recraft answered {response.status_code}: {describe_error_body(response)}",
            )
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

    def download(self, image_url: str, sink: StagingFile) -> str:
        """Stream the image into `sink`, enforcing the size cap; return its Content-Type."""

        def fail(code: PortraitErrorCode, problem: str) -> PortraitFailure:
            return self._fail(Step.DOWNLOAD, code, f"{problem} (url: {image_url})")

        try:
            url = httpx.URL(image_url)
        except httpx.InvalidURL as error:
            raise fail(PortraitErrorCode.DOWNLOAD_ERROR, f"invalid image URL: {error}") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise fail(PortraitErrorCode.DOWNLOAD_ERROR, "invalid image URL")
        if url.scheme == "http" and not self._allow_insecure_urls:
            raise fail(PortraitErrorCode.INSECURE_URL, "image URL is not https")
        if is_local_host(url.host) and not self._allow_insecure_urls:
            raise fail(
                PortraitErrorCode.INSECURE_URL,
                "image URL points to a loopback, private or link-local host",
            )
        deadline = time.monotonic() + self._settings.timeout_s
        try:
            with self._http.stream("GET", url) as response:
                if not response.is_success:
                    raise fail(
                        PortraitErrorCode.DOWNLOAD_ERROR,
                        f"image download answered {response.status_code}",
                    )
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self._max_file_bytes:
                    raise fail(PortraitErrorCode.TOO_LARGE, self._too_large(int(declared)))
                for chunk in response.iter_bytes(CHUNK_BYTES):
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
