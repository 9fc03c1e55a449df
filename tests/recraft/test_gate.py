"""The client's gate: every retry is admitted (recorded) before it is sent, or not sent;
every call's outcome, credits and the pauses Recraft asks for are told to it.

pytest-httpx stands in for Recraft; waits are recorded, not slept.
"""

from __future__ import annotations

import pytest
from pytest_httpx import HTTPXMock

from tests.recraft.conftest import ANSWER, GENERATIONS_URL, IMAGE_URL, Client
from vignette.config import Settings
from vignette.errors import PortraitFailure
from vignette.recraft.gate import CallOutcome, answer_credits


class RecordingGate:
    def __init__(self, refuse_from: int | None = None) -> None:
        self.admitted: list[int] = []
        self.outcomes: list[CallOutcome] = []
        self._refuse_from = refuse_from

    def admit(self, call: int) -> str | None:
        if self._refuse_from is not None and call >= self._refuse_from:
            return "budget: 10 Recraft calls in the last 60 min"
        self.admitted.append(call)
        return None

    def answered(self, outcome: CallOutcome) -> None:
        self.outcomes.append(outcome)


def test_each_retry_is_admitted_before_it_is_sent_and_each_outcome_told(
    settings: Settings, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(method="POST", url=GENERATIONS_URL, status_code=503)
    httpx_mock.add_response(
        method="POST", url=GENERATIONS_URL, status_code=429, headers={"Retry-After": "2"}
    )
    httpx_mock.add_response(method="POST", url=GENERATIONS_URL, json=ANSWER)
    client = Client(settings, max_attempts=3)
    gate = RecordingGate()

    assert client.client.generate_image_url("a nurse", None, gate) == IMAGE_URL

    assert gate.admitted == [2, 3]
    assert [(o.call, o.outcome, o.credits) for o in gate.outcomes] == [
        (1, "http_503", None),
        (2, "http_429", None),
        (3, "ok", 40),
    ]
    assert gate.outcomes[1].retry_after_s == 2
    assert client.client.credits == 40


def test_a_retry_the_gate_refuses_is_not_sent(settings: Settings, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST", url=GENERATIONS_URL, status_code=500)
    client = Client(settings, max_attempts=3)

    with pytest.raises(PortraitFailure) as caught:
        client.client.generate_image_url("a nurse", None, RecordingGate(refuse_from=2))

    assert len(httpx_mock.get_requests()) == 1
    assert "retry not sent: budget" in str(caught.value)


def test_not_enough_credits_is_told_as_such(settings: Settings, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        method="POST", url=GENERATIONS_URL, status_code=402, json={"code": "not_enough_credits"}
    )
    gate = RecordingGate()

    with pytest.raises(PortraitFailure):
        Client(settings).client.generate_image_url("a nurse", None, gate)

    assert [(o.outcome, o.no_credits) for o in gate.outcomes] == [("http_402", True)]


@pytest.mark.parametrize(
    ("body", "credits"),
    [
        ({"credits": 40}, 40),
        ({"credits": 2.0}, 2),
        ({"credits": 1.6}, 2),
        ({"credits": True}, None),
        ({"credits": "40"}, None),
        ({"credits": -1}, None),
        ({"credits": -1.5}, None),
        ({"credits": float("nan")}, None),
        ({}, None),
        ([], None),
    ],
)
def test_credits_are_read_only_when_they_are_a_number(body: object, credits: int | None) -> None:
    assert answer_credits(body) == credits
