"""The running StorySystem as the routes receive it: a FastAPI dependency."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from vignette.system.facade import StorySystem


async def running_system(request: Request) -> StorySystem:
    """The system `create_app` was given (a coroutine: no thread is spent on it)."""
    return cast(StorySystem, request.app.state.system)


System = Annotated[StorySystem, Depends(running_system)]
