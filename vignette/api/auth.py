"""API tokens at the door, and the access log: ASGI middleware.

Once any token exists (or while `server.host` is not a loopback address), every `/api/*`
request and every state-changing request needs `Authorization: Bearer <token>`; reads of
the pages (`/`, `/stories/*`, `/docs`), `/healthz`, `/metrics` and `GET /api/files/*` stay
open unless `server.private_reads` is on. A request without the right token gets 401 with
`WWW-Authenticate`. The tokens are read from the database for each request that needs one,
in a worker thread, so a token made or revoked by `vignette token` on any instance counts
at once.

Every request then gets one access-log line: method, path, status, time and the caller (the
token's name), never the token; the same values are bound as the record's extra fields
(`method`, `path`, `status`, `duration_ms`, `caller`), so JSON logs carry them as fields.
"""

from __future__ import annotations

import time

import anyio.to_thread
from loguru import logger
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vignette.api.guards import UNSAFE_METHODS
from vignette.system.tokens import ApiTokens, Verdict

READ_METHODS = frozenset({"GET", "HEAD"})
HOW_TO_GET_ONE = "'vignette token create --name NAME' makes one"


def presented_token(headers: Headers) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if there is one."""
    scheme, _, token = headers.get("authorization", "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def needs_token(method: str, path: str, private_reads: bool) -> bool:
    """Whether this request needs a token once tokens exist."""
    if private_reads or method in UNSAFE_METHODS:
        return True
    return path.startswith("/api/") and not (
        path.startswith("/api/files/") and method in READ_METHODS
    )


class TokenCheck:
    """401 for a request that needs a token and has not the right one."""

    def __init__(self, app: ASGIApp, tokens: ApiTokens, private_reads: bool, always: bool) -> None:
        self.app = app
        self.tokens = tokens
        self.private_reads = private_reads
        # A daemon on a public address needs a token even before one exists.
        self.always = always

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not needs_token(
            scope["method"], scope["path"], self.private_reads
        ):
            await self.app(scope, receive, send)
            return
        token = presented_token(Headers(scope=scope))
        try:
            verdict: Verdict = await anyio.to_thread.run_sync(self.tokens.check, token)
        except Exception as error:  # noqa: BLE001 - refused, never let through, never a 500
            logger.bind(step="http").error("the token check failed: {}", type(error).__name__)
            answer = JSONResponse({"detail": "the database does not answer; try again"}, 503)
            await answer(scope, receive, send)
            return
        scope.setdefault("state", {})["caller"] = verdict.caller
        if verdict.caller is None and (verdict.required or self.always):
            await self._refuse(scope, receive, send, token, verdict.required)
            return
        await self.app(scope, receive, send)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, token: str | None, exist: bool
    ) -> None:
        if token is None:
            challenge = 'Bearer realm="vignette"'
            detail = "an API token is required: send 'Authorization: Bearer <token>'"
        else:
            challenge = 'Bearer realm="vignette", error="invalid_token"'
            detail = "the API token is not valid: unknown or revoked"
        if not exist:
            detail = (
                "an API token is required, since Vignette listens on a public address, and "
                f"none exists yet: {HOW_TO_GET_ONE}"
            )
        elif token is None:
            detail += f" ({HOW_TO_GET_ONE})"
        answer = JSONResponse(
            {"detail": detail}, status_code=401, headers={"WWW-Authenticate": challenge}
        )
        await answer(scope, receive, send)


class AccessLog:
    """One log line per request: method, path, status, time taken and the caller."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def watched_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        finally:
            caller = scope.get("state", {}).get("caller")
            method, path = scope["method"], scope["path"]
            elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
            logger.bind(
                step="http",
                method=method,
                path=path,
                status=status,
                duration_ms=elapsed_ms,
                caller=caller,
            ).info("{} {} {} {:.1f} ms caller={}", method, path, status, elapsed_ms, caller or "-")
