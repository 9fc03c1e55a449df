"""GET /healthz and GET /metrics, on real systems: healthy, with the portrait side down,
stopped, and after portraits that were stored, failed and crashed."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import LOCAL, crashing_factory, settled, story_body
from tests.fakes.recraft_server import RecraftServer
from tests.postgres import drop_database, fresh_database
from vignette.api import create_app
from vignette.config import Settings, load_settings
from vignette.system.facade import StorySystem


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of GET /metrics, keyed by name and sorted labels."""
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


# /healthz ---------------------------------------------------------------------------------


def test_healthz_is_200_with_the_portrait_side_when_everything_answers(client: TestClient) -> None:
    answer = client.get("/healthz")

    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ok",
        "detail": None,
        "portraits": {
            "up": True,
            "workers": 4,
            "busy": 0,
            "queued": 0,
            "restarts": 0,
            "held": [],
        },
    }


def test_healthz_is_503_once_the_portrait_side_is_down_while_stories_are_still_made(
    local_settings: Callable[..., Settings], start_system: Callable[..., StorySystem]
) -> None:
    settings = local_settings(portraits__concurrency=1, portraits__max_restarts=0)
    system = start_system(settings, client_factory=crashing_factory)
    with TestClient(create_app(system), base_url=LOCAL) as client:
        assert client.get("/healthz").status_code == 200
        story_id = client.post("/api/stories", json=story_body()).json()["id"]
        crashed = system.wait_for_portrait(story_id, timeout=30)
        assert (crashed.portrait_error or "").startswith("crashed: ")

        answer = client.get("/healthz")

        assert answer.status_code == 503
        health = answer.json()
        assert health["status"] == "unavailable"
        assert "portrait side is down" in health["detail"]
        assert health["portraits"]["up"] is False
        assert client.post("/api/stories", json=story_body()).status_code == 201


def test_healthz_is_503_not_500_once_the_actors_have_stopped(
    client: TestClient, system: StorySystem
) -> None:
    system.stop(grace_s=5)

    answer = client.get("/healthz")

    assert answer.status_code == 503
    health = answer.json()
    assert health["status"] == "unavailable"
    assert "DocumentActor is not running" in health["detail"]
    assert health["portraits"] is None


# /metrics ---------------------------------------------------------------------------------


def test_metrics_count_stories_portraits_by_state_and_code_and_recraft_latency(
    client: TestClient, system: StorySystem, recraft: RecraftServer
) -> None:
    before = samples(client)

    stored_id = client.post("/api/stories", json=story_body()).json()["id"]
    assert system.wait_for_portrait(stored_id, timeout=30).portrait_status == "stored"
    recraft.fake.error = (500, "text/plain", b"internal error")
    failed_id = client.post("/api/stories", json=story_body()).json()["id"]
    assert system.wait_for_portrait(failed_id, timeout=30).portrait_status == "failed"
    skipped = client.post("/api/stories", json=story_body(image_generation_prompt="")).json()
    assert system.wait_for_portrait(skipped["id"], timeout=30).portrait_status == "skipped"
    settled(system)
    after = samples(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("vignette_stories_created_total") == 3
    assert delta("vignette_portraits_total", status="stored", code="none") == 1
    assert delta("vignette_portraits_total", status="failed", code="api_error") == 1
    assert delta("vignette_portraits_total", status="skipped", code="empty_prompt") == 1
    # Two Recraft calls were timed (the skipped portrait made none), each in some bucket.
    assert delta("vignette_recraft_request_seconds_count") == 2
    assert delta("vignette_recraft_request_seconds_bucket", le="+Inf") == 2
    assert delta("vignette_recraft_request_seconds_sum") > 0
    assert value(after, "vignette_portrait_jobs_in_flight") == value(
        before, "vignette_portrait_jobs_in_flight"
    )


def test_metrics_show_jobs_in_flight_while_a_portrait_is_being_made(
    client: TestClient, system: StorySystem, recraft: RecraftServer
) -> None:
    idle = value(samples(client), "vignette_portrait_jobs_in_flight")
    recraft.fake.hold = threading.Event()
    story_id = client.post("/api/stories", json=story_body()).json()["id"]
    assert recraft.fake.wait_for_calls(1)

    assert value(samples(client), "vignette_portrait_jobs_in_flight") == idle + 1

    recraft.fake.hold.set()
    system.wait_for_portrait(story_id, timeout=30)
    settled(system)
    assert value(samples(client), "vignette_portrait_jobs_in_flight") == idle


def test_metrics_count_crashed_portraits_and_worker_restarts(
    local_settings: Callable[..., Settings], start_system: Callable[..., StorySystem]
) -> None:
    settings = local_settings(portraits__concurrency=1, portraits__max_restarts=5)
    system = start_system(settings, client_factory=crashing_factory)
    with TestClient(create_app(system), base_url=LOCAL) as client:
        before = samples(client)
        story_id = client.post("/api/stories", json=story_body()).json()["id"]
        system.wait_for_portrait(story_id, timeout=30)
        system.portrait_side()  # the crash has been handled once the supervisor answers
        after = samples(client)

    crashed = value(after, "vignette_portraits_total", status="failed", code="crashed")
    assert crashed - value(before, "vignette_portraits_total", status="failed", code="crashed") == 1
    restarts = "vignette_portrait_worker_restarts_total"
    assert value(after, restarts) - value(before, restarts) == 1


def test_a_database_that_drops_its_connections_gets_503s_from_healthz_and_every_route(
    postgres_url: str, tmp_path: Path, start_system: Callable[..., StorySystem]
) -> None:
    name = f"vignette_test_{uuid.uuid4().hex[:12]}"
    env = {
        "VIGNETTE_DATABASE__URL": fresh_database(postgres_url, name),
        "VIGNETTE_STORAGE__PATH": str(tmp_path / "files"),
    }
    system = start_system(load_settings(env=env))

    def refuse_connections() -> None:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )

    try:
        with TestClient(create_app(system), base_url=LOCAL) as client:
            assert client.get("/healthz").status_code == 200
            refuse_connections()

            health = client.get("/healthz")
            stories = client.get("/api/stories")
            created = client.post("/api/stories", json=story_body())

            assert health.status_code == 503
            assert "the database does not answer" in health.json()["detail"]
            assert (stories.status_code, created.status_code) == (503, 503)
            assert stories.json() == {"detail": "the database does not answer; try again"}

            # Once the database takes connections again, the same system serves again.
            with psycopg.connect(postgres_url, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
            assert client.get("/healthz").status_code == 200
            assert client.post("/api/stories", json=story_body()).status_code == 201
    finally:
        system.stop(grace_s=5)
        drop_database(postgres_url, name)
