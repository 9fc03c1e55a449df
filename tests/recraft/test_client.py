"""RecraftClient's request side: the body per model family, the prompt limit, and opt-in
retries (which never repeat a call that may have been billed).

pytest-httpx stands in for Recraft; sleeping and jitter are injected, so nothing waits.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from loguru import logger
from pytest_httpx import HTTPXMock

from tests.recraft.conftest import ANSWER, GENERATIONS_URL, IMAGE_URL, Client
from vignette.config import Settings
from vignette.records import PortraitErrorCode, Step
from vignette.recraft.client import RETRY_CAP_S

if TYPE_CHECKING:
    from loguru import Record

# The body per model family, and the prompt limit ---------------------------------------------


@pytest.mark.parametrize(
    ("model", "size", "style", "body_keys"),
    [
        pytest.param("recraftv2", "1365x1024", "digital_illustration", 4, id="v2"),
        pytest.param("recraftv3", "1024x1024", "realistic_image", 4, id="v3"),
        pytest.param("recraftv4", "1536x768", "", 3, id="v4-empty-style"),
        pytest.param("recraftv4_1", "1024x1024", "realistic_image", 3, id="v4_1-default-style"),
    ],
)
def test_v4_models_get_no_style_v2_and_v3_get_the_seeds_four_keys(
    model: str,
    size: str,
    style: str,
    body_keys: int,
    settings_for: Callable[..., Settings],
    httpx_mock: HTTPXMock,
) -> None:
    settings = settings_for(recraft__model=model, recraft__size=size, recraft__style=style)
    httpx_mock.add_response(method="POST", url=GENERATIONS_URL, json=ANSWER)

    assert Client(settings).generate("a nurse") == IMAGE_URL

    sent = json.loads(httpx_mock.get_requests()[0].content)
    expected = {"prompt": "a nurse", "model": model, "size": size}
    if body_keys == 4:
        expected["style"] = style
    assert sent == expected


@pytest.mark.parametrize(
    ("model", "limit"),
    [pytest.param("recraftv3", 1_000, id="v3"), pytest.param("recraftv4", 10_000, id="v4")],
)
def test_a_prompt_over_the_models_limit_is_never_sent(
    model: str, limit: int, settings_for: Callable[..., Settings], httpx_mock: HTTPXMock
) -> None:
    style = "realistic_image" if model == "recraftv3" else ""
    client = Client(settings_for(recraft__model=model, recraft__style=style))
    httpx_mock.add_response(method="POST", url=GENERATIONS_URL, json=ANSWER)

    assert client.generate("x" * limit) == IMAGE_URL
    failure = client.failure("x" * (limit + 1))

    assert failure.code is PortraitErrorCode.API_ERROR
    assert failure.step is Step.VALIDATE
    assert f"the prompt is {limit + 1:,} characters; {model} takes at most {limit:,}" in str(
        failure
    )
    assert len(httpx_mock.get_requests()) == 1  # only the prompt within the limit


# Opt-in retries ------------------------------------------------------------------------------


def connect_error(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def test_by_default_nothing_is_retried(client: Client, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=GENERATIONS_URL, status_code=503, text="busy")

    failure = client.failure()

    assert failure.portrait_error.startswith("api_error: Recraft failed on its side")
    assert "attempts" not in failure.portrait_error
    assert len(httpx_mock.get_requests()) == 1
    assert client.sleeps == []


@pytest.mark.parametrize(
    "first",
    [
        pytest.param({"status_code": 429, "text": "slow down"}, id="429"),
        pytest.param({"status_code": 500, "text": "oops"}, id="500"),
        pytest.param({"status_code": 503, "text": "busy"}, id="503"),
        pytest.param({"status_code": 599, "text": "?"}, id="599"),
        pytest.param({"exception": httpx.ConnectError("connection refused")}, id="connect-error"),
        pytest.param(
            {"exception": httpx.ConnectTimeout("connect timed out")}, id="connect-timeout"
        ),
        pytest.param({"exception": httpx.PoolTimeout("no free connection")}, id="pool-timeout"),
    ],
)
def test_with_max_attempts_an_unbilled_failure_is_retried_after_a_jittered_wait(
    first: dict[str, Any], settings: Settings, httpx_mock: HTTPXMock
) -> None:
    client = Client(settings, max_attempts=2, jitter=0.25)
    if "exception" in first:
        httpx_mock.add_exception(first["exception"], method="POST", url=GENERATIONS_URL)
    else:
        httpx_mock.add_response(method="POST", url=GENERATIONS_URL, **first)
    httpx_mock.add_response(method="POST", url=GENERATIONS_URL, json=ANSWER)

    assert client.generate() == IMAGE_URL
    assert len(httpx_mock.get_requests()) == 2
    assert client.sleeps == [0.25]  # full jitter: 0.25 x min(cap, 1 s x 2**0)


@pytest.mark.parametrize(
    ("failing", "detail"),
    [
        pytest.param(
            {"exception": httpx.ReadTimeout("timed out")},
            "did not answer within",
            id="read-timeout",
        ),
        pytest.param(
            {"exception": httpx.WriteTimeout("timed out")},
            "did not answer within",
            id="write-timeout",
        ),
        pytest.param(
            {"exception": httpx.RemoteProtocolError("Server disconnected")},
            "RemoteProtocolError",
            id="dropped-after-sending",
        ),
        pytest.param(
            {"exception": httpx.ReadError("connection reset")}, "ReadError", id="read-error"
        ),
        pytest.param({"status_code": 400, "text": "bad size"}, "answered 400", id="400"),
        pytest.param({"status_code": 401, "text": "request unauthorized"}, "401", id="401"),
        pytest.param({"status_code": 402, "json": {"code": "not_enough_credits"}}, "402", id="402"),
        pytest.param({"status_code": 200, "text": "<html>"}, "not JSON", id="bad-200"),
    ],
)
def test_a_call_that_may_have_been_billed_or_cannot_succeed_is_never_retried(
    failing: dict[str, Any], detail: str, settings: Settings, httpx_mock: HTTPXMock
) -> None:
    client = Client(settings, max_attempts=5)
    if "exception" in failing:
        httpx_mock.add_exception(failing["exception"], method="POST", url=GENERATIONS_URL)
    else:
        httpx_mock.add_response(method="POST", url=GENERATIONS_URL, **failing)

    failure = client.failure()

    assert detail in failure.portrait_error
    assert len(httpx_mock.get_requests()) == 1
    assert client.sleeps == []


def test_the_backoff_doubles_up_to_its_cap_and_the_last_failure_counts_the_attempts(
    settings: Settings, httpx_mock: HTTPXMock
) -> None:
    client = Client(settings, max_attempts=8, jitter=1.0)
    httpx_mock.add_callback(connect_error, method="POST", url=GENERATIONS_URL, is_reusable=True)

    failure = client.failure()

    assert client.sleeps == [1.0, 2.0, 4.0, 8.0, 16.0, RETRY_CAP_S, RETRY_CAP_S]
    assert len(httpx_mock.get_requests()) == 8
    assert failure.portrait_error.startswith("api_error: could not reach Recraft")
    assert failure.portrait_error.endswith("(after 8 attempts)")


@pytest.mark.parametrize(
    ("retry_after", "slept"),
    [
        pytest.param("7", 7.0, id="seconds-longer-than-the-jitter"),
        pytest.param("0", 0.5, id="zero-then-the-jitter"),
        pytest.param(str(int(RETRY_CAP_S)), RETRY_CAP_S, id="exactly-the-cap"),
    ],
)
def test_a_retry_waits_at_least_the_retry_after(
    retry_after: str, slept: float, settings: Settings, httpx_mock: HTTPXMock
) -> None:
    client = Client(settings, max_attempts=2)
    httpx_mock.add_response(
        method="POST", url=GENERATIONS_URL, status_code=429, headers={"retry-after": retry_after}
    )
    httpx_mock.add_response(method="POST", url=GENERATIONS_URL, json=ANSWER)

    assert client.generate() == IMAGE_URL
    assert client.sleeps == [slept]


def test_a_retry_after_beyond_the_cap_is_not_waited_out_in_the_worker(
    settings: Settings, httpx_mock: HTTPXMock
) -> None:
    client = Client(settings, max_attempts=3)
    httpx_mock.add_response(
        method="POST", url=GENERATIONS_URL, status_code=429, headers={"retry-after": "120"}
    )

    failure = client.failure()

    assert failure.code is PortraitErrorCode.RATE_LIMITED
    assert failure.retry_after_s == 120.0  # the supervisor holds new calls back instead
    assert client.sleeps == []
    assert len(httpx_mock.get_requests()) == 1


def test_each_retry_is_a_warning_on_the_callers_logger_and_an_exhausted_429_keeps_its_wait(
    settings: Settings, httpx_mock: HTTPXMock
) -> None:
    records: list[Record] = []
    sink = logger.add(lambda message: records.append(message.record), level="DEBUG")
    client = Client(settings, max_attempts=3)
    for _ in range(3):
        httpx_mock.add_response(
            method="POST",
            url=GENERATIONS_URL,
            status_code=429,
            headers={"retry-after": "2"},
            json={"message": "Slow down"},
        )
    try:
        failure = client.failure(log=logger.bind(story_id="s-1", step=Step.REQUEST))
    finally:
        logger.remove(sink)

    assert [r["extra"] for r in records] == [{"story_id": "s-1", "step": Step.REQUEST}] * 2
    assert [r["level"].name for r in records] == ["WARNING", "WARNING"]
    assert (
        "Recraft attempt 1 of 3 failed, trying again in 2.0 s: rate_limited"
        in (records[0]["message"])
    )
    assert client.sleeps == [2.0, 2.0]
    assert failure.code is PortraitErrorCode.RATE_LIMITED
    assert failure.retry_after_s == 2.0
    assert failure.portrait_error.endswith("Slow down (after 3 attempts)")
