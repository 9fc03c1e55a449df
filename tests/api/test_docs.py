"""The API docs without a network: `/docs` (Swagger UI) references only this server, its
vendored assets are served, and Swagger UI renders the schema in headless
Chromium while every request to another host is blocked and counted."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.api.browser import CHROMIUM_ARGS, WAIT_MS, served
from vignette.system.facade import StorySystem

# Any URL with a scheme or protocol-relative one: what a page must not load from.
ABSOLUTE = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+""")
REFERENCES = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*['"]([^'"]+)['"]""")


def test_the_docs_page_references_only_this_server(client: TestClient) -> None:
    page = client.get("/docs")

    assert page.status_code == 200
    assert ABSOLUTE.findall(page.text) == []
    references = [a or b for a, b in REFERENCES.findall(page.text)]
    assert references  # the scripts, styles, icon and schema
    for reference in references:
        assert reference.startswith("/"), reference
        asset = client.get(reference)
        assert asset.status_code == 200, reference
        assert len(asset.content) > 0
        assert asset.headers["etag"] if reference.startswith("/docs/assets/") else True


def test_the_vendored_swagger_ui_reads_openapi_3_1(client: TestClient) -> None:
    bundle = client.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")
    # Swagger UI reads OpenAPI 3.1 from version 5 on; 4.x shows a blank "no version" error.
    assert "OpenAPI 3.1" in bundle.text or "openapi31" in bundle.text.lower()


@pytest.mark.sqlite_only
def test_swagger_ui_renders_offline_in_headless_chromium(
    chromium: Path, system: StorySystem
) -> None:
    from playwright.sync_api import Route, expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    with served(system) as url, sync_playwright() as playwright:
        own = urlsplit(url).netloc
        elsewhere: list[str] = []

        def only_this_server(route: Route) -> None:
            if urlsplit(route.request.url).netloc == own:
                route.continue_()
            else:
                elsewhere.append(route.request.url)
                route.abort()

        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(WAIT_MS)
            page.route("**/*", only_this_server)
            page.goto(f"{url}/docs")
            expect(page.locator(".swagger-ui .info .title")).to_contain_text("Vignette")
            operations = page.locator(".swagger-ui .opblock")
            expect(operations.first).to_be_visible()
            assert operations.count() >= 8
            expect(page.locator(".swagger-ui .opblock-summary-path").first).to_be_visible()
        finally:
            browser.close()
    assert elsewhere == []


def test_no_page_loads_redoc_from_a_cdn(client: TestClient) -> None:
    assert client.get("/redoc").status_code == 404
