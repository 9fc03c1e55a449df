"""Request body size limit, as plain ASGI middleware.

A declared `Content-Length` over the limit is refused before the app runs; a body sent
without one (chunked) is counted as it is read, and refused once it passes the limit.
Either way the answer is 413 with a JSON `{"detail": ...}`.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1024 * 1024


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a body passes the limit.

    An HTTPException, so FastAPI's body parsing lets it through to the exception
    middleware (which answers 413) instead of turning it into a 400.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit:,} bytes")


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is None:
            await _refuse(scope, receive, send, 400, "Content-Length is not a number of bytes")
            return
        if declared > self.max_bytes:
            await _refuse(scope, receive, send, 413, BodyTooLarge(self.max_bytes).detail)
            return

        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge as error:
            if started:
                raise
            await _refuse(scope, receive, send, 413, error.detail)


def _content_length(scope: Scope) -> int | None:
    """The declared body length: 0 when none is declared, None when it is not a number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isascii() and text.isdigit() else None
    return 0


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    response = JSONResponse({"detail": detail}, status_code=status, headers={"Connection": "close"})
    await response(scope, receive, send)
