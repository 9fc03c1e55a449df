"""What a browser may make the daemon do: ASGI middleware in front of every route.

- **Host.** Only the names in `allowed_hosts` are served; any other `Host` gets 400. A page
  on another site that rebinds its DNS name to 127.0.0.1 reaches the daemon with its own
  name in `Host`, so this stops it even on a loopback daemon.
- **Origin.** A state-changing request (POST, PUT, PATCH, DELETE) whose `Origin`, or
  without one its `Referer`, is not the server's own gets 403: a cross-site form post needs
  no CORS preflight, so it would otherwise reach the route. A request with neither header
  was not sent by a page a browser loaded (browsers send `Origin` on every cross-site
  POST); it goes on, to the token check when tokens exist.
- **CSRF.** A state-changing request from a browser (one with `Origin` or `Referer`) must
  also carry the page's CSRF token (`vignette.api.csrf`), unless it has an `Authorization`
  header: 403 otherwise.

Both refusals are JSON `{"detail": ...}` and happen before any route runs.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from loguru import logger
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from vignette.api.csrf import CSRF_COOKIE, CSRF_HEADER, csrf_valid
from vignette.config import ServerSettings

# Methods that change state; the rest only read.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
DEFAULT_PORTS = {"http": 80, "https": 443}


def is_loopback(host: str) -> bool:
    """Whether `host` (a `server.host`) is a loopback address, reachable from this machine only."""
    name = host.strip().lower().removeprefix("[").removesuffix("]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def served_hosts(server: ServerSettings) -> frozenset[str]:
    """The Host names served: the loopback names, `server.host` and `allowed_hosts`."""
    own = server.host.strip().lower()
    if ":" in own and not own.startswith("["):
        own = f"[{own}]"  # an IPv6 address, as a Host header writes it
    return frozenset((*LOOPBACK_NAMES, own, *server.allowed_hosts))


def split_host(host: str) -> tuple[str, int | None]:
    """A Host header's name (lower case, IPv6 in brackets) and port, if it names one."""
    name, port = host.strip().lower(), None
    head, colon, tail = name.rpartition(":")
    if colon and tail.isdigit() and (not head.startswith("[") or head.endswith("]")):
        name, port = head, int(tail)
    return name, port


def same_origin(source: str, host: str) -> bool:
    """Whether the origin `source` (`scheme://host[:port]`) is the server reached as `host`."""
    try:
        parts = urlsplit(source)
        source_port = parts.port
    except ValueError:
        return False
    if parts.scheme not in DEFAULT_PORTS or not parts.netloc:
        return False
    source_name, _ = split_host(parts.netloc)
    name, port = split_host(host)
    source_port = source_port or DEFAULT_PORTS[parts.scheme]
    return source_name == name and (source_port == port if port else source_port in (80, 443))


def request_source(headers: Headers) -> str | None:
    """The origin a browser says the request came from: `Origin`, else `Referer`'s."""
    origin = headers.get("origin")
    if origin is not None:
        return origin.strip()
    referer = headers.get("referer")
    if referer is None:
        return None
    try:
        parts = urlsplit(referer.strip())
    except ValueError:
        return "unreadable"
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else "unreadable"


class RequestGuard:
    """400 for a Host not served, 403 for a state-changing request from another origin."""

    def __init__(self, app: ASGIApp, hosts: Iterable[str]) -> None:
        self.app = app
        self.hosts = frozenset(hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        method = scope["method"]
        if split_host(host)[0] not in self.hosts:
            logger.bind(step="http").warning(
                "refused {} {}: Host {!r} is not served", method, scope["path"], host
            )
            detail = (
                f"the Host {host!r} is not served here; server.allowed_hosts names the "
                "hosts served besides localhost, 127.0.0.1, [::1] and server.host"
            )
            await JSONResponse({"detail": detail}, status_code=400)(scope, receive, send)
            return
        source = request_source(headers) if method in UNSAFE_METHODS else None
        if source is not None and not same_origin(source, host):
            logger.bind(step="http").warning(
                "refused {} {}: cross-site, from {!r}", method, scope["path"], source
            )
            detail = (
                f"cross-site request refused: a {method} from {source!r}; Vignette takes "
                "changes only from its own pages, or from clients that send no Origin"
            )
            await JSONResponse({"detail": detail}, status_code=403)(scope, receive, send)
            return
        if source is not None and "authorization" not in headers and not csrf_valid(headers):
            logger.bind(step="http").warning(
                "refused {} {}: no valid CSRF token", method, scope["path"]
            )
            detail = (
                f"the request carries no valid CSRF token ({CSRF_HEADER} header matching the "
                f"{CSRF_COOKIE} cookie): reload the page and try again"
            )
            await JSONResponse({"detail": detail}, status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)
