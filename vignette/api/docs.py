"""The API docs, served without a network: Swagger UI at `/docs`, its script and style from
the `fastapi-offline` package (which vendors Swagger UI 5) at `/docs/assets/`, so the page
loads nothing from another host. (FastAPI's ReDoc page is not served: ReDoc loads its logo
from its own site.)

The Swagger UI page sends the page's CSRF token (`vignette.api.csrf`) with every request it
makes, so "Try it out" works through the same checks as the gallery's buttons.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from vignette.api.csrf import CSRF_HEADER, give_token, page_token

ASSETS_URL = "/docs/assets"
ASSETS = Path(str(files("fastapi_offline") / "static"))
TITLE = "Vignette - API docs"

docs_router = APIRouter(include_in_schema=False)


def add_docs_assets(app: FastAPI) -> None:
    """Serve the vendored Swagger UI files at `ASSETS_URL`."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")


@docs_router.get("/docs")
async def api_docs(request: Request) -> Response:
    """FastAPI's Swagger UI page, sending the page's CSRF token with every request it makes."""
    token, new = page_token(request)
    page = get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=TITLE,
        swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        # No badge from the online validator: nothing is fetched from another host.
        swagger_ui_parameters={"validatorUrl": None},
    )
    interceptor = (
        "requestInterceptor: (request) => { request.headers["
        f"{json.dumps(CSRF_HEADER)}] = {json.dumps(token)}; return request; }},"
    )
    original = bytes(page.body).decode()
    html = original.replace(
        "const ui = SwaggerUIBundle({", "const ui = SwaggerUIBundle({\n        " + interceptor, 1
    )
    if interceptor not in html:  # FastAPI changed its page: serve it as it is
        html = original
    answer = HTMLResponse(html, headers={"Cache-Control": "no-store"})
    return give_token(answer, request, token, new)
