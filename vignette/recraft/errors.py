"""Recraft's error answers in plain words: a headline, what Recraft said, its Retry-After,
and whether another attempt may follow (`read_error_answer`).

Error answers are not always JSON (Recraft's 401 is text/plain "request unauthorized"), so
JSON is read only when the Content-Type says so; JSON errors look like `{code, message}`.
A known code gets plain words (`not_enough_credits` -> `not enough credits`), another code
has its underscores turned into spaces, and an answer without a code is named by its status.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from vignette.net.messages import excerpt
from vignette.records import PortraitErrorCode

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


@dataclass(frozen=True, slots=True)
class ErrorAnswer:
    """What an error answer from the generation endpoint means for the portrait."""

    code: PortraitErrorCode
    message: str
    retry_after_s: float | None
    # A 429 or a 5xx cannot have been billed: another attempt may follow.
    retryable: bool


def read_error_answer(response: httpx.Response) -> ErrorAnswer:
    """The code, message and Retry-After of an answer that is not a success."""
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if response.status_code == 429:
        detail = f" (Retry-After: {retry_after:g} s)" if retry_after is not None else ""
        return ErrorAnswer(
            PortraitErrorCode.RATE_LIMITED,
            f"Recraft answered 429 Too Many Requests{detail}: {describe_error_body(response)}",
            retry_after,
            retryable=True,
        )
    return ErrorAnswer(
        PortraitErrorCode.API_ERROR,
        f"{error_headline(response)} (Recraft answered {response.status_code}: "
        f"{describe_error_body(response)})",
        retry_after,
        retryable=response.status_code >= 500,
    )


def is_json(response: httpx.Response) -> bool:
    """Whether the answer's Content-Type says JSON (`application/json`, `...+json`)."""
    content_type: str = response.headers.get("content-type", "")
    return content_type.split(";")[0].strip().lower().endswith(("/json", "+json"))


def _error_code(response: httpx.Response) -> str | None:
    """The `code` of a JSON error answer, if it has one."""
    if not is_json(response):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code.strip() if isinstance(code, str) and code.strip() else None


def describe_error_body(response: httpx.Response) -> str:
    """A short human reading of an error answer, JSON `{code, message}` or plain text."""
    if is_json(response):
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            parts = [str(body[k]) for k in ("code", "message", "error") if body.get(k)]
            if parts:
                return excerpt(": ".join(parts))
    return excerpt(response.text) or "(empty body)"


def error_headline(response: httpx.Response) -> str:
    """What an error answer means, in a few plain words: from its JSON code, else its status."""
    code = _error_code(response)
    if code is not None:
        return KNOWN_ERROR_CODES.get(code.lower(), code.replace("_", " "))
    if response.status_code >= 500:
        return "Recraft failed on its side"
    return STATUS_HEADLINES.get(response.status_code, "Recraft refused the request")


# delay-seconds longer than this many digits is not a real answer (and overflows a float).
MAX_RETRY_AFTER_DIGITS = 10


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit alone takes "²" and "٣"
        return float(value) if len(value) <= MAX_RETRY_AFTER_DIGITS else None
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())
