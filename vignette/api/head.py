"""`HEAD` on every `GET` route, as plain ASGI middleware.

FastAPI's routes answer only the methods they declare, so `HEAD` got 405, and uptime
checkers use it. A `HEAD` request is run as the `GET` it stands for, and its answer is
sent with the same status and headers (`Content-Length` included) and no body. The
middleware sits inside the access log, Host, Origin and token checks, which see `HEAD`
itself (a read, as `GET` is); routes can tell it apart by `request.state.head` and skip
producing a body (the files route does).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        state = dict(scope.get("state", {}), head=True)
        ended = False

        async def headers_only(message: Message) -> None:
            nonlocal ended
            if message["type"] == "http.response.body":
                if ended or message.get("more_body", False):
                    return  # the body is not sent; the headers said how long it is
                ended = True
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET", "state": state}, receive, headers_only)
