"""The SSRF guard: image URLs from Recraft's answers may only reach public hosts.

Recraft's answer hands us a URL and we fetch it from inside our network, so a hostile or
compromised answer could point us at `http://169.254.169.254/` (cloud metadata), at
`https://localhost:5432/` or at a name that resolves to a private address. Two layers stop
that, and both run before a single byte is sent to the host:

1. `check_url` looks at the URL itself, for the first hop and for every redirect: https only,
   and no `localhost` name or literal loopback, private, link-local... address (legacy numeric
   forms such as `https://2130706433/` and IPv4-mapped IPv6 included).

2. `GuardedBackend` is the httpcore network backend under the image client's connection pool,
   so it sits on the one path every connection takes. For each new connection it resolves the
   host once (with an injectable `resolve`, `socket.getaddrinfo` by default), refuses the
   connection if *any* address is not public, and then connects to the checked IP itself, not
   to the name. TLS is still started by httpcore with the URL's host name (SNI and certificate
   check unchanged) and the Host header still carries the name, so https works as before.

Why resolve-and-connect rather than checking the peer address after connecting
(`response.extensions["network_stream"].get_extra_info("server_addr")`): a check after the fact
has already opened a TCP connection (and for https sent a ClientHello) to the forbidden address,
and it needs every caller to remember to look. Resolving once and connecting to exactly the
address that passed leaves no gap for DNS rebinding (a name that answers a public address to
the check and a private one to the connect) and fails closed. Redirects are followed by the
caller (at most `MAX_REDIRECTS`), and each hop goes through both layers again.

The guard covers only image downloads: `recraft.base_url` is configuration, not input. A proxy
from the environment is not used for guarded downloads (the guard must see the real address).
Under pytest-httpx the transport's `handle_request` is replaced, so layer 2 is not reached
there; tests of layer 2 inject `resolve` and a fake network backend instead.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence

import httpcore
import httpx

MAX_REDIRECTS = 3
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses a connection to them may use, as strings.
Resolver = Callable[[str, int], Sequence[str]]

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class UnsafeURL(Exception):
    """An image URL (or a hop of its redirects) that must not be fetched."""


def system_resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, with `socket.getaddrinfo` (no caching, no search)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def literal_address(host: str) -> IPAddress | None:
    """The address a host written as an IP literal means, legacy numeric forms included
    (`2130706433`, `127.1`, `0x7f.1`, as `inet_aton` and so most resolvers read them)."""
    name = host.strip("[]").rstrip(".").lower()
    try:
        return ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(name))
    except (OSError, ValueError):
        return None  # a domain name


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, NAT64), which is where the
    packets really go."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refusal(address: IPAddress) -> str | None:
    """Why an address must not be connected to, or None for a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            reason = refusal(inner)
            return None if reason is None else f"{reason}, as it embeds {inner}"
    for kind, flagged in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("site-local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
    ):
        if flagged:
            return kind
    if not address.is_global:
        return "not publicly routable"  # 100.64.0.0/10 (carrier-grade NAT) and the like
    return None


def is_local_host(host: str) -> bool:
    """True for `localhost` names and for literal addresses that are not public (loopback,
    private, link-local...), legacy numeric forms such as `2130706433` or `127.1` included."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address = literal_address(name)
    return address is not None and refusal(address) is not None


def check_url(url: httpx.URL, *, allow_insecure: bool) -> None:
    """Refuse a URL by its look alone: scheme, and a host that names a local address.

    Raises `UnsafeURL` (fetching it would be unsafe) or `ValueError` (it is not an http(s)
    URL at all).
    """
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("invalid image URL")
    if allow_insecure:
        return
    if url.scheme != "https":
        raise UnsafeURL("image URL is not https")
    if is_local_host(url.host):
        raise UnsafeURL("image URL points to a loopback, private or link-local host")


class GuardedBackend(httpcore.NetworkBackend):
    """Connects only to public addresses: resolves each host once and connects to the IP
    that passed the check (see the module docstring)."""

    def __init__(self, resolve: Resolver, inner: httpcore.NetworkBackend | None = None) -> None:
        self._resolve = resolve
        self._inner = inner if inner is not None else httpcore.SyncBackend()

    def checked_addresses(self, host: str, port: int) -> list[str]:
        """The addresses of `host`, all of them public; else `UnsafeURL`."""
        literal = literal_address(host)
        if literal is not None:
            candidates: Iterable[str] = [str(literal)]
        else:
            try:
                candidates = self._resolve(host, port)
            except OSError as error:
                raise httpcore.ConnectError(f"could not resolve {host}: {error}") from None
        # A scope (`fe80::1%eth0`) only comes with link-local addresses, which are refused.
        addresses = [a.split("%")[0] for a in candidates]
        if not addresses:
            raise httpcore.ConnectError(f"{host} has no address")
        for address in addresses:
            try:
                reason = refusal(ipaddress.ip_address(address))
            except ValueError:
                reason = "not an IP address"
            if reason is not None:
                raise UnsafeURL(f"image host {host} resolves to {address}, which is {reason}")
        return addresses

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        last_error: Exception | None = None
        for address in self.checked_addresses(host, port):
            try:
                return self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last_error = error  # try the next checked address, as create_connection does
        assert last_error is not None
        raise last_error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise UnsafeURL("image downloads never use a unix socket")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)
