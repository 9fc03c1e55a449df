"""`/api/webhooks`: deliveries listed with their attempts, one sent again with the same id,
behind the API token like every /api route; and the outbox's figures in `/metrics`."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import LOCAL
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.webhooks.conftest import Outcomes
from vignette.api import create_app
from vignette.config import Settings
from vignette.system.facade import StorySystem
from vignette.system.tokens import ApiTokens

pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def hooked(
    hooked_settings: Callable[..., Settings], start_system: Callable[..., StorySystem]
) -> StorySystem:
    return start_system(hooked_settings(webhooks__retry_delays_s="[0.01]"))


@pytest.fixture
def client(hooked: StorySystem) -> Iterator[TestClient]:
    with TestClient(create_app(hooked), base_url=LOCAL) as test_client:
        yield test_client


def test_deliveries_show_attempts_status_code_and_next_try_and_one_is_sent_again(
    client: TestClient, receiver: WebhookReceiver, outcomes: Outcomes
) -> None:
    answers = {"status": 500}
    receiver.answer = lambda event_id, attempt: answers["status"]
    story = client.post(
        "/api/stories",
        json={"title": "A", "body": "B.", "image_generation_prompt": "a portrait"},
    ).json()
    [event_id] = outcomes.wait("failed")

    listed = client.get("/api/webhooks/deliveries", params={"status": "failed"}).json()

    assert listed["endpoint"] == {
        "host": "127.0.0.1",
        "disabled": False,
        "disabled_at": None,
        "reason": None,
    }
    [failed] = listed["deliveries"]
    assert failed["id"] == event_id
    assert failed["story_id"] == story["id"]
    assert (failed["type"], failed["status"], failed["attempts"]) == (
        "portrait.stored",
        "failed",
        2,
    )
    assert failed["last_status_code"] == 500
    assert failed["next_attempt_at"] is None
    assert (
        client.get("/api/webhooks/deliveries", params={"status": "delivered"}).json()["deliveries"]
        == []
    )

    answers["status"] = 200
    retried = client.post(f"/api/webhooks/deliveries/{event_id}/retry")
    delivered = receiver.wait_for_delivered(1)

    assert retried.status_code == 202
    assert retried.json()["status"] == "pending"
    assert retried.json()["next_attempt_at"] is not None
    assert list(delivered) == [event_id]
    outcomes.wait("delivered")
    metrics = client.get("/metrics").text
    assert 'vignette_webhook_deliveries_total{outcome="delivered"}' in metrics
    assert "vignette_webhook_oldest_undelivered_seconds" in metrics


def test_an_unknown_event_or_status_is_refused(client: TestClient) -> None:
    assert client.post("/api/webhooks/deliveries/nope/retry").status_code == 404
    assert client.get("/api/webhooks/deliveries", params={"status": "lost"}).status_code == 422


def test_the_routes_need_the_api_token_once_one_exists(
    client: TestClient, hooked: StorySystem
) -> None:
    _, token = ApiTokens(hooked.settings.database.url).create("ops")

    assert client.get("/api/webhooks/deliveries").status_code == 401
    assert client.post("/api/webhooks/deliveries/x/retry").status_code == 401
    answer = client.get("/api/webhooks/deliveries", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
