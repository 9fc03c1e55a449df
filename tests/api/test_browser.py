"""The gallery in real headless Chromium (Debian's package), served by a live uvicorn.

Portraits are made by the fake Recraft server over real HTTP; the page is loaded through
playwright. Without /usr/bin/chromium the test is skipped, except with CI=true, where it
fails. The screenshot lands in tmp_path, and in docs/gallery.png (the README's) when
VIGNETTE_UPDATE_SCREENSHOT=1.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.api.browser import CHROMIUM_ARGS, WAIT_MS, keep
from tests.fakes.recraft_server import RecraftServer
from vignette.system.facade import StorySystem
from vignette.system.tokens import ApiTokens

pytestmark = pytest.mark.sqlite_only


def test_the_gallery_renders_every_story_and_its_portrait_in_headless_chromium(
    chromium: Path,
    live_gallery: tuple[str, StorySystem, RecraftServer],
    tmp_path: Path,
) -> None:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import Page, expect, sync_playwright

    url, system, recraft = live_gallery
    expect.set_options(timeout=WAIT_MS)
    started = time.monotonic()
    loads: list[str] = []  # what the browser loaded, and when: shown if the test fails
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(WAIT_MS)

            def loaded(loaded_page: Page) -> None:
                try:
                    refresh = loaded_page.evaluate("document.body.dataset.refresh || 'none'")
                except PlaywrightError as error:  # navigated away meanwhile
                    refresh = f"unknown ({error.message.splitlines()[0]})"
                loads.append(f"{time.monotonic() - started:.2f} s (refresh: {refresh})")

            page.on("load", loaded)
            page.goto(url)

            cards = page.locator("article.story")
            expect(cards).to_have_count(6)
            newest_first = [s.id for s in system.list_stories()]
            assert [cards.nth(i).get_attribute("data-story-id") for i in range(6)] == newest_first
            # Every stored portrait has loaded and decoded.
            images = page.locator("article.story img")
            expect(images).to_have_count(4)
            page.wait_for_function(
                "() => [...document.images].every(i => i.complete && i.naturalWidth > 0)"
            )
            widths = images.evaluate_all("(all) => all.map(i => i.naturalWidth)")
            assert widths == [512] * 4
            # The failed portrait shows its state, its reason, and a way to try again.
            failed = page.locator("article.story[data-status=failed]")
            expect(failed).to_contain_text("Portrait failed")
            expect(failed.locator(".reason code")).to_have_text("api_error")
            expect(failed.locator(".reason")).to_contain_text("503")
            expect(failed.get_by_role("button", name="Regenerate portrait")).to_be_visible()
            skipped = page.locator("article.story[data-status=skipped]")
            expect(skipped).to_contain_text("No portrait")
            expect(skipped.locator(".reason code")).to_have_text("empty_prompt")
            # Nothing is in progress, so the page does not refresh itself.
            assert page.locator("body").get_attribute("data-refresh") is None

            page.screenshot(path=str(tmp_path / "gallery.png"), full_page=True)
            keep(tmp_path / "gallery.png")

            # At a phone's width the cards stack in one column, none wider than the screen.
            page.set_viewport_size({"width": 390, "height": 844})
            boxes = cards.evaluate_all(
                "(all) => all.map(c => { const r = c.getBoundingClientRect();"
                " return [r.left, r.right]; })"
            )
            assert len({round(left) for left, _ in boxes}) == 1
            assert all(right <= 390 for _, right in boxes)
            page.set_viewport_size({"width": 1280, "height": 1000})

            # The page's own origin is not enough: a post without its CSRF token is refused,
            # and Chromium keeps the HttpOnly cookie away from scripts.
            refused = page.evaluate(
                "fetch('/api/stories/generate', {method: 'POST'}).then(r => r.status)"
            )
            assert refused == 403
            assert "vignette_csrf" not in page.evaluate("document.cookie")

            # "Write a new story" adds one at the top (posting with the page's CSRF token);
            # the page refreshes until its portrait is stored.
            page.get_by_role("button", name="Write a new story").click()
            expect(cards).to_have_count(7)
            newest = cards.first
            assert newest.get_attribute("data-story-id") not in newest_first
            expect(newest).to_have_attribute("data-status", "stored")
            expect(newest.locator("img")).to_be_visible()

            # "Regenerate portrait" makes the failed portrait again.
            failed_id = failed.get_attribute("data-story-id")
            page.get_by_role("button", name="Regenerate portrait").click()
            expect(page.locator(f"article.story[data-story-id='{failed_id}']")).to_have_attribute(
                "data-status", "stored"
            )
            assert recraft.fake.call_count == 7, loads
        except AssertionError as error:
            raise AssertionError(f"{error}\npage loads: {loads}") from error
        finally:
            browser.close()


def test_on_a_daemon_with_tokens_the_gallery_asks_for_one_once_per_tab(
    chromium: Path,
    live_gallery: tuple[str, StorySystem, RecraftServer],
) -> None:
    from playwright.sync_api import Dialog, expect, sync_playwright

    url, system, _ = live_gallery
    _, token = ApiTokens(system.settings.database.url).create("browser")
    expect.set_options(timeout=WAIT_MS)
    asked: list[str] = []

    def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept(token)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(WAIT_MS)
            page.on("dialog", answer)
            page.goto(url)
            cards = page.locator("article.story")
            expect(cards).to_have_count(6)

            page.get_by_role("button", name="Write a new story").click()
            expect(cards).to_have_count(7)
            page.get_by_role("button", name="Write a new story").click()
            expect(cards).to_have_count(8)

            assert len(asked) == 1
            assert "API token" in asked[0]
            assert token not in page.content()
        finally:
            browser.close()
