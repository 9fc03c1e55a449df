"""The story page and the gallery's pages in real headless Chromium, on a live uvicorn:
open a story from its card, regenerate its portrait and delete it from its page, page back
through "Older stories" and filter by state. Screenshots land in tmp_path, and in
docs/story.png and docs/gallery-older.png (the README's) when VIGNETTE_UPDATE_SCREENSHOT=1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.browser import CHROMIUM_ARGS, WAIT_MS, keep
from tests.fakes.recraft_server import RecraftServer
from vignette.api.gallery import GALLERY_PAGE
from vignette.system.facade import StorySystem

pytestmark = pytest.mark.sqlite_only


def test_a_story_page_opens_from_its_card_and_older_stories_are_a_click_away(
    chromium: Path,
    live_gallery: tuple[str, StorySystem, RecraftServer],
    tmp_path: Path,
) -> None:
    from playwright.sync_api import Dialog, expect, sync_playwright

    url, system, recraft = live_gallery
    expect.set_options(timeout=WAIT_MS)
    oldest = system.list_stories(limit=100)[-3:]  # with portraits, from the fixture
    # Enough newer stories (no prompt: skipped at once) to push those to the second page.
    for n in range(GALLERY_PAGE - 3):
        system.submit_story(
            title=f"Patient {n}: a short visit",
            body="A brief note. " * 5,
            image_generation_prompt="",
        )
    total = len(system.list_stories(limit=100))
    assert total == GALLERY_PAGE + 3
    calls = recraft.fake.call_count
    confirmed: list[str] = []

    def accept(dialog: Dialog) -> None:
        confirmed.append(dialog.message)
        dialog.accept()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(WAIT_MS)
            page.on("dialog", accept)
            page.goto(url)
            cards = page.locator("article.story")
            expect(cards).to_have_count(GALLERY_PAGE)

            # "Older stories" leads to the rest, and back.
            page.get_by_role("link", name="Older stories").click()
            expect(cards).to_have_count(3)
            assert [cards.nth(i).get_attribute("data-story-id") for i in range(3)] == [
                s.id for s in oldest
            ]
            page.wait_for_function(
                "() => [...document.images].every(i => i.complete && i.naturalWidth > 0)"
            )
            expect(page.get_by_role("link", name="Older stories")).to_have_count(0)
            page.screenshot(path=str(tmp_path / "gallery-older.png"), full_page=True)
            keep(tmp_path / "gallery-older.png")

            # A card's title opens its story: the whole of it, the portrait large.
            story = oldest[0]
            page.get_by_role("link", name=story.title).click()
            expect(page).to_have_url(f"{url}/stories/{story.id}")
            main = page.locator("main.story-page")
            expect(main).to_have_attribute("data-status", "stored")
            expect(main.locator(".body")).to_contain_text(" ".join(story.body.split()[-6:]))
            image = main.locator(".figure img")
            expect(image).to_be_visible()
            page.wait_for_function("() => document.querySelector('.figure img').naturalWidth > 0")
            assert image.evaluate("i => i.getBoundingClientRect().width") > 400
            expect(main.locator(".facts")).to_contain_text("Portrait stored")
            page.screenshot(path=str(tmp_path / "story.png"), full_page=True)
            keep(tmp_path / "story.png")
            # At a phone's width the portrait and the text stack, nothing wider than it.
            page.set_viewport_size({"width": 390, "height": 844})
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            assert image.evaluate("i => i.getBoundingClientRect().right") <= 390
            page.set_viewport_size({"width": 1280, "height": 900})

            # Regenerate asks first (a paid call), then the page follows the new portrait.
            page.get_by_role("button", name="Regenerate portrait").click()
            expect(main).to_have_attribute("data-status", "stored")
            page.wait_for_function(
                f"() => !document.querySelector('.figure img').src.endsWith('{story.storage_id}')"
            )
            assert recraft.fake.call_count == calls + 1
            assert "paid Recraft call" in confirmed[0]

            # Delete asks too, then returns to the gallery, which no longer has it.
            page.get_by_role("button", name="Delete story").click()
            expect(page).to_have_url(f"{url}/")
            expect(page.locator(f"article.story[data-story-id='{story.id}']")).to_have_count(0)
            assert system.get_story(story.id) is None
            assert "cannot be undone" in confirmed[1]

            # The state filter: only the failed story.
            page.locator("nav.filters a[data-state=failed]").click()
            expect(cards).to_have_count(1)
            expect(cards.first).to_have_attribute("data-status", "failed")

            # An unknown story is a page that says so.
            missing = page.goto(f"{url}/stories/0123456789abcdef0123456789abcdef")
            assert missing is not None
            assert missing.status == 404
            expect(page.locator("main.missing")).to_contain_text("No story has this id")
        finally:
            browser.close()
