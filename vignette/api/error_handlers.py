"""How errors answer: every one as JSON `{"detail": ...}`, with the status the contract
gives it (404, 409, 422, 502, 503), and no bad request answered with a 5xx."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import pykka
from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from loguru import logger
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

from vignette.errors import (
    DeadlineExpired,
    InvalidStory,
    PortraitConflict,
    StoredFileNotFound,
    StoryGenerationError,
    StoryNotFound,
    without_paths,
)
from vignette.models import DatabaseError


def _encodable(value: Any) -> Any:
    """`value` with every string made encodable as UTF-8 (lone surrogates escaped)."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list):
        return [_encodable(item) for item in value]
    if isinstance(value, dict):
        return {_encodable(key): _encodable(item) for key, item in value.items()}
    return value


def add_error_handlers(app: FastAPI, routes: Sequence[BaseRoute]) -> None:
    """Answer every error as JSON; a 405 names the methods of `routes` on its path."""
    api_routes = [route for route in routes if isinstance(route, APIRoute)]

    def detail(status: int, text: str) -> JSONResponse:
        return JSONResponse({"detail": text}, status_code=status)

    async def request_invalid(_: Request, error: Exception) -> JSONResponse:
        # FastAPI's own shape, but any text the client sent that cannot be encoded (a lone
        # surrogate) is escaped: echoed as it is, it would fail the response with a 500.
        errors = error.errors() if isinstance(error, RequestValidationError) else []
        return JSONResponse({"detail": _encodable(jsonable_encoder(errors))}, status_code=422)

    async def http_error(request: Request, error: Exception) -> Response:
        if isinstance(error, StarletteHTTPException) and error.status_code == 405:
            # Starlette names the methods of the first route whose path matched; name
            # those of every route on that path (GET and DELETE share one).
            path = next(
                (r.path for r in api_routes if r.matches(request.scope)[0] != Match.NONE), None
            )
            allowed = sorted({m for r in api_routes if r.path == path for m in r.methods or ()})
            error.headers = {**(error.headers or {}), "Allow": ", ".join(allowed)}
        return await http_exception_handler(request, cast(StarletteHTTPException, error))

    async def not_found(_: Request, error: Exception) -> JSONResponse:
        return detail(404, str(error))

    async def invalid(_: Request, error: Exception) -> JSONResponse:
        field = getattr(error, "field", "body")
        return JSONResponse(
            {"detail": [{"loc": ["body", field], "msg": str(error), "type": "value_error"}]},
            status_code=422,
        )

    async def writer_failed(_: Request, error: Exception) -> JSONResponse:
        logger.warning("story writer failed: {}", error)  # the whole text, for the operator
        return detail(502, f"the story writer failed: {without_paths(str(error))}")

    async def conflict(_: Request, error: Exception) -> JSONResponse:
        return detail(409, str(error))

    async def stopped(_: Request, error: Exception) -> JSONResponse:
        return detail(503, "Vignette is stopping or stopped")

    async def busy(_: Request, error: Exception) -> JSONResponse:
        return detail(503, "Vignette did not answer in time; try again")

    async def database_down(_: Request, error: Exception) -> JSONResponse:
        logger.error("the database failed: {}: {}", type(error).__name__, error)
        return detail(503, "the database does not answer; try again")

    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        # Starlette raises the error again once this is sent; uvicorn logs it.
        return detail(500, "internal error")

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, request_invalid)
    app.add_exception_handler(StoryNotFound, not_found)
    app.add_exception_handler(StoredFileNotFound, not_found)
    app.add_exception_handler(InvalidStory, invalid)
    app.add_exception_handler(StoryGenerationError, writer_failed)
    app.add_exception_handler(PortraitConflict, conflict)
    app.add_exception_handler(pykka.ActorDeadError, stopped)
    app.add_exception_handler(pykka.Timeout, busy)
    app.add_exception_handler(DeadlineExpired, busy)  # nothing was written
    app.add_exception_handler(DatabaseError, database_down)
    app.add_exception_handler(Exception, unexpected)  # JSON, like every other error
