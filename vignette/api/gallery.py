"""The gallery at `GET /`: its route and page, server-rendered with Jinja2, no front-end
build step."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from vignette.api.csrf import give_token, page_token
from vignette.api.dependencies import System
from vignette.api.explanations import explain
from vignette.api.schemas import file_url
from vignette.records import PortraitStatus, Story
from vignette.system.facade import StorySystem

# The newest stories shown; the page says how many more there are.
GALLERY_LIMIT = 200
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


def _when(moment: datetime) -> str:
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


def card(story: Story) -> Card:
    code, message = None, None
    if story.portrait_error:
        code, _, message = story.portrait_error.partition(": ")
    return Card(
        id=story.id,
        title=story.title,
        summary=summarise(story.body),
        created=_when(story.created_at),
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


def _size(text: str) -> tuple[int, int]:
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


def render(request: Request, system: StorySystem) -> HTMLResponse:
    stories = system.list_stories(limit=GALLERY_LIMIT)
    counts = system.count_by_status()
    side = system.portrait_side()
    total = sum(counts.values())
    width, height = _size(system.settings.recraft.size)
    token, new = page_token(request)
    page = templates.TemplateResponse(
        request,
        "gallery.html",
        {
            "cards": [card(story) for story in stories],
            "counts": {str(status): count for status, count in counts.items()},
            "total": total,
            "hidden": max(0, total - len(stories)),
            "portraits_up": side.up,
            "refresh_s": REFRESH_S if should_refresh(stories, counts, side.up) else None,
            "image_width": width,
            "image_height": height,
            "csrf_token": token,
        },
        headers={"Cache-Control": "no-store"},
    )
    return give_token(page, request, token, new)


@router.get("/", response_class=HTMLResponse, summary="The gallery")
def gallery_page(request: Request, system: System) -> HTMLResponse:
    return render(request, system)
