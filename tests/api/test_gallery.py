"""GET /: the gallery's HTML, server-rendered (the browser test loads it in Chromium)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from markupsafe import escape

from tests.api.conftest import LOCAL, crashing_factory, story_body
from tests.fakes.recraft_server import RecraftServer
from vignette.api import create_app
from vignette.api.explanations import EXPLANATIONS
from vignette.api.gallery import should_refresh, summarise
from vignette.config import Settings
from vignette.records import PortraitErrorCode, PortraitStatus, Story
from vignette.system.facade import StorySystem


def story_ids(html: str) -> list[str]:
    return re.findall(r'data-story-id="([0-9a-f]+)"', html)


def test_an_empty_gallery_invites_a_first_story_and_does_not_refresh(client: TestClient) -> None:
    answer = client.get("/")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in answer.text
    assert "No stories yet" in answer.text
    assert "Write a new story" in answer.text
    assert "data-refresh" not in answer.text
    assert 'http-equiv="refresh"' not in answer.text


def test_stories_are_shown_newest_first_with_portrait_or_state_and_reason(
    client: TestClient, system: StorySystem, recraft: RecraftServer
) -> None:
    stored = client.post("/api/stories", json=story_body(title="Stored one")).json()["id"]
    system.wait_for_portrait(stored, timeout=30)
    recraft.fake.error = (429, "text/plain", b"slow down")
    failed = client.post("/api/stories", json=story_body(title="Failed one")).json()["id"]
    system.wait_for_portrait(failed, timeout=30)

    html = client.get("/").text

    assert story_ids(html) == [failed, stored]
    image_url = client.get(f"/api/stories/{stored}").json()["image_url"]
    assert f'<img src="{image_url}" width="1024" height="1024"' in html
    failed_card = html.split(f'data-story-id="{failed}"')[1].split("</article>")[0]
    assert "Portrait failed" in failed_card
    assert "<code>rate_limited</code>" in failed_card
    assert "429" in failed_card
    assert f'data-url="/api/stories/{failed}/portrait"' in failed_card
    assert "Regenerate portrait" not in html.split(f'data-story-id="{stored}"')[1]
    assert "data-refresh" not in html


def test_a_failed_card_says_what_happened_and_keeps_the_message_behind_a_disclosure(
    client: TestClient, system: StorySystem, recraft: RecraftServer
) -> None:
    recraft.fake.error = (503, "text/plain", b"service unavailable")
    failed = client.post("/api/stories", json=story_body()).json()["id"]
    story = system.wait_for_portrait(failed, timeout=30)

    card = client.get("/").text.split(f'data-story-id="{failed}"')[1].split("</article>")[0]

    assert "<code>api_error</code>" in card
    assert escape(EXPLANATIONS[PortraitErrorCode.API_ERROR]) in card
    details = card.split("<details")[1].split("</details>")[0]
    assert "<summary>" in details
    message = (story.portrait_error or "").partition(": ")[2]
    assert escape(message) in details


def test_every_code_has_a_plain_sentence() -> None:
    assert set(EXPLANATIONS) == set(PortraitErrorCode)
    for sentence in EXPLANATIONS.values():
        assert sentence.endswith(".")
        assert "_" not in sentence.split(" ")[0]


def test_the_page_refreshes_itself_only_while_a_portrait_is_pending_or_generating(
    client: TestClient, system: StorySystem, recraft: RecraftServer
) -> None:
    recraft.fake.hold = threading.Event()
    story_id = client.post("/api/stories", json=story_body()).json()["id"]
    assert recraft.fake.wait_for_calls(1)

    during = client.get("/").text
    assert 'data-refresh="3"' in during
    assert '<meta http-equiv="refresh" content="3">' in during  # inside <noscript>
    assert "Portrait being generated" in during

    recraft.fake.hold.set()
    system.wait_for_portrait(story_id, timeout=30)
    after = client.get("/").text
    assert "data-refresh" not in after
    assert 'http-equiv="refresh"' not in after


def test_titles_and_bodies_are_escaped_and_bodies_summarised(client: TestClient) -> None:
    client.post(
        "/api/stories",
        json=story_body(
            title="<script>alert('title')</script>",
            body="<img src=x onerror=alert(1)> " + "word " * 100,
            image_generation_prompt="",
        ),
    )

    html = client.get("/").text

    assert "<script>alert(" not in html
    assert "&lt;script&gt;alert(" in html
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "word " * 100 not in html


def test_summaries_cut_long_bodies_at_a_word_and_keep_short_ones() -> None:
    assert summarise("A short  story.\n") == "A short story."
    long = summarise("alpha beta gamma " * 30)
    assert len(long) <= 201
    assert long.endswith("…")
    assert long.removesuffix("…").split()[-1] in ("alpha", "beta", "gamma")


def test_a_portrait_side_that_is_down_is_announced_and_stops_the_refresh(
    local_settings: Callable[..., Settings], start_system: Callable[..., StorySystem]
) -> None:
    settings = local_settings(portraits__concurrency=1, portraits__max_restarts=0)
    system = start_system(settings, client_factory=crashing_factory)
    with TestClient(create_app(system), base_url=LOCAL) as client:
        crashed = client.post("/api/stories", json=story_body()).json()["id"]
        system.wait_for_portrait(crashed, timeout=30)
        client.post("/api/stories", json=story_body(title="Waits for the next start"))

        html = client.get("/").text

    assert "Portrait generation is paused" in html
    assert "Waiting for its portrait" in html
    assert "data-refresh" not in html


def shown(status: PortraitStatus) -> Story:
    now = datetime.now(UTC)
    return Story("0" * 32, "t", "b", "p", None, status, None, now, now)


def settled_counts(**in_progress: int) -> dict[PortraitStatus, int]:
    counts = {status: 0 for status in PortraitStatus}
    counts[PortraitStatus.STORED] = 3
    counts.update({PortraitStatus(name): n for name, n in in_progress.items()})
    return counts


def test_a_portrait_that_ends_between_the_two_reads_keeps_the_page_refreshing() -> None:
    # The list was read while the portrait was generating; the counts, read just after,
    # already see it stored. The page shows "generating", so it must come back for it.
    assert should_refresh([shown(PortraitStatus.GENERATING)], settled_counts(), True)
    assert should_refresh([shown(PortraitStatus.PENDING)], settled_counts(), True)
    # A portrait in progress that the page does not show (an older story) counts too.
    assert should_refresh([shown(PortraitStatus.STORED)], settled_counts(pending=1), True)
    assert not should_refresh([shown(PortraitStatus.STORED)], settled_counts(), True)
    assert not should_refresh([shown(PortraitStatus.FAILED)], settled_counts(), True)
    # Nothing is on its way while the portrait side is down.
    assert not should_refresh([shown(PortraitStatus.PENDING)], settled_counts(pending=1), False)
