"""What the OpenAPI schema says beyond the routes' signatures: the documented error
answers, and the configured prompt limit and writer topics written into the schema."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from vignette.api.limits import MAX_BODY_BYTES
from vignette.api.schemas import ErrorOut


def error_answer(description: str) -> dict[str, Any]:
    """A documented error answer: `{"detail": ...}` and what it means for this route."""
    return {"model": ErrorOut, "description": description}


NOT_FOUND: dict[int | str, dict[str, Any]] = {404: error_answer("No story (or file) has this id")}
# Every route that reads a body.
BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: error_answer("The body could not be read (not UTF-8 text, for example)"),
    413: error_answer(f"The request body is over {MAX_BODY_BYTES:,} bytes"),
}


class VignetteAPI(FastAPI):
    """FastAPI with the configured prompt limit written into the OpenAPI schema."""

    prompt_limit: int = 1_000
    # The writer's topics, when it knows a fixed list (the template writer).
    topics: tuple[str, ...] | None = None

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            models = super().openapi()["components"]["schemas"]
            models["StoryIn"]["properties"]["image_generation_prompt"]["maxLength"] = (
                self.prompt_limit
            )
            if self.topics is not None:
                topic = models["GenerateIn"]["properties"]["topic"]["anyOf"][0]
                topic["enum"] = list(self.topics)
        return self.openapi_schema or {}
