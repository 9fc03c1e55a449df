"""The story routes, `/api/stories`: write, submit, list, read, delete, and schedule a
portrait again."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response
from fastapi.exceptions import RequestValidationError

from vignette.api.dependencies import System
from vignette.api.openapi import BODY_ERRORS, NOT_FOUND, error_answer
from vignette.api.schemas import GenerateIn, StoryIn, StoryList, StoryOut
from vignette.errors import InvalidStory, StoryGenerationError, StoryNotFound
from vignette.paging import CURSOR_PATTERN, InvalidCursor, StoryPage
from vignette.records import PortraitStatus
from vignette.system.facade import StorySystem

MAX_LIST_LIMIT = 500

router = APIRouter(prefix="/api/stories", tags=["stories"])


@router.post(
    "/generate",
    status_code=201,
    summary="Write a story with the configured writer",
    responses={
        502: error_answer("The story writer failed; nothing was stored"),
        **BODY_ERRORS,
    },
)
def generate_story(
    system: System, steering: Annotated[GenerateIn | None, Body()] = None
) -> StoryOut:
    wanted = steering or GenerateIn()
    try:
        story = system.generate_story(seed=wanted.seed, topic=wanted.topic)
    except InvalidStory as error:
        if error.field == "topic":
            raise  # the caller's topic: 422
        # The writer's story broke a limit: the writer failed, not the request.
        raise StoryGenerationError(f"the story it wrote is invalid: {error}") from error
    return StoryOut.of(story)


@router.post(
    "",
    status_code=201,
    summary="Store a story written elsewhere and schedule its portrait",
    responses=BODY_ERRORS,
)
def submit_story(system: System, story: StoryIn) -> StoryOut:
    # Limits (the prompt's is the configured model's) are checked by the system: 422.
    stored = system.submit_story(
        title=story.title,
        body=story.body,
        image_generation_prompt=story.image_generation_prompt,
    )
    return StoryOut.of(stored)


@router.get(
    "",
    summary="Stories, newest first, a page at a time",
    description="`next_cursor` is null on the last page; otherwise pass it as `cursor` for "
    "the next. Pages are stable while stories are added: a new story is on the first page.",
)
def list_stories(
    system: System,
    status: Annotated[
        PortraitStatus | None, Query(description="only stories whose portrait is in this state")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT)] = 50,
    cursor: Annotated[
        str | None,
        Query(
            pattern=CURSOR_PATTERN,
            description="the previous answer's `next_cursor`: the page after it",
        ),
    ] = None,
) -> StoryList:
    page = read_page(system, status, limit, cursor)
    return StoryList(
        stories=[StoryOut.of(story) for story in page.stories], next_cursor=page.next_cursor
    )


def read_page(
    system: StorySystem, status: PortraitStatus | None, limit: int, cursor: str | None
) -> StoryPage:
    """A page of stories; a cursor that names no position is a 422 naming it."""
    try:
        return system.list_page(status, limit, cursor=cursor)
    except InvalidCursor as error:
        problem = {"loc": ("query", "cursor"), "msg": str(error), "type": "value_error"}
        raise RequestValidationError([{**problem, "input": cursor}]) from None


@router.get("/{story_id}", summary="One story", responses=NOT_FOUND)
def get_story(system: System, story_id: str) -> StoryOut:
    story = system.get_story(story_id)
    if story is None:
        raise StoryNotFound(story_id)
    return StoryOut.of(story)


@router.delete(
    "/{story_id}",
    status_code=204,
    summary="Delete a story and its portrait file",
    responses=NOT_FOUND,
)
def delete_story(system: System, story_id: str) -> Response:
    system.delete_story(story_id)
    return Response(status_code=204)


@router.post(
    "/{story_id}/portrait",
    status_code=202,
    summary="Schedule a story's portrait again",
    description="For a failed or skipped portrait; a stored one only with `force=true`. "
    "With a prompt, each scheduling is one paid Recraft call.",
    responses={
        **NOT_FOUND,
        409: error_answer("The portrait is stored (without force) or under way"),
    },
)
def regenerate_portrait(
    system: System,
    story_id: str,
    force: Annotated[bool, Query(description="regenerate a stored portrait too")] = False,
) -> StoryOut:
    return StoryOut.of(system.regenerate_portrait(story_id, force=force))
