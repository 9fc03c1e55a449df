"""GET /stories/{id}: the whole story and its portrait, its buttons, the 404 page; and the
gallery's pages ("Older stories") and state filter. (The browser test clicks through them.)"""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from markupsafe import escape

from tests.api.conftest import story_body
from tests.api.test_csrf import page_token, with_token
from tests.fakes.recraft_server import RecraftServer
from vignette.api.gallery import GALLERY_PAGE
from vignette.models import StoryRow
from vignette.system.facade import StorySystem
from vignette.system.tokens import ApiTokens

LONG_BODY = "First paragraph, " + "and it goes on " * 30 + "to its end.\n\nSecond paragraph."


def card_ids(html: str) -> list[str]:
    return re.findall(r'<article class="story [^"]*" id="story-([0-9a-f]+)"', html)


def test_the_story_page_shows_the_whole_story_its_portrait_cost_and_times(
    client: TestClient, system: StorySystem
) -> None:
    made = client.post("/api/stories", json=story_body(body=LONG_BODY)).json()
    assert system.wait_for_portrait(made["id"], timeout=30).portrait_status == "stored"
    # What Recraft's answer said it cost (kept by the pipeline where it records it).
    StoryRow.update(portrait_credits=40).where(StoryRow.id == made["id"]).execute()
    story = system.get_story(made["id"])
    assert story is not None

    answer = client.get(f"/stories/{story.id}")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    html = answer.text
    assert "<p>First paragraph, " in html
    assert "to its end.</p>" in html
    assert "<p>Second paragraph.</p>" in html
    assert "…" not in html.split("<main")[1]  # nothing cut
    assert f'<img src="/api/files/{story.storage_id}"' in html
    assert "Portrait stored" in html
    assert "40 Recraft credits" in html
    assert f'datetime="{story.created_at.isoformat()}"' in html
    assert f'datetime="{story.updated_at.isoformat()}"' in html
    regenerate = re.search(r'<button[^>]*class="quiet regenerate"[^>]*>', html)
    assert regenerate is not None
    assert f'data-url="/api/stories/{story.id}/portrait?force=true"' in regenerate.group(0)
    assert "paid Recraft call" in regenerate.group(0)  # asks before paying again
    delete = re.search(r'<button[^>]*class="quiet danger delete"[^>]*>', html)
    assert delete is not None
    assert 'data-method="DELETE"' in delete.group(0)
    assert f'data-url="/api/stories/{story.id}"' in delete.group(0)
    assert 'id="token-note"' not in html  # no token exists: nothing to explain


def test_a_failed_portrait_shows_why_and_regenerates_without_force(
    client: TestClient, system: StorySystem, recraft: RecraftServer
) -> None:
    recraft.fake.error = (503, "text/plain", b"service unavailable")
    failed = client.post("/api/stories", json=story_body()).json()["id"]
    story = system.wait_for_portrait(failed, timeout=30)

    html = client.get(f"/stories/{failed}").text

    assert "Portrait failed" in html
    assert "<code>api_error</code>" in html
    assert escape(story.portrait_error or "").partition(": ")[2] in html
    assert "not reported" in html  # no credits for a failed call
    assert f'data-url="/api/stories/{failed}/portrait"' in html


def test_an_unknown_story_gets_a_404_page(client: TestClient) -> None:
    answer = client.get("/stories/0123456789abcdef0123456789abcdef")

    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "No story has this id" in answer.text
    assert 'href="/"' in answer.text


def test_the_page_buttons_work_through_the_csrf_and_origin_checks(
    client: TestClient, system: StorySystem
) -> None:
    made = client.post("/api/stories", json=story_body(image_generation_prompt="")).json()["id"]
    token = page_token(client, f"/stories/{made}")

    refused = client.delete(f"/api/stories/{made}", headers={"Origin": "http://localhost"})
    assert refused.status_code == 403
    assert client.get(f"/api/stories/{made}").status_code == 200
    assert client.delete(f"/api/stories/{made}", headers=with_token(token)).status_code == 204
    assert client.get(f"/stories/{made}").status_code == 404


def test_with_api_tokens_the_pages_say_that_changes_need_one(
    client: TestClient, system: StorySystem
) -> None:
    made = client.post("/api/stories", json=story_body(image_generation_prompt="")).json()["id"]
    ApiTokens(system.settings.database.url).create("reader")

    for path in ("/", f"/stories/{made}"):
        html = client.get(path).text
        assert 'id="token-note"' in html
        assert "vignette token create" in html


def test_every_gallery_card_links_to_its_story_page(client: TestClient) -> None:
    ids = [client.post("/api/stories", json=story_body()).json()["id"] for _ in range(2)]

    html = client.get("/").text

    for story_id in ids:
        assert f'<a href="/stories/{story_id}">' in html


def test_the_gallery_shows_one_page_and_leads_to_older_stories(
    client: TestClient, system: StorySystem
) -> None:
    for n in range(GALLERY_PAGE + 2):
        system.submit_story(title=f"story {n}", body="a body", image_generation_prompt="")
    newest_first = [s.id for s in system.list_stories(limit=GALLERY_PAGE + 2)]

    first = client.get("/").text
    assert card_ids(first) == newest_first[:GALLERY_PAGE]
    assert f"<b>{GALLERY_PAGE + 2}</b> stories" in first
    older = re.search(r'<a class="next" href="([^"]+)" rel="next">Older stories</a>', first)
    assert older is not None
    assert "Newest stories" not in first

    second = client.get(older.group(1).replace("&amp;", "&")).text
    assert card_ids(second) == newest_first[GALLERY_PAGE:]
    assert "Older stories" not in second
    assert '<a href="/" rel="first">Newest stories</a>' in second


def test_the_gallery_filters_by_state_and_pages_within_it(
    client: TestClient, system: StorySystem, recraft: RecraftServer
) -> None:
    stored = client.post("/api/stories", json=story_body()).json()["id"]
    system.wait_for_portrait(stored, timeout=30)
    skipped = client.post("/api/stories", json=story_body(image_generation_prompt="")).json()["id"]

    html = client.get("/?status=stored").text

    assert card_ids(html) == [stored]
    assert '<a href="/?status=stored" data-state="stored" aria-current="page">' in html
    assert '<a href="/?status=skipped" data-state="skipped">' in html
    assert card_ids(client.get("/?status=skipped").text) == [skipped]
    assert "No stories here" in client.get("/?status=failed").text
    assert client.get("/?status=done").status_code == 422
    bad = client.get("/?cursor=nonsense")
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "cursor"]
