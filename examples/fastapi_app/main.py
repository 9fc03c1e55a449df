"""A FastAPI app that embeds Vignette on its coroutine twins, with a subscription.

`uvicorn examples.fastapi_app.main:app` from the repository root. The system starts and
stops with the app (its lifespan); a background task follows every portrait that settles,
through `portrait_events()`, and `/settled` lists what it saw.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

from vignette import InvalidStory, Settings, Story, StorySystem, load_settings

HERE = Path(__file__).resolve().parent


class NewStory(BaseModel):
    title: str
    body: str
    image_generation_prompt: str = ""


def as_json(story: Story) -> dict[str, Any]:
    return {
        "id": story.id,
        "title": story.title,
        "portrait_status": story.portrait_status.value,
        "portrait_error": story.portrait_error,
        "storage_id": story.storage_id,
    }


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app; `settings` default to `load_settings(base_dir=<this folder>)`."""
    settled: list[dict[str, Any]] = []

    async def follow(system: StorySystem) -> None:
        async for story in system.portrait_events():
            settled.append(as_json(story))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        system = StorySystem.start(settings or load_settings(base_dir=HERE))
        following = asyncio.create_task(follow(system))
        app.state.system = system
        try:
            yield
        finally:
            await system.astop()
            await following  # the events end with the system

    app = FastAPI(lifespan=lifespan)

    def system_of(request: Request) -> StorySystem:
        system: StorySystem = request.app.state.system
        return system

    @app.post("/stories", status_code=201)
    async def create_story(new: NewStory, request: Request) -> dict[str, Any]:
        try:
            story = await system_of(request).asubmit_story(
                title=new.title, body=new.body, image_generation_prompt=new.image_generation_prompt
            )
        except InvalidStory as error:
            raise HTTPException(422, str(error)) from None
        return as_json(story)

    @app.get("/stories/{story_id}")
    async def read_story(story_id: str, request: Request) -> dict[str, Any]:
        story = await system_of(request).aget_story(story_id)
        if story is None:
            raise HTTPException(404, "no such story")
        return as_json(story)

    @app.get("/stories/{story_id}/settled")
    async def wait_for_portrait(story_id: str, request: Request, timeout: float = 30) -> Any:
        """The story once its portrait is stored, failed or skipped (504 after `timeout`)."""
        try:
            story = await system_of(request).await_for_portrait(story_id, timeout)
        except LookupError:
            raise HTTPException(404, "no such story") from None
        except TimeoutError:
            raise HTTPException(504, "the portrait is still being made") from None
        return as_json(story)

    @app.get("/settled")
    async def recently_settled() -> list[dict[str, Any]]:
        """Every portrait the subscription saw settle, oldest first."""
        return settled

    return app


app = create_app()
