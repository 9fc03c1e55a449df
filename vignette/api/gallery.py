"""The gallery at `GET /`: its route and page, server-rendered with Jinja2, no front-end
build step."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from vignette.api.csrf import give_token, page_token
from vignette.api.dependencies import System
from vignette.api.explanations import explain
from vignette.api.schemas import file_url
from vignette.api.stories import read_page
from vignette.paging import CURSOR_PATTERN
from vignette.records import PortraitStatus, Story
from vignette.system.facade import StorySystem
from vignette.system.tokens import ApiTokens

# Stories on one page of the gallery; "Older stories" leads to the next.
GALLERY_PAGE = 48
SUMMARY_CHARS = 200
REFRESH_S = 3

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
router = APIRouter(tags=["gallery"])

STATE_LABELS = {
    PortraitStatus.PENDING: "Waiting for its portrait",
    PortraitStatus.GENERATING: "Portrait being generated",
    PortraitStatus.STORED: "Portrait stored",
    PortraitStatus.FAILED: "Portrait failed",
    PortraitStatus.SKIPPED: "No portrait",
}


@dataclass(frozen=True, slots=True)
class Card:
    """One story as the gallery shows it."""

    id: str
    title: str
    summary: str
    created: str
    created_iso: str
    status: str
    state_label: str
    image_url: str | None
    error_code: str | None
    error_explanation: str | None
    error_message: str | None
    can_regenerate: bool
    credits: int | None = None  # what Recraft said the stored portrait cost


def summarise(body: str, limit: int = SUMMARY_CHARS) -> str:
    """The body's first `limit` characters or so, cut at a word, with an ellipsis if cut."""
    text = " ".join(body.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    if " " in cut[limit // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.-") + "…"


def when(moment: datetime) -> str:
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


def card(story: Story) -> Card:
    code, message = None, None
    if story.portrait_error:
        code, _, message = story.portrait_error.partition(": ")
    return Card(
        id=story.id,
        title=story.title,
        summary=summarise(story.body),
        created=when(story.created_at),
        created_iso=story.created_at.isoformat(),
        status=str(story.portrait_status),
        state_label=STATE_LABELS[story.portrait_status],
        image_url=None if story.storage_id is None else file_url(story.storage_id),
        error_code=code,
        error_explanation=explain(code),
        error_message=message or None,
        can_regenerate=story.portrait_status is PortraitStatus.FAILED,
        credits=story.portrait_credits,
    )


def image_size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)


IN_PROGRESS = (PortraitStatus.PENDING, PortraitStatus.GENERATING)


def should_refresh(
    shown: list[Story], counts: Mapping[PortraitStatus, int], portraits_up: bool
) -> bool:
    """Whether the page reloads itself: while a portrait is on its way.

    The stories shown and the counts are two reads, and a portrait can end between them:
    either one seeing a portrait in progress is enough, so the page never stops refreshing
    while it still shows one. With the portrait side down, nothing is on its way.
    """
    return portraits_up and (
        any(story.portrait_status in IN_PROGRESS for story in shown)
        or any(counts.get(status, 0) for status in IN_PROGRESS)
    )


FILTERS = (
    (PortraitStatus.STORED, "With portraits"),
    (PortraitStatus.PENDING, "Waiting"),
    (PortraitStatus.GENERATING, "Being generated"),
    (PortraitStatus.FAILED, "Failed"),
    (PortraitStatus.SKIPPED, "Without portrait"),
)


def page_context(request: Request, system: StorySystem, token: str) -> dict[str, object]:
    """What every page shows around its content: its CSRF token, the portrait side's state
    and whether changes need an API token."""
    return {
        "csrf_token": token,
        "portraits_up": system.portrait_side().up,
        "token_needed": token_needed(request),
    }


def token_needed(request: Request) -> bool:
    """Whether a change made from a page needs an API token (the page then says so)."""
    state = request.app.state
    if getattr(state, "tokens_always", False):
        return True
    tokens: ApiTokens | None = getattr(state, "tokens", None)
    try:
        return tokens is not None and tokens.exist()
    except Exception:  # noqa: BLE001 - the page still renders; a change would say why
        return True


def _link(status: PortraitStatus | None, cursor: str | None) -> str:
    query = {key: value for key, value in (("status", status), ("cursor", cursor)) if value}
    return "/" + (f"?{urlencode(query)}" if query else "")


def render(
    request: Request, system: StorySystem, status: PortraitStatus | None, cursor: str | None
) -> HTMLResponse:
    page = read_page(system, status, GALLERY_PAGE, cursor)
    counts = system.count_by_status()
    token, new = page_token(request)
    context = page_context(request, system, token)
    width, height = image_size(system.settings.recraft.size)
    answer = templates.TemplateResponse(
        request,
        "gallery.html",
        {
            **context,
            "cards": [card(story) for story in page.stories],
            "counts": {str(state): count for state, count in counts.items()},
            "total": sum(counts.values()),
            "filters": [(str(state), label) for state, label in FILTERS],
            "status": None if status is None else str(status),
            "cursor": cursor,
            "older_url": page.next_cursor and _link(status, page.next_cursor),
            "newest_url": _link(status, None),
            "page_label": "older stories" if cursor else None,
            "refresh_s": REFRESH_S
            if should_refresh(page.stories, counts, bool(context["portraits_up"]))
            else None,
            "image_width": width,
            "image_height": height,
        },
        headers={"Cache-Control": "no-store"},
    )
    return give_token(answer, request, token, new)


@router.get("/", response_class=HTMLResponse, summary="The gallery")
def gallery_page(
    request: Request,
    system: System,
    status: Annotated[
        PortraitStatus | None, Query(description="only stories whose portrait is in this state")
    ] = None,
    cursor: Annotated[
        str | None, Query(pattern=CURSOR_PATTERN, description="where older stories start")
    ] = None,
) -> HTMLResponse:
    return render(request, system, status, cursor)
