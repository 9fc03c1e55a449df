"""The story page at `GET /stories/{id}`: the whole story, its portrait large with its state,
cost and times, and the buttons that regenerate the portrait or delete the story.

The buttons call the HTTP API from the page, as the gallery's do (CSRF token, and an API
token asked for once per tab when the daemon has tokens). An unknown id gets a page saying
so, with status 404.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from vignette.api.csrf import give_token, page_token
from vignette.api.dependencies import System
from vignette.api.gallery import (
    IN_PROGRESS,
    REFRESH_S,
    Card,
    card,
    image_size,
    page_context,
    templates,
    when,
)
from vignette.records import PortraitStatus, Story

router = APIRouter(tags=["gallery"])


@dataclass(frozen=True, slots=True)
class StoryView:
    """One story as its page shows it, beyond its gallery card."""

    card: Card
    paragraphs: list[str]
    prompt: str
    credits: int | None
    updated: str
    updated_iso: str
    # What "Regenerate portrait" does: None (no button), or the URL it posts to.
    regenerate_url: str | None
    # A stored portrait is made again only after a confirmation: one more paid call.
    regenerate_confirm: str | None


def paragraphs(body: str) -> list[str]:
    """The body's paragraphs: split at blank lines, each one's lines joined."""
    blocks = [" ".join(block.split()) for block in body.replace("\r\n", "\n").split("\n\n")]
    return [block for block in blocks if block]


def view(story: Story) -> StoryView:
    url, confirm = None, None
    if story.portrait_status is PortraitStatus.FAILED:
        url = f"/api/stories/{story.id}/portrait"
    elif story.portrait_status is PortraitStatus.STORED:
        url = f"/api/stories/{story.id}/portrait?force=true"
        confirm = "Make a new portrait for this story? It is one more paid Recraft call."
    return StoryView(
        card=card(story),
        paragraphs=paragraphs(story.body),
        prompt=story.image_generation_prompt,
        credits=story.portrait_credits,
        updated=when(story.updated_at),
        updated_iso=story.updated_at.isoformat(),
        regenerate_url=url,
        regenerate_confirm=confirm,
    )


@router.get(
    "/stories/{story_id}",
    response_class=HTMLResponse,
    summary="A story's page",
    responses={404: {"description": "No story has this id (an HTML page saying so)"}},
)
def story_page(request: Request, system: System, story_id: str) -> HTMLResponse:
    story = system.get_story(story_id)
    token, new = page_token(request)
    context = page_context(request, system, token)
    width, height = image_size(system.settings.recraft.size)
    in_progress = story is not None and story.portrait_status in IN_PROGRESS
    answer = templates.TemplateResponse(
        request,
        "story.html",
        {
            **context,
            "story": None if story is None else view(story),
            "story_id": story_id,
            "refresh_s": REFRESH_S if in_progress and context["portraits_up"] else None,
            "image_width": width,
            "image_height": height,
        },
        status_code=200 if story is not None else 404,
        headers={"Cache-Control": "no-store"},
    )
    return give_token(answer, request, token, new)
