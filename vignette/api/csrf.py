"""CSRF tokens for the pages Vignette serves (the gallery, story pages and the API docs).

Double submit: a page gets a random token twice, in a `SameSite=Strict`, `HttpOnly` cookie
and in its `<meta name="csrf-token">`; its scripts send it back in the `X-CSRF-Token`
header. Another site's page can neither read the token nor make the browser send the cookie
with its request, so `RequestGuard` refuses (403) a browser's state-changing request whose
header does not match its cookie. Requests with an `Authorization` header are not checked:
a page on another site cannot add that header without a CORS preflight, which Vignette never
grants.
"""

from __future__ import annotations

import hmac
import re
import secrets
from typing import TypeVar

from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import Headers
from starlette.requests import cookie_parser

CSRF_COOKIE = "vignette_csrf"
CSRF_HEADER = "X-CSRF-Token"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)


def page_token(request: Request) -> tuple[str, bool]:
    """The token for a page: the request's cookie's when it holds one, else a new one; and
    whether it is new (so the cookie must be set)."""
    kept = request.cookies.get(CSRF_COOKIE, "")
    if _TOKEN.match(kept):
        return kept, False
    return secrets.token_urlsafe(32), True


AnyResponse = TypeVar("AnyResponse", bound=Response)


def give_token(response: AnyResponse, request: Request, token: str, new: bool) -> AnyResponse:
    """Set the token's cookie on a page's response, when it is new."""
    if new:
        response.set_cookie(
            CSRF_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
    return response


def csrf_valid(headers: Headers) -> bool:
    """Whether the request's `X-CSRF-Token` header is its cookie's token."""
    cookie = cookie_parser(headers.get("cookie", "")).get(CSRF_COOKIE, "")
    sent = headers.get(CSRF_HEADER, "")
    return bool(_TOKEN.match(cookie)) and hmac.compare_digest(cookie.encode(), sent.encode())
