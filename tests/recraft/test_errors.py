"""Recraft's error answers, through RecraftClient: in plain words, with the key redacted.

pytest-httpx stands in for Recraft.
"""

from __future__ import annotations

from typing import Any

import pytest
from pytest_httpx import HTTPXMock

from tests.conftest import API_KEY
from tests.recraft.conftest import GENERATIONS_URL, Client
from vignette.records import Step
from vignette.recraft.errors import parse_retry_after

# Error answers in plain words ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "answer", "error"),
    [
        pytest.param(
            402,
            {"json": {"code": "not_enough_credits", "message": "Top up your account"}},
            "api_error: not enough credits (Recraft answered 402: not_enough_credits: "
            "Top up your account)",
            id="json-not-enough-credits",
        ),
        pytest.param(
            400,
            {"json": {"code": "invalid_image_size", "message": "size 5x5 is not supported"}},
            "api_error: invalid image size (Recraft answered 400: invalid_image_size: "
            "size 5x5 is not supported)",
            id="json-unknown-code-humanised",
        ),
        pytest.param(
            400,
            {"json": {"message": "prompt is required"}},
            "api_error: Recraft refused the request (Recraft answered 400: prompt is required)",
            id="json-without-code",
        ),
        pytest.param(
            401,
            {"text": "request unauthorized", "headers": {"content-type": "text/plain"}},
            "api_error: the API key was refused (Recraft answered 401: request unauthorized)",
            id="text-plain-401",
        ),
        pytest.param(
            404,
            {"text": "404 page not found", "headers": {"content-type": "text/plain"}},
            "api_error: no such endpoint (check recraft.base_url) (Recraft answered 404: "
            "404 page not found)",
            id="text-plain-404",
        ),
        pytest.param(
            502,
            {"text": "<html><h1>Bad gateway</h1></html>", "headers": {"content-type": "text/html"}},
            "api_error: Recraft failed on its side (Recraft answered 502: "
            "<html><h1>Bad gateway</h1></html>)",
            id="html-502",
        ),
        pytest.param(
            400,
            {"content": b'{"code": ', "headers": {"content-type": "application/json"}},
            'api_error: Recraft refused the request (Recraft answered 400: {"code":)',
            id="broken-json",
        ),
        pytest.param(
            403,
            {"content": b""},
            "api_error: access denied (Recraft answered 403: (empty body))",
            id="empty-body",
        ),
    ],
)
def test_error_answers_become_a_clear_message(
    status: int, answer: dict[str, Any], error: str, client: Client, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(method="POST", url=GENERATIONS_URL, status_code=status, **answer)

    failure = client.failure()

    assert failure.step is Step.REQUEST
    assert failure.portrait_error == error


def test_a_key_echoed_in_an_error_answer_is_redacted(client: Client, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="POST",
        url=GENERATIONS_URL,
        status_code=401,
        json={"code": "unauthorized", "message": f"token {API_KEY} is not valid"},
    )

    failure = client.failure()

    assert API_KEY not in failure.portrait_error
    assert "token [redacted] is not valid" in failure.portrait_error
    assert failure.portrait_error.startswith("api_error: the API key was refused")


# Retry-After ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        pytest.param(None, None, id="absent"),
        pytest.param("  ", None, id="blank"),
        pytest.param("7", 7.0, id="seconds"),
        pytest.param("Wed, 21 Oct 2015 07:28:00 GMT", 0.0, id="http-date-in-the-past"),
        pytest.param("soon", None, id="neither"),
        pytest.param("\u00b2", None, id="superscript-two"),
        pytest.param("\u0663", None, id="arabic-indic-three"),
        pytest.param("-5", None, id="negative"),
        pytest.param("1.5", None, id="fraction"),
        pytest.param("9" * 400, None, id="too-long"),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(
    value: str | None, seconds: float | None
) -> None:
    assert parse_retry_after(value) == seconds
