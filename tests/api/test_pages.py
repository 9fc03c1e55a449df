"""GET /api/stories a page at a time: `limit`, `cursor`, `next_cursor`; and the same
pages from `StorySystem.list_page` and `list_stories(cursor=...)`."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import story_body
from vignette import InvalidCursor
from vignette.system.facade import StorySystem


def add(client: TestClient, n: int) -> str:
    # No prompt: the portrait is skipped at once, no Recraft call.
    answer = client.post(
        "/api/stories", json=story_body(title=f"story {n}", image_generation_prompt="")
    )
    assert answer.status_code == 201
    story_id: str = answer.json()["id"]
    return story_id


def test_pages_go_back_to_the_oldest_and_stay_stable_while_stories_are_added(
    client: TestClient,
) -> None:
    first = [add(client, n) for n in range(7)]
    newest_first = list(reversed(first))

    page = client.get("/api/stories?limit=3").json()
    seen = [s["id"] for s in page["stories"]]
    assert seen == newest_first[:3]
    # Stories added while a reader pages back shift nothing: no repeat, no gap.
    added = [add(client, n) for n in range(10, 14)]
    while page["next_cursor"] is not None:
        page = client.get("/api/stories", params={"limit": 3, "cursor": page["next_cursor"]}).json()
        seen += [s["id"] for s in page["stories"]]
        added.append(add(client, 99))
    assert seen == newest_first
    # The new ones are on the first page.
    top = client.get("/api/stories?limit=3").json()
    assert [s["id"] for s in top["stories"]] == list(reversed(added))[:3]


def test_the_last_page_says_so_even_when_it_is_full(client: TestClient) -> None:
    made = [add(client, n) for n in range(4)]

    page = client.get("/api/stories?limit=2").json()
    last = client.get("/api/stories", params={"limit": 2, "cursor": page["next_cursor"]}).json()

    assert [s["id"] for s in last["stories"]] == [made[1], made[0]]
    assert last["next_cursor"] is None
    assert client.get("/api/stories?limit=4").json()["next_cursor"] is None


def test_a_cursor_works_with_the_state_filter(client: TestClient, system: StorySystem) -> None:
    skipped = [add(client, n) for n in range(3)]
    stored = client.post("/api/stories", json=story_body()).json()["id"]
    system.wait_for_portrait(stored, timeout=30)

    page = client.get("/api/stories?status=skipped&limit=2").json()
    rest = client.get(
        "/api/stories", params={"status": "skipped", "limit": 2, "cursor": page["next_cursor"]}
    ).json()

    assert [s["id"] for s in page["stories"] + rest["stories"]] == list(reversed(skipped))
    assert rest["next_cursor"] is None


def test_a_cursor_no_page_gave_out_is_refused_with_422_naming_it(client: TestClient) -> None:
    add(client, 1)

    for cursor in ["nonsense!", "eHx5", "12.", "zz.0123", "1234567890abcdef.ab", "x" * 201, ""]:
        answer = client.get("/api/stories", params={"cursor": cursor})
        assert answer.status_code == 422, (cursor, answer.text)
        (problem,) = answer.json()["detail"]
        assert problem["loc"] == ["query", "cursor"]
    assert client.get("/api/stories").json()["stories"]  # nothing lost


def test_the_embedding_api_pages_the_same_way(system: StorySystem, client: TestClient) -> None:
    made = [add(client, n) for n in range(5)]

    page = system.list_page(limit=2)
    assert [s.id for s in page.stories] == [made[4], made[3]]
    assert page.next_cursor is not None
    assert [s.id for s in system.list_stories(limit=2, cursor=page.next_cursor)] == [
        made[2],
        made[1],
    ]
    assert [s.id for s in system.list_stories(None, 50)] == list(reversed(made))
    with pytest.raises(InvalidCursor, match="cursor"):
        system.list_stories(cursor="nonsense")
